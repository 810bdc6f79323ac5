"""The official SDK running DICOM de-identifications and CVAT imports against the sandbox, as a user would.

The SDK's CVAT import first uploads the export's images to presigned URLs; the sandbox does not model uploads
yet, so those tests stand in for that one step (`uploaded_as_is`): every image counts as uploaded under an
object key of its name. Everything after it (the dataset, the import job, its long polls, reading the project
back) is the SDK talking to the sandbox.
"""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from encord import EncordUserClient
from encord.exceptions import ResourceNotFoundError
from encord.objects import Shape
from encord.objects.common import SaveDeidentifiedDicomConditionIn, SaveDeidentifiedDicomConditionNotSubstr
from encord.orm.dataset import StorageLocation
from encord.utilities.client_utilities import CvatImporterError, CvatImporterSuccess, LocalImport
from wire.wire_legacy import legacy_v1_call

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

SCANS = [
    "https://scans.s3.eu-west-2.amazonaws.com/study-1/slice-001.dcm",
    "https://scans.s3.eu-west-2.amazonaws.com/study-1/slice-002.dcm",
]
INTEGRATION = str(uuid.uuid4())  # integrations are another domain's; the sandbox takes any integration UUID

CVAT_TASK = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <name>Street scenes</name>
      <labels>
        <label><name>Car</name><color>#ff0000</color><type>rectangle</type><attributes/></label>
        <label><name>Road</name><color>#00ff00</color><type>polygon</type><attributes/></label>
      </labels>
    </task>
  </meta>
  <image id="0" name="front/one.jpg" width="640" height="480">
    <box label="Car" occluded="0" xtl="10" ytl="20" xbr="110" ybr="90"/>
    <polygon label="Road" occluded="0" points="0,400;640,400;640,480;0,480"/>
  </image>
  <image id="1" name="front/two.jpg" width="640" height="480">
    <cuboid label="Car" occluded="0" xtl1="1" ytl1="2" xbl1="1" ybl1="9" xtr1="5" ytr1="2" xbr1="5" ybr1="9"
            xtl2="6" ytl2="3" xbl2="6" ybl2="8" xtr2="9" ytr2="3" xbr2="9" ybr2="8"/>
  </image>
  <image id="2" name="front/three.jpg" width="640" height="480"/>
</annotations>
"""


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


@pytest.fixture
def cvat_export(tmp_path: Path) -> Path:
    """A "CVAT for images 1.1" task export: annotations.xml and an images/ tree."""
    (tmp_path / "annotations.xml").write_text(CVAT_TASK, encoding="utf-8")
    for name in ("one.jpg", "two.jpg", "three.jpg"):
        image = tmp_path / "images" / "front" / name
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(b"\xff\xd8\xff" + name.encode())
    return tmp_path


@pytest.fixture
def uploaded_as_is(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The SDK's presigned-URL upload, stood in for: each file counts as uploaded under an object key of its name."""
    uploaded: list[Path] = []

    def upload(file_paths: list[Path], **_: Any) -> list[dict[str, str]]:
        uploaded.extend(file_paths)
        return [
            {"data_hash": str(uuid.uuid4()), "file_link": f"cord-uploads/{uuid.uuid4()}/{p.name}", "title": p.name}
            for p in file_paths
        ]

    monkeypatch.setattr("encord.user_client.upload_to_signed_url_list", upload)
    return uploaded


# ---- DICOM de-identification (J-01..J-03L) --------------------------------------------------------


def test_deidentify_dicom_files_runs_to_completion_with_copies_next_to_the_sources(client: EncordUserClient) -> None:
    outputs = client.deidentify_dicom_files(SCANS, INTEGRATION)  # J-01, then J-02 held until done

    assert len(outputs) == 2
    for source, output in zip(SCANS, outputs, strict=True):
        directory, name = source.rsplit("/", 1)
        assert re.fullmatch(re.escape(directory) + r"/deid_\d+_" + re.escape(name), output), output


