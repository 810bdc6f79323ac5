"""Wire-equality cases of the long-running jobs (J-01..J-06L) and of Index and Active curation (E-04..E-08).

Where a public SDK method makes more calls than the operation (create_collection reads the new collection back,
create_project_from_cvat_start uploads images and creates a dataset, get_result reads the new project), the
reference is the SDK's own call for the operation: its static helper, or its ApiClient with its own payload DTO,
exactly as the public method makes it. (A read-back in the gateway would carry the new UUID in its query, which
differs between the two sides.) A job's UUID travels in its poll's path; the sandbox answers the same
request from the same user with the same job, so both sides poll the same path.
"""

from __future__ import annotations

import base64
import contextlib
import json
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

from encord.collection import Collection, ProjectCollection
from encord.filter_preset import FilterPreset, ProjectFilterPreset
from encord.objects.common import (
    DeidentifyRedactTextMode,
    SaveDeidentifiedDicomConditionIn,
    SaveDeidentifiedDicomConditionNotSubstr,
)
from encord.orm.active import ActiveProjectMode
from encord.orm.collection import (
    ProjectCollectionType,
    ProjectDataCollectionItemRequest,
    ProjectLabelCollectionItemRequest,
)
from encord.orm.filter_preset import ActiveFilterPresetDefinition, FilterDefinition
from encord.orm.project import (
    CvatImportDataItem,
    CvatImportGetResultParams,
    CvatImportGetResultResponse,
    CvatImportStartPayload,
    CvatReviewMode,
)
from encord_gateway._generated.encord.gateway.v1 import active_pb2, jobs_pb2
from google.protobuf import json_format, struct_pb2
from wire_harness import Given, WireCase, WireSides
from wire_legacy import legacy_v1_call

INTEGRATION = "3f2c7a1e-8d4b-4e6f-9a0c-5b1d2e3f4a5b"
NO_FOLDER = "00000000-0000-0000-0000-000000000000"
CVAT_TASK = b"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><name>Wire</name><labels>
    <label><name>Car</name><color>#ff0000</color><type>rectangle</type></label>
  </labels></task></meta>
  <image id="0" name="front/one.jpg" width="640" height="480">
    <box label="Car" occluded="0" xtl="10" ytl="20" xbr="110" ybr="90"/>
  </image>
  <image id="1" name="front/two.jpg" width="640" height="480"/>
