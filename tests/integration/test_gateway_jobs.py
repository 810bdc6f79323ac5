"""DICOM de-identification and CVAT import through a real gateway: starts, long polls bounded by the caller's
deadline, job streams over gRPC and REST, the legacy synchronous calls, and bad input refused before Encord.

The sandbox counts a job's progress in looks, not seconds (sandbox/domains/jobs.py): a small job answers its
third look, and a held poll keeps looking until the job ends. The shared gateway's organisation is one sandbox
user, and the sandbox answers the same request from the same user with the same job, so every test de-identifies
files (or imports into a dataset) of its own.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import (
    datasets_pb2,
    jobs_pb2,
    jobs_pb2_grpc,
    projects_pb2,
)

if TYPE_CHECKING:
    from conftest import GatewayProcess, Sandbox, Stubs

INTEGRATION = "0b6c2a4e-1f3d-4c5b-8a7e-9d0f1e2a3b4c"
PENDING, DONE, ERROR = jobs_pb2.JOB_STATUS_PENDING, jobs_pb2.JOB_STATUS_DONE, jobs_pb2.JOB_STATUS_ERROR


@pytest.fixture(scope="module")
def jobs(channel: grpc.Channel) -> jobs_pb2_grpc.JobServiceStub:
    return jobs_pb2_grpc.JobServiceStub(channel)


@pytest.fixture
def scans(make_title: Callable[[str], str]) -> list[str]:
    study = make_title("study")
    return [f"https://scans.s3.eu-west-2.amazonaws.com/{study}/slice-{n}.dcm" for n in (1, 2)]


def upstream(sandbox: Sandbox, path: str) -> list[tuple[str, str]]:
    """(method, path) of every call the sandbox received under `/v2/public/<path>`."""
    prefix = f"/v2/public/{path}"
    return [(e["method"], e["path"]) for e in sandbox.requests_log() if e["path"].startswith(prefix)]


def export(task: str, images: tuple[str, ...] = ("front/one.jpg", "front/two.jpg")) -> bytes:
    """A CVAT task export's annotations.xml: one box on the first image."""
    tags = "".join(f'<image id="{n}" name="{name}" width="64" height="48"/>' for n, name in enumerate(images[1:], 1))
    return (
        f"<annotations><version>1.1</version><meta><task><name>{task}</name><labels><label><name>Car</name>"
        f"<type>rectangle</type></label></labels></task></meta>"
        f'<image id="0" name="{images[0]}" width="64" height="48"><box label="Car" xtl="1" ytl="2" xbr="3" ybr="4"/>'
        f"</image>{tags}</annotations>"
    ).encode()


def uploaded(paths: tuple[str, ...]) -> list[jobs_pb2.CvatImportDataItem]:
    """What the uploads of an export's images answered (object keys), as the caller passes them on."""
    return [
        jobs_pb2.CvatImportDataItem(data_path=p, data_link=f"cord-uploads/{uuid.uuid4()}/{p}", title=p.split("/")[-1])
        for p in paths
    ]


def new_dataset(stubs: Stubs, gateway: GatewayProcess, make_title: Callable[[str], str]) -> str:
    created = stubs.datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(title=make_title("cvat")), metadata=gateway.auth_metadata
    )
    return str(created.dataset_hash)


# ---- DICOM de-identification ------------------------------------------------------------------------


def test_the_deidentification_stream_sends_every_poll_until_the_copies_exist(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, sandbox: Sandbox, scans: list[str]
) -> None:
    sandbox.clear_requests_log()
    request = jobs_pb2.DeidentifyDicomFilesRequest(integration_uuid=INTEGRATION, dicom_urls=scans, timeout_seconds=0)

    answers = list(jobs.DeidentifyDicomFiles(request, metadata=gateway.auth_metadata, timeout=30))

    assert [a.status for a in answers] == [PENDING, PENDING, DONE]  # polls that may not wait: one look each
    directory = scans[0].rsplit("/", 1)[0]
    assert [u.rsplit("_", 1)[1] for u in answers[-1].urls] == ["slice-1.dcm", "slice-2.dcm"]
    assert all(u.startswith(f"{directory}/deid_") for u in answers[-1].urls)
    calls = upstream(sandbox, "dicom-deidentification")
    assert [method for method, _ in calls] == ["POST", "GET", "GET", "GET"]
    assert len({path for _, path in calls[1:]}) == 1  # every poll asks after the one job


def test_a_poll_the_caller_lets_wait_is_held_until_the_job_is_done(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, sandbox: Sandbox, scans: list[str]
) -> None:
    md = gateway.auth_metadata
    job = jobs.StartDicomDeidentification(
        jobs_pb2.StartDicomDeidentificationRequest(integration_uuid=INTEGRATION, dicom_urls=scans), metadata=md
    )
    sandbox.clear_requests_log()

    waited = jobs.GetDicomDeidentification(jobs_pb2.GetDicomDeidentificationRequest(job_uuid=job.uuid), metadata=md)

    assert waited.status == DONE and len(waited.urls) == 2
    assert upstream(sandbox, "dicom-deidentification") == [("GET", f"/v2/public/dicom-deidentification/{job.uuid}")]