def test_deidentified_copies_go_to_the_upload_directory_when_given(client: EncordUserClient) -> None:
    outputs = client.deidentify_dicom_files(
        SCANS,
        INTEGRATION,
        save_conditions=[
            SaveDeidentifiedDicomConditionNotSubstr(value="TEST", dicom_tag="(0010,0010)"),
            SaveDeidentifiedDicomConditionIn(value=["CT", "MR"], dicom_tag="(0008,0060)"),
        ],
        upload_dir="deidentified/batch-7",
    )

    assert [o.rsplit("_", 1)[1] for o in outputs] == ["slice-001.dcm", "slice-002.dcm"]
    assert all(o.startswith("https://scans.s3.eu-west-2.amazonaws.com/deidentified/batch-7/deid_") for o in outputs)


def test_a_poll_that_may_not_wait_sees_the_job_pending_and_a_later_poll_its_result(client: EncordUserClient) -> None:
    job = client.deidentify_dicom_files_start(SCANS, INTEGRATION)

    with pytest.raises(ValueError, match="PENDING"):  # the SDK refuses a PENDING answer once its budget is spent
        client.deidentify_dicom_files_get_result(job, timeout_seconds=0)
    outputs = client.deidentify_dicom_files_get_result(job)

    assert [o.rsplit("_", 1)[1] for o in outputs] == ["slice-001.dcm", "slice-002.dcm"]


def test_the_same_job_submitted_again_is_the_same_job(client: EncordUserClient) -> None:
    first = client.deidentify_dicom_files_start(SCANS, INTEGRATION)

    again = client.deidentify_dicom_files_start(SCANS, INTEGRATION)
    other = client.deidentify_dicom_files_start(SCANS, INTEGRATION, upload_dir="elsewhere")

    assert again == first and other != first


def test_a_job_reading_a_file_outside_any_bucket_fails(client: EncordUserClient) -> None:
    with pytest.raises(ValueError, match="job failed"):
        client.deidentify_dicom_files([SCANS[0], "not a url"], INTEGRATION)


def test_someone_elses_job_is_not_found(client: EncordUserClient, sandbox: Sandbox, user: SandboxUser) -> None:
    job = client.deidentify_dicom_files_start(SCANS, INTEGRATION)
    stranger = EncordUserClient.create_with_ssh_private_key(sandbox.new_user().openssh, domain=sandbox.url)

    with pytest.raises(ResourceNotFoundError):
        stranger.deidentify_dicom_files_get_result(job, timeout_seconds=0)


def test_legacy_synchronous_deidentification_answers_the_copies_at_once(client: EncordUserClient) -> None:
    outputs = legacy_v1_call(  # J-03L, as SDKs before 0.1.150 sent it
        client,
        "dicomdeidentifytask",
        "POST",
        uid=INTEGRATION,
        payload={
            "dicom_urls": SCANS,
            "redact_dicom_tags": True,
            "redact_pixels_mode": "REDACT_ALL_TEXT",
            "save_conditions": [{"value": "TEST", "dicom_tag": "(0010,0010)", "condition_type": "NOT_SUBSTR"}],
            "upload_dir": None,
        },
    )

    assert [o.rsplit("/", 1)[0] for o in outputs] == [s.rsplit("/", 1)[0] for s in SCANS]
    assert all("/deid_" in o for o in outputs)


# ---- CVAT import (J-04..J-06L) --------------------------------------------------------------------


def test_cvat_import_runs_to_completion_into_a_project_with_the_exported_labels(
    client: EncordUserClient, cvat_export: Path, uploaded_as_is: list[Path]
) -> None:
    result = client.create_project_from_cvat(LocalImport(str(cvat_export)), "Street scenes data")

    assert isinstance(result, CvatImporterSuccess), result
    assert sorted(p.name for p in uploaded_as_is) == ["one.jpg", "three.jpg", "two.jpg"]
    project = client.get_project(result.project_hash)
    assert project.title == "Street scenes"
    assert [(o.name, o.shape) for o in project.ontology_structure.objects] == [
        ("Car", Shape.BOUNDING_BOX),
        ("Road", Shape.POLYGON),
    ]
    # result.dataset_hash is the text of an SDK object (0.1.211 calls str() on a ProjectDataset), so ask the project.
    (attached,) = project.list_datasets()
    dataset = client.get_dataset(str(attached.dataset_hash))
    assert dataset.title == "Street scenes data"
    assert sorted(row.title for row in dataset.data_rows) == ["one.jpg", "three.jpg", "two.jpg"]
    warnings = {issue.issue_type: issue.instances for issue in result.issues.warnings}
    assert warnings == {"unsupported_shape": ["front/two.jpg: cuboid Car"]}
    assert [(i.issue_type, i.instances) for i in result.issues.infos] == [
        ("image_without_annotations", ["front/three.jpg"])
    ]
    assert result.issues.errors == []