</annotations>
"""


def value(python: Any) -> struct_pb2.Value:
    message = struct_pb2.Value()
    json_format.ParseDict(python, message)
    return message


def struct(python: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(python)
    return message


def seed_data_units(sides: WireSides, dataset: str, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Data units added through the sandbox's control API (behind the recorder), as the web app's upload would."""
    request = urllib.request.Request(
        f"{sides.recorder.forward_to}/sandbox/v1/datasets/{dataset}/data-units",
        data=json.dumps({"data_units": units}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return list(json.loads(response.read())["data_rows"])


def poll_without_waiting(poll: Callable[[], object]) -> None:
    """An SDK get_result with a budget of 0: one poll that may not wait; the SDK refuses its PENDING answer."""
    with contextlib.suppress(ValueError):
        poll()


# ---- DICOM de-identification ------------------------------------------------------------------------


def scans(sides: WireSides) -> list[str]:
    """Files no other case de-identifies, so that each case's job is its own."""
    study = sides.unique("study")
    return [f"https://scans.s3.eu-west-2.amazonaws.com/{study}/slice-{n}.dcm" for n in (1, 2)]


def with_dicom_job(sides: WireSides) -> Given:
    urls = scans(sides)
    return {"urls": urls, "job": str(sides.sdk.deidentify_dicom_files_start(urls, INTEGRATION))}


def with_scans(sides: WireSides) -> Given:
    return {"urls": scans(sides)}


DICOM_CASES = [
    WireCase(
        name="StartDicomDeidentification with the SDK's defaults",
        rpc="JobService.StartDicomDeidentification",
        proves=("J-01",),
        setup=with_scans,
        sdk=lambda sides, given: sides.sdk.deidentify_dicom_files_start(given["urls"], INTEGRATION),
        request=lambda given: jobs_pb2.StartDicomDeidentificationRequest(
            integration_uuid=INTEGRATION, dicom_urls=given["urls"]
        ),
    ),
    WireCase(
        name="StartDicomDeidentification with every option",
        rpc="JobService.StartDicomDeidentification",
        proves=("J-01",),
        setup=with_scans,
        sdk=lambda sides, given: sides.sdk.deidentify_dicom_files_start(
            given["urls"],
            INTEGRATION,
            redact_dicom_tags=False,
            redact_pixels_mode=DeidentifyRedactTextMode.REDACT_SENSITIVE_TEXT,
            save_conditions=[
                SaveDeidentifiedDicomConditionNotSubstr(value="TEST", dicom_tag="(0010,0010)"),
                SaveDeidentifiedDicomConditionIn(value=["CT", "MR"], dicom_tag="(0008,0060)"),
            ],
            upload_dir="deidentified/out",
        ),
        request=lambda given: jobs_pb2.StartDicomDeidentificationRequest(
            integration_uuid=INTEGRATION,
            dicom_urls=given["urls"],
            redact_dicom_tags=False,
            redact_pixels_mode=jobs_pb2.DICOM_PIXEL_REDACTION_SENSITIVE_TEXT,
            save_conditions=[
                jobs_pb2.DicomSaveCondition(
                    value=value("TEST"),
                    condition_type=jobs_pb2.DICOM_SAVE_CONDITION_TYPE_NOT_SUBSTR,
                    dicom_tag="(0010,0010)",
                ),
                jobs_pb2.DicomSaveCondition(
                    value=value(["CT", "MR"]),
                    condition_type=jobs_pb2.DICOM_SAVE_CONDITION_TYPE_IN,
                    dicom_tag="(0008,0060)",
                ),
            ],
            upload_dir="deidentified/out",
        ),
    ),
    WireCase(
        # The SDK's budget of 0 sends one poll that may not wait, and refuses its PENDING answer.
        name="GetDicomDeidentification that may not wait",
        rpc="JobService.GetDicomDeidentification",
        proves=("J-02",),
        setup=with_dicom_job,
        sdk=lambda sides, given: poll_without_waiting(
            lambda: sides.sdk.deidentify_dicom_files_get_result(UUID(given["job"]), timeout_seconds=0)
        ),
        request=lambda given: jobs_pb2.GetDicomDeidentificationRequest(job_uuid=given["job"], timeout_seconds=0),
    ),
    WireCase(
        name="GetDicomDeidentification held until the job is done",
        rpc="JobService.GetDicomDeidentification",
        proves=("J-02",),
        setup=with_dicom_job,
        sdk=lambda sides, given: sides.sdk.deidentify_dicom_files_get_result(UUID(given["job"])),
        request=lambda given: jobs_pb2.GetDicomDeidentificationRequest(job_uuid=given["job"]),
    ),
    WireCase(
        name="DeidentifyDicomFiles as deidentify_dicom_files",
        rpc="JobService.DeidentifyDicomFiles",
        proves=("J-03",),
        setup=with_scans,
        sdk=lambda sides, given: sides.sdk.deidentify_dicom_files(given["urls"], INTEGRATION),
        request=lambda given: jobs_pb2.DeidentifyDicomFilesRequest(
            integration_uuid=INTEGRATION, dicom_urls=given["urls"]
        ),
    ),
    WireCase(
        name="DeidentifyDicomFilesLegacy with the old SDK's defaults",
        rpc="JobService.DeidentifyDicomFilesLegacy",
        proves=("J-03L",),
        setup=with_scans,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "dicomdeidentifytask",
            "POST",
            uid=INTEGRATION,
            payload={
                "dicom_urls": given["urls"],
                "redact_dicom_tags": True,
                "redact_pixels_mode": "REDACT_NO_TEXT",
                "save_conditions": [],
                "upload_dir": None,
            },
        ),
        request=lambda given: jobs_pb2.DeidentifyDicomFilesLegacyRequest(
            integration_hash=INTEGRATION, dicom_urls=given["urls"]
        ),
    ),
    WireCase(
        name="DeidentifyDicomFilesLegacy with every option",
        rpc="JobService.DeidentifyDicomFilesLegacy",
        proves=("J-03L",),
        setup=with_scans,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "dicomdeidentifytask",
            "POST",
            uid=INTEGRATION,
            payload={
                "dicom_urls": given["urls"],
                "redact_dicom_tags": False,
                "redact_pixels_mode": "REDACT_ALL_TEXT",
                "save_conditions": [
                    {"value": "TEST", "dicom_tag": "(0010,0010)", "condition_type": "NOT_SUBSTR"},
                    {"value": ["CT", "MR"], "dicom_tag": "(0008,0060)", "condition_type": "IN"},
                ],
                "upload_dir": "deidentified/out",
            },
        ),
        request=lambda given: jobs_pb2.DeidentifyDicomFilesLegacyRequest(
            integration_hash=INTEGRATION,
            dicom_urls=given["urls"],
            redact_dicom_tags=False,
            redact_pixels_mode=jobs_pb2.DICOM_PIXEL_REDACTION_LEGACY_ALL_TEXT,
            save_conditions=[
                jobs_pb2.DicomSaveConditionLegacy(
                    value=value("TEST"),
                    dicom_tag="(0010,0010)",
                    condition_type=jobs_pb2.DICOM_SAVE_CONDITION_TYPE_LEGACY_NOT_SUBSTR,
                ),
                jobs_pb2.DicomSaveConditionLegacy(
                    value=value(["CT", "MR"]),
                    dicom_tag="(0008,0060)",
                    condition_type=jobs_pb2.DICOM_SAVE_CONDITION_TYPE_LEGACY_IN,
                ),
            ],
            upload_dir="deidentified/out",
        ),
    ),
]


# ---- CVAT import ------------------------------------------------------------------------------------

IMAGES = ("front/one.jpg", "front/two.jpg")


def with_cvat_export(sides: WireSides, paths: tuple[str, ...] = IMAGES) -> Given:
    """A dataset for the import, and what the SDK's image upload answered for each image of the export."""
    uploads = [(path, f"cord-uploads/{sides.unique('image')}/{path.rsplit('/', 1)[1]}") for path in paths]
    return {"dataset": sides.new_dataset(sides.unique("cvat")), "uploads": uploads}


def with_unmatched_export(sides: WireSides) -> Given:
    """An import whose uploaded images the export does not name: it ends in ERROR."""
    return with_cvat_export(sides, ("elsewhere/one.jpg",))