def test_a_poll_that_may_not_wait_answers_pending_at_once(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, scans: list[str]
) -> None:
    md = gateway.auth_metadata
    job = jobs.StartDicomDeidentification(
        jobs_pb2.StartDicomDeidentificationRequest(integration_uuid=INTEGRATION, dicom_urls=scans), metadata=md
    )

    answer = jobs.GetDicomDeidentification(
        jobs_pb2.GetDicomDeidentificationRequest(job_uuid=job.uuid, timeout_seconds=0), metadata=md
    )

    assert answer.status == PENDING and list(answer.urls) == []


def test_a_long_poll_is_held_no_longer_than_the_callers_deadline_allows(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, make_title: Callable[[str], str]
) -> None:
    """A big job needs about five seconds of looks; a caller with three seconds left gets PENDING, not an
    expired deadline: the gateway asks Encord to hold the poll for less than the caller has left."""
    md = gateway.auth_metadata
    study = make_title("big-study")
    urls = [f"https://scans.s3.amazonaws.com/{study}/{n}.dcm" for n in range(10_000)]
    job = jobs.StartDicomDeidentification(
        jobs_pb2.StartDicomDeidentificationRequest(integration_uuid=INTEGRATION, dicom_urls=urls), metadata=md
    )

    answer = jobs.GetDicomDeidentification(
        jobs_pb2.GetDicomDeidentificationRequest(job_uuid=job.uuid), metadata=md, timeout=3
    )

    assert answer.status == PENDING


def test_over_rest_the_deidentification_stream_is_ndjson_ending_in_the_result(
    gateway: GatewayProcess, scans: list[str]
) -> None:
    reply = gateway.rest(
        "POST",
        "/v1/dicom-deidentifications:run",
        body={"integration_uuid": INTEGRATION, "dicom_urls": scans, "upload_dir": "deidentified"},
    )

    assert reply.status == 200, reply
    assert reply.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in reply.body.decode().splitlines()]
    assert [line["status"] for line in lines] == ["JOB_STATUS_DONE"]  # one held poll saw the job through
    assert all(u.startswith("https://scans.s3.eu-west-2.amazonaws.com/deidentified/deid_") for u in lines[0]["urls"])


def test_a_job_over_a_file_outside_any_bucket_ends_in_error(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, scans: list[str]
) -> None:
    request = jobs_pb2.DeidentifyDicomFilesRequest(integration_uuid=INTEGRATION, dicom_urls=[scans[0], "no-bucket"])

    answers = list(jobs.DeidentifyDicomFiles(request, metadata=gateway.auth_metadata, timeout=30))

    assert [a.status for a in answers] == [ERROR] and list(answers[-1].urls) == []


def test_the_legacy_call_answers_the_copies_at_once(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, sandbox: Sandbox, scans: list[str]
) -> None:
    sandbox.clear_requests_log()

    answer = jobs.DeidentifyDicomFilesLegacy(
        jobs_pb2.DeidentifyDicomFilesLegacyRequest(
            integration_hash=INTEGRATION,
            dicom_urls=scans,
            redact_pixels_mode=jobs_pb2.DICOM_PIXEL_REDACTION_LEGACY_ALL_TEXT,
        ),
        metadata=gateway.auth_metadata,
    )

    assert [u.rsplit("_", 1)[1] for u in answer.urls] == ["slice-1.dcm", "slice-2.dcm"]
    legacy = [e for e in sandbox.requests_log() if e["query_type"] == "dicomdeidentifytask"]
    assert [(e["path"], e["outcome"]) for e in legacy] == [("/public/user", "ok")]