def test_cvat_boxes_can_become_polygons(
    client: EncordUserClient, cvat_export: Path, uploaded_as_is: list[Path]
) -> None:
    result = client.create_project_from_cvat(
        LocalImport(str(cvat_export)), "Polygons", transform_bounding_boxes_to_polygons=True
    )

    assert isinstance(result, CvatImporterSuccess), result
    shapes = [o.shape for o in client.get_project(result.project_hash).ontology_structure.objects]
    assert shapes == [Shape.POLYGON, Shape.POLYGON]


def test_cvat_import_of_an_export_whose_images_were_not_uploaded_fails_with_its_issues(
    client: EncordUserClient, cvat_export: Path, uploaded_as_is: list[Path]
) -> None:
    elsewhere = LocalImport(str(cvat_export), map_filename_to_cvat_name=lambda name: f"elsewhere/{name}")

    result = client.create_project_from_cvat(elsewhere, "Unmatched")

    assert isinstance(result, CvatImporterError), result
    errors = {issue.issue_type: issue.instances for issue in result.issues.errors}
    assert errors == {"no_matching_images": ["front/one.jpg", "front/three.jpg", "front/two.jpg"]}


def test_legacy_cvat_import_classifies_the_export_then_imports_existing_data_units(
    client: EncordUserClient, sandbox: Sandbox
) -> None:
    annotations = base64.b64encode(CVAT_TASK.encode()).decode()
    dataset = client.create_dataset("Legacy CVAT", StorageLocation.CORD_STORAGE)
    rows = sandbox.seed_data_units(
        dataset.dataset_hash, [{"title": n, "data_type": "IMAGE"} for n in ("one.jpg", "two.jpg", "three.jpg")]
    )

    info = legacy_v1_call(client, "projectimportercvatinfo", "POST", payload={"annotations_base64": annotations})
    imported = legacy_v1_call(
        client,
        "projectimporter",
        "POST",
        payload={
            "cvat": {"annotations_base64": annotations},
            "dataset_hash": dataset.dataset_hash,
            "image_title_to_image_hash_map": {f"front/{r['data_title']}": r["data_hash"] for r in rows},
            "review_mode": "labelled",
            "transform_bounding_boxes_to_polygons": False,
        },
    )

    assert info == {"success": {"export_type": "task"}}
    project = client.get_project(imported["success"]["project_hash"])
    assert [str(d.dataset_hash) for d in project.list_datasets()] == [dataset.dataset_hash]
    assert [o.name for o in project.ontology_structure.objects] == ["Car", "Road"]


def test_legacy_cvat_import_naming_a_data_unit_of_another_dataset_answers_an_error_union(
    client: EncordUserClient,
) -> None:
    dataset = client.create_dataset("Empty", StorageLocation.CORD_STORAGE)
    stray = str(uuid.uuid4())

    answer = legacy_v1_call(
        client,
        "projectimporter",
        "POST",
        payload={
            "cvat": {"annotations_base64": base64.b64encode(CVAT_TASK.encode()).decode()},
            "dataset_hash": dataset.dataset_hash,
            "image_title_to_image_hash_map": {"front/one.jpg": stray},
            "review_mode": "reviewed",
            "transform_bounding_boxes_to_polygons": False,
        },
    )

    assert answer == {
        "error": {
            "issues": {
                "errors": [{"issue_type": "data_unit_not_found", "instances": ["front/one.jpg"]}],
                "warnings": [{"issue_type": "image_not_uploaded", "instances": ["front/two.jpg", "front/three.jpg"]}],
                "infos": [],
            }
        }
    }
    assert list(client.list_projects(title_eq="Street scenes")) == []


def test_legacy_classification_of_an_export_without_a_project_or_task_is_an_error_member(
    client: EncordUserClient,
) -> None:
    not_cvat = base64.b64encode(b"<annotations><meta><dump/></meta></annotations>").decode()

    answer = legacy_v1_call(client, "projectimportercvatinfo", "POST", payload={"annotations_base64": not_cvat})

    assert answer == {"error": {"message": "the annotations' meta names neither a project nor a task"}}