def sdk_start_cvat_import(
    sides: WireSides, given: Given, review: CvatReviewMode = CvatReviewMode.LABELLED, boxes_to_polygons: bool = False
) -> UUID:
    """The call create_project_from_cvat_start makes once the images are uploaded and the dataset exists."""
    result: UUID = sides.sdk._api_client.post(
        "projects/cvat-import",
        payload=CvatImportStartPayload(
            annotations_base64=base64.b64encode(CVAT_TASK).decode("utf-8"),
            dataset_uuid=UUID(given["dataset"]),
            review_mode=review,
            data=[
                CvatImportDataItem(data_path=path, data_link=link, title=path.rsplit("/", 1)[1])
                for path, link in given["uploads"]
            ],
            transform_bounding_boxes_to_polygons=boxes_to_polygons,
        ),
        params=None,
        result_type=UUID,
        allow_retries=False,
    )
    return result


def sdk_poll_cvat_import(sides: WireSides, job: UUID) -> CvatImportGetResultResponse:
    """The poll create_project_from_cvat_get_result makes with its default budget (it then reads the project back,
    which is U-04 and P-04, not this operation)."""
    response: CvatImportGetResultResponse = sides.sdk._api_client.get(
        f"projects/cvat-import/{job}",
        params=CvatImportGetResultParams(timeout_seconds=60),
        result_type=CvatImportGetResultResponse,
    )
    return response


def cvat_data(given: Given) -> list[jobs_pb2.CvatImportDataItem]:
    return [
        jobs_pb2.CvatImportDataItem(data_path=path, data_link=link, title=path.rsplit("/", 1)[1])
        for path, link in given["uploads"]
    ]


def with_cvat_job(sides: WireSides) -> Given:
    given = with_cvat_export(sides)
    return {**given, "job": str(sdk_start_cvat_import(sides, given))}


def with_failing_cvat_job(sides: WireSides) -> Given:
    given = with_unmatched_export(sides)
    return {**given, "job": str(sdk_start_cvat_import(sides, given))}


def run_cvat_import_to_the_end(sides: WireSides, given: Given) -> object:
    job = sdk_start_cvat_import(sides, given)
    while sdk_poll_cvat_import(sides, job).status.value == "PENDING":
        pass
    return job


def with_legacy_units(sides: WireSides) -> Given:
    """A dataset holding the export's images as data units, as the old SDK's uploads left them."""
    dataset = sides.new_dataset(sides.unique("legacy-cvat"))
    rows = seed_data_units(sides, dataset, [{"title": p.rsplit("/", 1)[1], "data_type": "IMAGE"} for p in IMAGES])
    return {"dataset": dataset, "map": {path: row["data_hash"] for path, row in zip(IMAGES, rows, strict=True)}}


CVAT_CASES = [
    WireCase(
        name="StartCvatImport as create_project_from_cvat_start sends it",
        rpc="JobService.StartCvatImport",
        proves=("J-04",),
        setup=with_cvat_export,
        sdk=sdk_start_cvat_import,
        request=lambda given: jobs_pb2.StartCvatImportRequest(
            annotations=CVAT_TASK, dataset_uuid=given["dataset"], data=cvat_data(given)
        ),
    ),
    WireCase(
        name="StartCvatImport reviewed, with boxes as polygons",
        rpc="JobService.StartCvatImport",
        proves=("J-04",),
        setup=with_cvat_export,
        sdk=lambda sides, given: sdk_start_cvat_import(sides, given, CvatReviewMode.REVIEWED, boxes_to_polygons=True),
        request=lambda given: jobs_pb2.StartCvatImportRequest(
            annotations=CVAT_TASK,
            dataset_uuid=given["dataset"],
            review_mode=jobs_pb2.CVAT_REVIEW_MODE_REVIEWED,
            data=cvat_data(given),
            transform_bounding_boxes_to_polygons=True,
        ),
    ),
    WireCase(
        name="GetCvatImport that may not wait",
        rpc="JobService.GetCvatImport",
        proves=("J-05",),
        setup=with_cvat_job,
        sdk=lambda sides, given: poll_without_waiting(
            lambda: sides.sdk.create_project_from_cvat_get_result(UUID(given["job"]), timeout_seconds=0)
        ),
        request=lambda given: jobs_pb2.GetCvatImportRequest(job_uuid=given["job"], timeout_seconds=0),
    ),
    WireCase(
        name="GetCvatImport held until the import is done",
        rpc="JobService.GetCvatImport",
        proves=("J-05",),
        setup=with_cvat_job,
        sdk=lambda sides, given: sdk_poll_cvat_import(sides, UUID(given["job"])),
        request=lambda given: jobs_pb2.GetCvatImportRequest(job_uuid=given["job"]),
    ),
    WireCase(
        name="GetCvatImport held until the import fails, as create_project_from_cvat_get_result",
        rpc="JobService.GetCvatImport",
        proves=("J-05",),
        setup=with_failing_cvat_job,
        sdk=lambda sides, given: sides.sdk.create_project_from_cvat_get_result(UUID(given["job"])),
        request=lambda given: jobs_pb2.GetCvatImportRequest(job_uuid=given["job"]),
    ),
    WireCase(
        name="RunCvatImport to a new project",
        rpc="JobService.RunCvatImport",
        proves=("J-06",),
        setup=with_cvat_export,
        sdk=run_cvat_import_to_the_end,
        request=lambda given: jobs_pb2.RunCvatImportRequest(
            annotations=CVAT_TASK, dataset_uuid=given["dataset"], data=cvat_data(given)
        ),
    ),
    WireCase(
        name="RunCvatImport that fails, as create_project_from_cvat",
        rpc="JobService.RunCvatImport",
        proves=("J-06",),
        setup=with_unmatched_export,
        sdk=lambda sides, given: sides.sdk.create_project_from_cvat_get_result(sdk_start_cvat_import(sides, given)),
        request=lambda given: jobs_pb2.RunCvatImportRequest(
            annotations=CVAT_TASK, dataset_uuid=given["dataset"], data=cvat_data(given)
        ),
    ),
    WireCase(
        name="ClassifyCvatExportLegacy as the old SDK's first import call",
        rpc="JobService.ClassifyCvatExportLegacy",
        proves=("J-06L",),
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "projectimportercvatinfo",
            "POST",
            payload={"annotations_base64": base64.b64encode(CVAT_TASK).decode("utf-8")},
        ),
        request=lambda given: jobs_pb2.ClassifyCvatExportLegacyRequest(annotations=CVAT_TASK),
    ),
    WireCase(
        name="ImportCvatProjectLegacy of uploaded data units",
        rpc="JobService.ImportCvatProjectLegacy",
        proves=("J-06L",),
        setup=with_legacy_units,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "projectimporter",
            "POST",
            payload={
                "cvat": {"annotations_base64": base64.b64encode(CVAT_TASK).decode("utf-8")},
                "dataset_hash": given["dataset"],
                "image_title_to_image_hash_map": dict(sorted(given["map"].items())),
                "review_mode": "reviewed",
                "transform_bounding_boxes_to_polygons": True,
            },
        ),
        request=lambda given: jobs_pb2.ImportCvatProjectLegacyRequest(
            annotations=CVAT_TASK,
            dataset_hash=given["dataset"],
            image_title_to_image_hash_map=given["map"],
            review_mode=jobs_pb2.CVAT_REVIEW_MODE_REVIEWED,
            transform_bounding_boxes_to_polygons=True,
        ),
    ),
]