@pytest.mark.parametrize(
    ("rpc", "request_message", "field"),
    [
        ("StartDicomDeidentification", jobs_pb2.StartDicomDeidentificationRequest(integration_uuid=INTEGRATION), "dicom_urls"),
        ("StartDicomDeidentification", jobs_pb2.StartDicomDeidentificationRequest(integration_uuid="x", dicom_urls=["u"]),
         "integration_uuid"),
        ("GetDicomDeidentification", jobs_pb2.GetDicomDeidentificationRequest(job_uuid="not-a-job"), "job_uuid"),
        ("StartCvatImport", jobs_pb2.StartCvatImportRequest(dataset_uuid=INTEGRATION, data=uploaded(("a.jpg",))),
         "annotations"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_field_without_calling_encord(
    gateway: GatewayProcess,
    jobs: jobs_pb2_grpc.JobServiceStub,
    sandbox: Sandbox,
    rpc: str,
    request_message: Any,
    field: str,
) -> None:
    sandbox.clear_requests_log()

    with pytest.raises(grpc.RpcError) as caught:
        getattr(jobs, rpc)(request_message, metadata=gateway.auth_metadata)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")
    assert sandbox.requests_log() == []


def test_a_job_that_does_not_exist_is_not_found(gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        jobs.GetCvatImport(
            jobs_pb2.GetCvatImportRequest(job_uuid=str(uuid.uuid4()), timeout_seconds=0), metadata=gateway.auth_metadata
        )

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# ---- CVAT import ------------------------------------------------------------------------------------


def test_a_cvat_import_runs_to_a_project_over_the_dataset_with_the_exports_labels(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    dataset = new_dataset(stubs, gateway, make_title)
    task = make_title("Street")
    images = ("front/one.jpg", "front/two.jpg")

    answers = list(
        jobs.RunCvatImport(
            jobs_pb2.RunCvatImportRequest(
                annotations=export(task, images), dataset_uuid=dataset, data=uploaded(images)
            ),
            metadata=md,
            timeout=30,
        )
    )

    assert [a.status for a in answers] == [DONE]
    result = answers[-1]
    assert [(i.issue_type, list(i.instances)) for i in result.issues.infos] == [
        ("image_without_annotations", ["front/two.jpg"])
    ]
    project = stubs.projects.GetProject(projects_pb2.GetProjectRequest(project_hash=result.project_uuid), metadata=md)
    assert project.title == task
    assert [d.dataset_hash for d in project.datasets] == [dataset]
    assert [o["name"] for o in project.editor_ontology["objects"]] == ["Car"]
    rows = stubs.datasets.GetDataset(datasets_pb2.GetDatasetRequest(dataset_hash=dataset), metadata=md).data_rows
    assert sorted(r.data_title for r in rows) == ["one.jpg", "two.jpg"]


def test_the_poll_that_sees_an_import_finish_refreshes_the_project_listing(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    task = make_title("Cached")
    listing = projects_pb2.ListProjectsRequest(title_eq=task)
    assert list(stubs.projects.ListProjects(listing, metadata=md).projects) == []  # now in the cache
    job = jobs.StartCvatImport(
        jobs_pb2.StartCvatImportRequest(
            annotations=export(task),
            dataset_uuid=new_dataset(stubs, gateway, make_title),
            data=uploaded(("front/one.jpg",)),
        ),
        metadata=md,
    )

    done = jobs.GetCvatImport(jobs_pb2.GetCvatImportRequest(job_uuid=job.uuid), metadata=md)

    assert done.status == DONE
    assert [p.project_hash for p in stubs.projects.ListProjects(listing, metadata=md).projects] == [done.project_uuid]


def test_an_import_naming_none_of_the_uploaded_images_ends_in_error_with_its_issues(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    request = jobs_pb2.RunCvatImportRequest(
        annotations=export(make_title("Lost")),
        dataset_uuid=new_dataset(stubs, gateway, make_title),
        data=uploaded(("elsewhere/one.jpg",)),
        review_mode=jobs_pb2.CVAT_REVIEW_MODE_REVIEWED,
    )

    (result,) = jobs.RunCvatImport(request, metadata=gateway.auth_metadata, timeout=30)

    assert result.status == ERROR and result.project_uuid == ""
    assert [(i.issue_type, list(i.instances)) for i in result.issues.errors] == [
        ("no_matching_images", ["front/one.jpg", "front/two.jpg"])
    ]


def test_the_legacy_import_of_existing_data_units_answers_the_project(
    gateway: GatewayProcess,
    jobs: jobs_pb2_grpc.JobServiceStub,
    stubs: Stubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
) -> None:
    dataset = new_dataset(stubs, gateway, make_title)
    rows = sandbox.seed_data_units(dataset, [{"title": "one.jpg"}, {"title": "two.jpg"}])
    task = make_title("Legacy")

    info = jobs.ClassifyCvatExportLegacy(
        jobs_pb2.ClassifyCvatExportLegacyRequest(annotations=export(task)), metadata=gateway.auth_metadata
    )
    result = jobs.ImportCvatProjectLegacy(
        jobs_pb2.ImportCvatProjectLegacyRequest(
            annotations=export(task),
            dataset_hash=dataset,
            image_title_to_image_hash_map={f"front/{r['data_title']}": r["data_hash"] for r in rows},
        ),
        metadata=gateway.auth_metadata,
    )

    assert info.export_type == jobs_pb2.CVAT_EXPORT_TYPE_TASK
    project = stubs.projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=result.project_uuid), metadata=gateway.auth_metadata
    )
    assert project.title == task


def test_a_legacy_import_encord_refuses_fails_with_failed_precondition(
    gateway: GatewayProcess, jobs: jobs_pb2_grpc.JobServiceStub, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    request = jobs_pb2.ImportCvatProjectLegacyRequest(
        annotations=export(make_title("Refused")),
        dataset_hash=new_dataset(stubs, gateway, make_title),
        image_title_to_image_hash_map={"front/one.jpg": str(uuid.uuid4())},  # no data unit of the dataset
    )

    with pytest.raises(grpc.RpcError) as caught:
        jobs.ImportCvatProjectLegacy(request, metadata=gateway.auth_metadata)

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_classifying_an_export_that_is_not_cvat_fails_with_encords_message(gateway: GatewayProcess) -> None:
    broken = base64.b64encode(b"<annotations><meta/></annotations>").decode()

    reply = gateway.rest("POST", "/v1/cvat-imports:classifyLegacy", body={"annotations": broken})

    assert reply.status == 400, reply  # FAILED_PRECONDITION
    assert "neither a project nor a task" in reply.json()["message"]