# ---- Active import (E-04) ---------------------------------------------------------------------------


def with_sdk_project(sides: WireSides) -> Given:
    """A project as the SDK opens it, over a dataset holding a 10-frame video and an image."""
    dataset = sides.new_dataset(sides.unique("curated"))
    rows = seed_data_units(
        sides,
        dataset,
        [{"title": "drive.mp4", "data_type": "VIDEO", "frames": 10}, {"title": "still.jpg", "data_type": "IMAGE"}],
    )
    project_hash = str(sides.sdk.create_project(sides.unique("curation"), [dataset]))
    return {
        "project": sides.sdk.get_project(project_hash),
        "project_hash": project_hash,
        "video": rows[0]["data_hash"],
        "image": rows[1]["data_hash"],
    }


def with_imported_project(sides: WireSides) -> Given:
    given = with_sdk_project(sides)
    given["project"].active_import(ActiveProjectMode.DATA)
    return given


ACTIVE_IMPORT_CASES = [
    WireCase(
        name="ImportProjectIntoActive up to data",
        rpc="ActiveService.ImportProjectIntoActive",
        proves=("E-04",),
        setup=with_sdk_project,
        sdk=lambda sides, given: given["project"].active_import(ActiveProjectMode.DATA),
        request=lambda given: active_pb2.ImportProjectIntoActiveRequest(
            project_hash=given["project_hash"], project_mode=active_pb2.ACTIVE_PROJECT_MODE_DATA
        ),
    ),
    WireCase(
        name="ImportProjectIntoActive up to labels, sampling videos",
        rpc="ActiveService.ImportProjectIntoActive",
        proves=("E-04",),
        setup=with_sdk_project,
        sdk=lambda sides, given: given["project"].active_import(ActiveProjectMode.LABEL, video_sampling_rate=2.5),
        request=lambda given: active_pb2.ImportProjectIntoActiveRequest(
            project_hash=given["project_hash"],
            project_mode=active_pb2.ACTIVE_PROJECT_MODE_LABEL,
            video_sampling_rate=2.5,
        ),
    ),
    WireCase(
        name="SyncProjectWithActive: a POST without a body",
        rpc="ActiveService.SyncProjectWithActive",
        proves=("E-04",),
        setup=with_imported_project,
        sdk=lambda sides, given: given["project"].active_sync(),
        request=lambda given: active_pb2.SyncProjectWithActiveRequest(project_hash=given["project_hash"]),
    ),
]


# ---- project collections (E-06) ---------------------------------------------------------------------


def with_project_collections(sides: WireSides) -> Given:
    """A project with a FRAME collection holding two frames and a LABEL collection holding one annotation."""
    given = with_sdk_project(sides)
    project = given["project"]
    frames = project.create_collection("Busy frames", "many cars")
    labels = project.create_collection("Odd boxes", collection_type=ProjectCollectionType.LABEL)
    frames.add_items([ProjectDataCollectionItemRequest(data_uuid=given["video"], frame=f) for f in (3, 7)])
    labels.add_items([ProjectLabelCollectionItemRequest(data_uuid=given["video"], frame=2, annotation_id="aB3dE5fG")])
    return {**given, "frames": frames, "labels": labels}


def ids(given: Given, collection: str) -> dict[str, str]:
    return {"project_hash": given["project_hash"], "collection_uuid": str(given[collection].uuid)}


PROJECT_COLLECTION_CASES = [
    WireCase(
        name="ListProjectCollections as Project.list_collections",
        rpc="ActiveService.ListProjectCollections",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: list(given["project"].list_collections(page_size=5)),
        request=lambda given: active_pb2.ListProjectCollectionsRequest(project_hash=given["project_hash"], page_size=5),
    ),
    WireCase(
        name="ListProjectCollections of named collections",
        rpc="ActiveService.ListProjectCollections",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: list(
            given["project"].list_collections(collection_uuids=[given["frames"].uuid, given["labels"].uuid])
        ),
        request=lambda given: active_pb2.ListProjectCollectionsRequest(
            project_hash=given["project_hash"],
            collection_uuids=[str(given["frames"].uuid), str(given["labels"].uuid)],
        ),
    ),
    WireCase(
        name="GetProjectCollection as Project.get_collection",
        rpc="ActiveService.GetProjectCollection",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: given["project"].get_collection(given["labels"].uuid),
        request=lambda given: active_pb2.GetProjectCollectionRequest(**ids(given, "labels")),
    ),
    WireCase(
        name="CreateProjectCollection of frames with the SDK's defaults",
        rpc="ActiveService.CreateProjectCollection",
        proves=("E-06",),
        setup=with_sdk_project,
        sdk=lambda sides, given: ProjectCollection._create_collection(
            sides.sdk._api_client, UUID(given["project_hash"]), "Frames"
        ),
        request=lambda given: active_pb2.CreateProjectCollectionRequest(
            project_hash=given["project_hash"], name="Frames"
        ),
    ),
    WireCase(
        name="CreateProjectCollection of annotations, described",
        rpc="ActiveService.CreateProjectCollection",
        proves=("E-06",),
        setup=with_sdk_project,
        sdk=lambda sides, given: ProjectCollection._create_collection(
            sides.sdk._api_client, UUID(given["project_hash"]), "Boxes", "odd ones", ProjectCollectionType.LABEL
        ),
        request=lambda given: active_pb2.CreateProjectCollectionRequest(
            project_hash=given["project_hash"],
            name="Boxes",
            description="odd ones",
            collection_type=active_pb2.PROJECT_COLLECTION_TYPE_LABEL,
        ),
    ),
    WireCase(
        name="UpdateProjectCollection description only",
        rpc="ActiveService.UpdateProjectCollection",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: given["frames"].update_collection(description="after review"),
        request=lambda given: active_pb2.UpdateProjectCollectionRequest(
            **ids(given, "frames"), description="after review"
        ),
    ),
    WireCase(
        name="DeleteProjectCollection",
        rpc="ActiveService.DeleteProjectCollection",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: given["project"].delete_collection(given["frames"].uuid),
        request=lambda given: active_pb2.DeleteProjectCollectionRequest(**ids(given, "frames")),
    ),
    WireCase(
        name="ListProjectCollectionFrames as ProjectCollection.list_frames",
        rpc="ActiveService.ListProjectCollectionFrames",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: list(given["frames"].list_frames(page_size=5)),
        request=lambda given: active_pb2.ListProjectCollectionFramesRequest(**ids(given, "frames"), page_size=5),
    ),
    WireCase(
        name="ListProjectCollectionAnnotations: getLabels=true before the page parameters",
        rpc="ActiveService.ListProjectCollectionAnnotations",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: list(given["labels"].list_annotations(page_size=5)),
        request=lambda given: active_pb2.ListProjectCollectionAnnotationsRequest(**ids(given, "labels"), page_size=5),
    ),
    WireCase(
        name="AddProjectCollectionItems of frames",
        rpc="ActiveService.AddProjectCollectionItems",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: given["frames"].add_items(
            [
                ProjectDataCollectionItemRequest(data_uuid=given["video"], frame=0),
                ProjectDataCollectionItemRequest(data_uuid=given["image"], frame=0),
            ]
        ),
        request=lambda given: active_pb2.AddProjectCollectionItemsRequest(
            **ids(given, "frames"),
            items=[
                active_pb2.ProjectCollectionItem(data_uuid=given["video"], frame=0),
                active_pb2.ProjectCollectionItem(data_uuid=given["image"], frame=0),
            ],
        ),
    ),
    WireCase(
        name="AddProjectCollectionItems of annotations",
        rpc="ActiveService.AddProjectCollectionItems",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: given["labels"].add_items(
            [ProjectLabelCollectionItemRequest(data_uuid=given["video"], frame=9, annotation_id="zZ9yY8xX")]
        ),
        request=lambda given: active_pb2.AddProjectCollectionItemsRequest(
            **ids(given, "labels"),
            items=[active_pb2.ProjectCollectionItem(data_uuid=given["video"], frame=9, annotation_id="zZ9yY8xX")],
        ),
    ),
    WireCase(
        name="RemoveProjectCollectionItems",
        rpc="ActiveService.RemoveProjectCollectionItems",
        proves=("E-06",),
        setup=with_project_collections,
        sdk=lambda sides, given: given["frames"].remove_items(
            [ProjectDataCollectionItemRequest(data_uuid=given["video"], frame=3)]
        ),
        request=lambda given: active_pb2.RemoveProjectCollectionItemsRequest(
            **ids(given, "frames"), items=[active_pb2.ProjectCollectionItem(data_uuid=given["video"], frame=3)]
        ),
    ),
]


def with_project_preset(sides: WireSides) -> Given:
    given = with_project_collections(sides)
    project = given["project"]
    preset = project.create_filter_preset("Crowded", active_filters("object_count"))
    return {**given, "preset": preset}


def active_filters(metric: str) -> ActiveFilterPresetDefinition:
    return ActiveFilterPresetDefinition(
        local_filters={NO_FOLDER: FilterDefinition(filters=[{"key": metric, "type": "metric", "values": [1, 5.5]}])},
        global_filters=FilterDefinition(filters=[]),
    )


PROJECT_PRESET_CASES = [
    WireCase(
        name="AddProjectCollectionPresetItems",
        rpc="ActiveService.AddProjectCollectionPresetItems",
        proves=("E-06",),
        setup=with_project_preset,
        sdk=lambda sides, given: given["frames"].add_preset_items(given["preset"].uuid),
        request=lambda given: active_pb2.AddProjectCollectionPresetItemsRequest(
            **ids(given, "frames"), preset_uuid=str(given["preset"].uuid)
        ),
    ),
    WireCase(
        name="RemoveProjectCollectionPresetItems",
        rpc="ActiveService.RemoveProjectCollectionPresetItems",
        proves=("E-06",),
        setup=with_project_preset,
        sdk=lambda sides, given: given["labels"].remove_preset_items(str(given["preset"].uuid)),
        request=lambda given: active_pb2.RemoveProjectCollectionPresetItemsRequest(
            **ids(given, "labels"), preset_uuid=str(given["preset"].uuid)
        ),
    ),
    WireCase(
        name="ListProjectFilterPresets as Project.list_filter_presets",
        rpc="ActiveService.ListProjectFilterPresets",
        proves=("E-08",),
        setup=with_project_preset,
        sdk=lambda sides, given: list(given["project"].list_filter_presets(page_size=5)),
        request=lambda given: active_pb2.ListProjectFilterPresetsRequest(
            project_hash=given["project_hash"], page_size=5
        ),
    ),
    WireCase(
        name="ListProjectFilterPresets of named presets",
        rpc="ActiveService.ListProjectFilterPresets",
        proves=("E-08",),
        setup=with_project_preset,
        sdk=lambda sides, given: list(given["project"].list_filter_presets([given["preset"].uuid])),
        request=lambda given: active_pb2.ListProjectFilterPresetsRequest(
            project_hash=given["project_hash"], preset_uuids=[str(given["preset"].uuid)]
        ),
    ),
    WireCase(
        name="GetProjectFilterPreset as Project.get_filter_preset",
        rpc="ActiveService.GetProjectFilterPreset",
        proves=("E-08",),
        setup=with_project_preset,
        sdk=lambda sides, given: given["project"].get_filter_preset(given["preset"].uuid),
        request=lambda given: active_pb2.GetProjectFilterPresetRequest(
            project_hash=given["project_hash"], preset_uuid=str(given["preset"].uuid)
        ),
    ),
    WireCase(
        name="GetProjectFilterPresetDefinition: the raw definition",
        rpc="ActiveService.GetProjectFilterPresetDefinition",
        proves=("E-08",),
        setup=with_project_preset,
        sdk=lambda sides, given: given["preset"].get_filter_preset_json(),
        request=lambda given: active_pb2.GetProjectFilterPresetDefinitionRequest(
            project_hash=given["project_hash"], preset_uuid=str(given["preset"].uuid)
        ),
    ),
    WireCase(
        name="CreateProjectFilterPreset",
        rpc="ActiveService.CreateProjectFilterPreset",
        proves=("E-08",),
        setup=with_sdk_project,
        sdk=lambda sides, given: ProjectFilterPreset._create_filter_preset(
            sides.sdk._api_client, UUID(given["project_hash"]), "Crowded", active_filters("object_count")
        ),
        request=lambda given: active_pb2.CreateProjectFilterPresetRequest(
            project_hash=given["project_hash"],
            name="Crowded",
            filter_preset_json=struct(active_filters("object_count").to_dict()),
        ),
        free_form=True,
    ),
    WireCase(
        name="UpdateProjectFilterPreset name and definition",
        rpc="ActiveService.UpdateProjectFilterPreset",
        proves=("E-08",),
        setup=with_project_preset,
        sdk=lambda sides, given: given["preset"].update_preset("Very crowded", active_filters("object_density")),
        request=lambda given: active_pb2.UpdateProjectFilterPresetRequest(
            project_hash=given["project_hash"],
            preset_uuid=str(given["preset"].uuid),
            name="Very crowded",
            filter_preset=struct(active_filters("object_density").to_dict()),
        ),
        free_form=True,
    ),
    WireCase(
        name="UpdateProjectFilterPreset name only",
        rpc="ActiveService.UpdateProjectFilterPreset",
        proves=("E-08",),
        setup=with_project_preset,
        sdk=lambda sides, given: given["preset"].update_preset(name="Renamed"),
        request=lambda given: active_pb2.UpdateProjectFilterPresetRequest(
            project_hash=given["project_hash"], preset_uuid=str(given["preset"].uuid), name="Renamed"
        ),
    ),
    WireCase(
        name="DeleteProjectFilterPreset",
        rpc="ActiveService.DeleteProjectFilterPreset",
        proves=("E-08",),
        setup=with_project_preset,
        sdk=lambda sides, given: given["project"].delete_filter_preset(given["preset"].uuid),
        request=lambda given: active_pb2.DeleteProjectFilterPresetRequest(
            project_hash=given["project_hash"], preset_uuid=str(given["preset"].uuid)
        ),
    ),
]


# ---- Index collections (E-05) -----------------------------------------------------------------------


def index_filters(metric: str) -> dict[str, Any]:
    """An Index preset definition as the SDK normalises it (snake_case keys)."""
    return {
        "local_filters": {NO_FOLDER: {"filters": [{"key": metric, "type": "metric", "values": [0.25, 0.75]}]}},
        "global_filters": {"filters": []},
    }


def with_index_collection(sides: WireSides) -> Given:
    """A folder holding two collections (the first with two items) and a filter preset."""
    folder = str(uuid.uuid4())
    first = sides.sdk.create_collection(folder, "Night shots", "dark frames")
    second = sides.sdk.create_collection(folder, "Day shots")
    items = [str(UUID(int=n + 1)) for n in range(2)]
    first.add_items(items)
    preset = sides.sdk.create_preset(sides.unique("preset"), index_filters("brightness"))
    return {"folder": folder, "first": first, "second": second, "items": items, "preset": preset}


def collection_id(given: Given, which: str = "first") -> str:
    return str(given[which].uuid)


INDEX_COLLECTION_CASES = [
    WireCase(
        name="ListIndexCollections of a folder, as list_collections",
        rpc="IndexService.ListIndexCollections",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: list(sides.sdk.list_collections(given["folder"], page_size=5)),
        request=lambda given: active_pb2.ListIndexCollectionsRequest(
            top_level_folder_uuid=given["folder"], page_size=5
        ),
    ),
    WireCase(
        name="ListIndexCollections of named collections",
        rpc="IndexService.ListIndexCollections",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: list(
            sides.sdk.list_collections(collection_uuids=[collection_id(given), collection_id(given, "second")])
        ),
        request=lambda given: active_pb2.ListIndexCollectionsRequest(
            collection_uuids=[collection_id(given), collection_id(given, "second")]
        ),
    ),
    WireCase(
        name="GetIndexCollection as get_collection",
        rpc="IndexService.GetIndexCollection",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: sides.sdk.get_collection(collection_id(given)),
        request=lambda given: active_pb2.GetIndexCollectionRequest(collection_uuid=collection_id(given)),
    ),
    WireCase(
        name="CreateIndexCollection with the SDK's defaults",
        rpc="IndexService.CreateIndexCollection",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: Collection._create_collection(sides.sdk._api_client, UUID(given["folder"]), "Empty"),
        request=lambda given: active_pb2.CreateIndexCollectionRequest(
            top_level_folder_uuid=given["folder"], name="Empty"
        ),
    ),
    WireCase(
        name="CreateIndexCollection described",
        rpc="IndexService.CreateIndexCollection",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: Collection._create_collection(
            sides.sdk._api_client, UUID(given["folder"]), "Rainy", "wet roads"
        ),
        request=lambda given: active_pb2.CreateIndexCollectionRequest(
            top_level_folder_uuid=given["folder"], name="Rainy", description="wet roads"
        ),
    ),
    WireCase(
        name="UpdateIndexCollection name and description",
        rpc="IndexService.UpdateIndexCollection",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["first"].update_collection(name="Night", description="reviewed"),
        request=lambda given: active_pb2.UpdateIndexCollectionRequest(
            collection_uuid=collection_id(given), name="Night", description="reviewed"
        ),
    ),
    WireCase(
        name="DeleteIndexCollection",
        rpc="IndexService.DeleteIndexCollection",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: sides.sdk.delete_collection(collection_id(given, "second")),
        request=lambda given: active_pb2.DeleteIndexCollectionRequest(collection_uuid=collection_id(given, "second")),
    ),
    WireCase(
        name="ListIndexCollectionItems as Collection.list_items with client metadata",
        rpc="IndexService.ListIndexCollectionItems",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: list(given["first"].list_items(include_client_metadata=True, page_size=10)),
        request=lambda given: active_pb2.ListIndexCollectionItemsRequest(
            collection_uuid=collection_id(given), include_client_metadata=True, page_size=10
        ),
    ),
    WireCase(
        name="ListAllIndexCollectionItems as Collection.list_items_include_inaccessible",
        rpc="IndexService.ListAllIndexCollectionItems",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: list(given["first"].list_items_include_inaccessible(page_size=10)),
        request=lambda given: active_pb2.ListAllIndexCollectionItemsRequest(
            collection_uuid=collection_id(given), page_size=10
        ),
    ),
    WireCase(
        name="AddIndexCollectionItems",
        rpc="IndexService.AddIndexCollectionItems",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["second"].add_items(given["items"]),
        request=lambda given: active_pb2.AddIndexCollectionItemsRequest(
            collection_uuid=collection_id(given, "second"), item_uuids=given["items"]
        ),
    ),
    WireCase(
        name="RemoveIndexCollectionItems",
        rpc="IndexService.RemoveIndexCollectionItems",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["first"].remove_items(given["items"][:1]),
        request=lambda given: active_pb2.RemoveIndexCollectionItemsRequest(
            collection_uuid=collection_id(given), item_uuids=given["items"][:1]
        ),
    ),
    WireCase(
        name="AddIndexCollectionItemsByTitle",
        rpc="IndexService.AddIndexCollectionItemsByTitle",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["first"].add_items_by_title(["frame-001.jpg", "Straße 東京.png"]),
        request=lambda given: active_pb2.AddIndexCollectionItemsByTitleRequest(
            collection_uuid=collection_id(given), data_titles=["frame-001.jpg", "Straße 東京.png"]
        ),
    ),
    WireCase(
        name="AddIndexCollectionPresetItems",
        rpc="IndexService.AddIndexCollectionPresetItems",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["first"].add_preset_items(given["preset"]),
        request=lambda given: active_pb2.AddIndexCollectionPresetItemsRequest(
            collection_uuid=collection_id(given), preset_uuid=str(given["preset"].uuid)
        ),
    ),
    WireCase(
        name="RemoveIndexCollectionPresetItems",
        rpc="IndexService.RemoveIndexCollectionPresetItems",
        proves=("E-05",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["first"].remove_preset_items(given["preset"]),
        request=lambda given: active_pb2.RemoveIndexCollectionPresetItemsRequest(
            collection_uuid=collection_id(given), preset_uuid=str(given["preset"].uuid)
        ),
    ),
]


# ---- Index filter presets (E-07) --------------------------------------------------------------------


def preset_id(given: Given) -> str:
    return str(given["preset"].uuid)


INDEX_PRESET_CASES = [
    WireCase(
        name="ListIndexFilterPresets as list_presets",
        rpc="IndexService.ListIndexFilterPresets",
        proves=("E-07",),
        setup=with_index_collection,
        sdk=lambda sides, given: list(sides.sdk.list_presets(page_size=1000)),
        request=lambda given: active_pb2.ListIndexFilterPresetsRequest(page_size=1000),
    ),
    WireCase(
        name="ListIndexFilterPresets of a folder",
        rpc="IndexService.ListIndexFilterPresets",
        proves=("E-07",),
        setup=with_index_collection,
        sdk=lambda sides, given: list(sides.sdk.list_presets(given["folder"])),
        request=lambda given: active_pb2.ListIndexFilterPresetsRequest(top_level_folder_uuid=given["folder"]),
    ),
    WireCase(
        name="ListIndexFilterPresets of named presets, as get_filter_presets",
        rpc="IndexService.ListIndexFilterPresets",
        proves=("E-07",),
        setup=with_index_collection,
        sdk=lambda sides, given: list(sides.sdk.get_filter_presets([preset_id(given)], page_size=5)),
        request=lambda given: active_pb2.ListIndexFilterPresetsRequest(preset_uuids=[preset_id(given)], page_size=5),
    ),
    WireCase(
        name="GetIndexFilterPreset as get_filter_preset",
        rpc="IndexService.GetIndexFilterPreset",
        proves=("E-07",),
        setup=with_index_collection,
        sdk=lambda sides, given: sides.sdk.get_filter_preset(preset_id(given)),
        request=lambda given: active_pb2.GetIndexFilterPresetRequest(preset_uuid=preset_id(given)),
    ),
    WireCase(
        name="GetIndexFilterPresetDefinition as FilterPreset.get_filter_preset_json",
        rpc="IndexService.GetIndexFilterPresetDefinition",
        proves=("E-07",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["preset"].get_filter_preset_json(),
        request=lambda given: active_pb2.GetIndexFilterPresetDefinitionRequest(preset_uuid=preset_id(given)),
    ),
    WireCase(
        name="CreateIndexFilterPreset with the SDK's defaults",
        rpc="IndexService.CreateIndexFilterPreset",
        proves=("E-07",),
        sdk=lambda sides, given: FilterPreset._create_preset(
            sides.sdk._api_client, "Bright", filter_preset_json=index_filters("brightness")
        ),
        request=lambda given: active_pb2.CreateIndexFilterPresetRequest(
            name="Bright", filter_preset_json=struct(index_filters("brightness"))
        ),
        free_form=True,
    ),
    WireCase(
        name="CreateIndexFilterPreset described",
        rpc="IndexService.CreateIndexFilterPreset",
        proves=("E-07",),
        sdk=lambda sides, given: FilterPreset._create_preset(
            sides.sdk._api_client, "Dark", "night scenes", filter_preset_json=index_filters("darkness")
        ),
        request=lambda given: active_pb2.CreateIndexFilterPresetRequest(
            name="Dark", description="night scenes", filter_preset_json=struct(index_filters("darkness"))
        ),
        free_form=True,
    ),
    WireCase(
        name="UpdateIndexFilterPreset definition only",
        rpc="IndexService.UpdateIndexFilterPreset",
        proves=("E-07",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["preset"].update_preset(filter_preset_json=index_filters("contrast")),
        request=lambda given: active_pb2.UpdateIndexFilterPresetRequest(
            preset_uuid=preset_id(given), filter_preset=struct(index_filters("contrast"))
        ),
        free_form=True,
    ),
    WireCase(
        name="UpdateIndexFilterPreset name and description",
        rpc="IndexService.UpdateIndexFilterPreset",
        proves=("E-07",),
        setup=with_index_collection,
        sdk=lambda sides, given: given["preset"].update_preset(name="Brighter", description="well lit"),
        request=lambda given: active_pb2.UpdateIndexFilterPresetRequest(
            preset_uuid=preset_id(given), name="Brighter", description="well lit"
        ),
    ),
    WireCase(
        name="DeleteIndexFilterPreset",
        rpc="IndexService.DeleteIndexFilterPreset",
        proves=("E-07",),
        setup=with_index_collection,
        sdk=lambda sides, given: sides.sdk.delete_preset(preset_id(given)),
        request=lambda given: active_pb2.DeleteIndexFilterPresetRequest(preset_uuid=preset_id(given)),
    ),
]

CASES = [
    *DICOM_CASES,
    *CVAT_CASES,
    *ACTIVE_IMPORT_CASES,
    *PROJECT_COLLECTION_CASES,
    *PROJECT_PRESET_CASES,
    *INDEX_COLLECTION_CASES,
    *INDEX_PRESET_CASES,
]
