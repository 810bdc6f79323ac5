"""Label rows through a real gateway: listing, documents in Encord-sized batches, saves and their checks,
branches, classifications, the legacy statuses, the export stream and what the cache keeps.

The sandbox's request log is the witness of what went upstream.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import labels_pb2, projects_pb2, workflow_pb2
from labelling import (
    CAR_FEATURE,
    LabelStubs,
    as_dict,
    create_rows,
    described,
    label_stubs,
    labelled_project,
    project_calls,
    save,
    upstream_calls,
    with_box,
    with_weather,
    x_cache,
)

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox, Stubs

LIMIT_FAULT_BODY = {"status": 400, "response": ["MULTI_LABEL_LIMIT_ERROR"], "payload": {"maximum_labels_allowed": 2}}


@pytest.fixture(scope="module")
def labels(gateway: GatewayProcess) -> Iterator[LabelStubs]:
    with gateway.channel() as channel:
        yield label_stubs(channel)


@pytest.fixture
def limit_fault(sandbox: Sandbox) -> Iterator[Callable[[], None]]:
    """Encord refusing the next label-row read of more than 2 rows with MULTI_LABEL_LIMIT_ERROR."""

    def add() -> None:
        fault = {
            "match": {"api": "v1", "query_type": "labelrow", "query_method": "GET"},
            "times": 1,
            "status": 200,
            "body": json.dumps(LIMIT_FAULT_BODY),
        }
        status, body = sandbox.control("POST", "/sandbox/v1/faults", fault)
        assert status == 201, body

    yield add
    sandbox.control("DELETE", "/sandbox/v1/faults")


def test_every_data_unit_is_listed_and_gets_a_label_hash_once_its_row_exists(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("listed"))
    request = labels_pb2.ListLabelRowsRequest(project_hash=made.project)
    md = gateway.auth_metadata

    before = labels.labels.ListLabelRows(request, metadata=md).label_rows
    (created,) = create_rows(gateway, labels, made, made.units[:1])
    after = labels.labels.ListLabelRows(request, metadata=md).label_rows
    only_labelled = labels.labels.ListLabelRows(
        labels_pb2.ListLabelRowsRequest(project_hash=made.project, include_uninitialised_labels=False), metadata=md
    ).label_rows

    assert [r.data_hash for r in before] == made.units and all(r.label_hash == "" for r in before)
    assert [r.workflow_graph_node.title for r in before] == ["Annotate"] * 3
    assert [r.label_status for r in before] == [labels_pb2.LABEL_STATUS_NOT_LABELLED] * 3
    assert [r.label_hash for r in after] == [created["label_hash"], "", ""]
    assert after[0].label_status == labels_pb2.LABEL_STATUS_LABEL_IN_PROGRESS
    assert [r.data_hash for r in only_labelled] == made.units[:1]


def test_listing_filters_by_data_unit_title_and_task_status(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("filtered"))
    md = gateway.auth_metadata
    annotate = labels_pb2.ANNOTATION_TASK_STATUS_QUEUED
    in_review = labels_pb2.ANNOTATION_TASK_STATUS_IN_REVIEW
    stage = stubs_workflow_first_stage(labels, gateway, made.project)
    task = labels_first_task(labels, gateway, made.project, stage, made.units[1])
    labels.workflow.ApplyTaskActions(
        workflow_pb2.ApplyTaskActionsRequest(
            project_hash=made.project, stage_uuid=stage,
            actions=[workflow_pb2.TaskAction(task_uuid=task, action=workflow_pb2.TASK_ACTION_KIND_SUBMIT)],
        ),
        metadata=md,
    )  # fmt: skip

    def listed(**filters: object) -> list[str]:
        rows = labels.labels.ListLabelRows(
            labels_pb2.ListLabelRowsRequest(project_hash=made.project, **filters), metadata=md
        )
        return [r.data_hash for r in rows.label_rows]

    assert listed(data_hashes=made.units[::2]) == made.units[::2]
    assert listed(data_title_eq="frame-2.jpg") == made.units[2:]
    assert listed(data_title_like="frame-_.jpg") == made.units
    assert listed(label_statuses=[in_review]) == made.units[1:2]
    assert listed(label_statuses=[annotate]) == [made.units[0], made.units[2]]
    assert listed(workflow_graph_node_title_eq="Review") == made.units[1:2]


def stubs_workflow_first_stage(labels: LabelStubs, gateway: GatewayProcess, project: str) -> str:
    stages = labels.workflow.ListWorkflowStages(
        workflow_pb2.ListWorkflowStagesRequest(project_hash=project), metadata=gateway.auth_metadata
    ).stages
    return stages[0].uuid


def labels_first_task(labels: LabelStubs, gateway: GatewayProcess, project: str, stage: str, data_hash: str) -> str:
    tasks = labels.workflow.ListStageTasks(
        workflow_pb2.ListStageTasksRequest(project_hash=project, stage_uuid=stage, data_hashes=[data_hash]),
        metadata=gateway.auth_metadata,
    ).tasks
    return tasks[0].uuid


def test_documents_are_fetched_at_the_limit_encord_names_when_it_refuses_a_batch(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    limit_fault: Callable[[], None],
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("limited"))
    rows = create_rows(gateway, labels, made, made.units)
    hashes = [r["label_hash"] for r in rows]
    limit_fault()
    sandbox.clear_requests_log()

    fetched = labels.labels.GetLabelRows(
        labels_pb2.GetLabelRowsRequest(project_hash=made.project, label_hashes=hashes), metadata=gateway.auth_metadata
    )

    assert sorted(as_dict(d)["label_hash"] for d in fetched.label_rows) == sorted(hashes)
    calls = project_calls(sandbox, made.project)
    assert described(calls) == ["v1 labelrow GET"] * 3  # refused at 3, then 2 + 1
    assert [c["outcome"] for c in calls] == ["fault", "ok", "ok"]


def test_a_saved_document_reads_back_and_the_cached_reads_it_stales_are_dropped(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("saved"))
    (document,) = create_rows(gateway, labels, made, made.units[:1])
    md = gateway.auth_metadata
    get = labels_pb2.GetLabelRowsRequest(project_hash=made.project, label_hashes=[document["label_hash"]])
    stages = workflow_pb2.ListWorkflowStagesRequest(project_hash=made.project)
    labels.labels.GetLabelRows(get, metadata=md)
    labels.workflow.ListWorkflowStages(stages, metadata=md)
    _, cached = labels.labels.GetLabelRows.with_call(get, metadata=md)

    save(gateway, labels, made, [with_weather(with_box(document, "b0b0b0b0"))])
    answer, fresh = labels.labels.GetLabelRows.with_call(get, metadata=md)
    (reread,) = answer.label_rows
    _, stages_after = labels.workflow.ListWorkflowStages.with_call(stages, metadata=md)

    assert x_cache(cached) == "hit"
    assert x_cache(fresh) == "miss"  # the save dropped it
    assert x_cache(stages_after) == "hit"  # a save changes no stage
    saved = as_dict(reread)
    (unit,) = saved["data_units"].values()
    assert [o["objectHash"] for o in unit["labels"]["objects"]] == ["b0b0b0b0"]
    assert unit["labels"]["objects"][0]["boundingBox"] == {"h": 0.1, "w": 0.2, "x": 0.3, "y": 0.4}
    assert list(saved["classification_answers"]) == ["c1a55c1a"]
    assert saved["is_valid"] is True


def test_an_invalid_document_is_saved_marked_invalid_or_refused_when_validated(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    gateway_kit: GatewayKit,
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("invalid"))
    first, second = create_rows(gateway, labels, made, made.units[:2])
    md = gateway.auth_metadata

    save(gateway, labels, made, [with_box(first, "baadf00d", feature="nothere0")])
    state = labels.labels.GetLabelValidationState(
        labels_pb2.GetLabelValidationStateRequest(project_hash=made.project, label_hash=first["label_hash"]),
        metadata=md,
    )
    with pytest.raises(grpc.RpcError) as refused:
        save(gateway, labels, made, [with_box(second, "baadf00d", feature="nothere0")], validate_before_saving=True)
    listed = labels.labels.ListLabelRows(labels_pb2.ListLabelRowsRequest(project_hash=made.project), metadata=md)
    unchanged = labels.labels.GetLabelRows(
        labels_pb2.GetLabelRowsRequest(project_hash=made.project, label_hashes=[second["label_hash"]]), metadata=md
    )

    assert (state.is_valid, state.version) == (False, 1)
    assert state.errors == ["object baadf00d: feature nothere0 is not in the ontology"]
    details = gateway_kit.grpc_error(refused.value)
    assert (details.code, details.reason) == ("INVALID_ARGUMENT", "FEATURE_DOES_NOT_EXIST_ERROR")
    assert [r.is_valid for r in listed.label_rows[:2]] == [False, True]
    (unit,) = as_dict(unchanged.label_rows[0])["data_units"].values()
    assert unit["labels"]["objects"] == []


def test_a_document_over_the_size_bound_is_refused_before_anything_is_sent(
    gateway: GatewayProcess, sandbox: Sandbox, gateway_kit: GatewayKit
) -> None:
    project, label = "00000000-0000-0000-0000-0000000000aa", "00000000-0000-0000-0000-0000000000bb"
    sandbox.clear_requests_log()

    reply = gateway.rest(
        "PUT", f"/v1/projects/{project}/label-rows/{label}", body={"data_units": {}, "padding": "x" * (4 * 1024 * 1024)}
    )

    details = gateway_kit.rest_error(reply)
    assert (reply.status, details.code, details.fields) == (400, "INVALID_ARGUMENT", ("document",))
    assert upstream_calls(sandbox, gateway) == []


def test_bad_hashes_are_invalid_and_unknown_units_not_found(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    gateway_kit: GatewayKit,
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("bad"))
    md = gateway.auth_metadata
    sandbox.clear_requests_log()
    with pytest.raises(grpc.RpcError) as malformed:
        labels.labels.GetLabelRows(
            labels_pb2.GetLabelRowsRequest(project_hash=made.project, label_hashes=["not-a-hash"]), metadata=md
        )
    assert upstream_calls(sandbox, gateway) == []
    with pytest.raises(grpc.RpcError) as unknown:
        labels.labels.CreateLabelRows(
            labels_pb2.CreateLabelRowsRequest(project_hash=made.project, data_hashes=[made.project]), metadata=md
        )

    bad = gateway_kit.grpc_error(malformed.value)
    assert (bad.code, bad.fields) == ("INVALID_ARGUMENT", ("label_hashes[0]",))
    assert gateway_kit.grpc_error(unknown.value).code == "NOT_FOUND"


def test_a_rows_storage_item_is_its_data_units_file_and_an_unknown_one_is_refused(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    gateway_kit: GatewayKit,
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("items"))
    md = gateway.auth_metadata
    rows = labels.labels.ListLabelRows(labels_pb2.ListLabelRowsRequest(project_hash=made.project), metadata=md)
    first = rows.label_rows[0]

    item = labels.labels.GetLabelRowStorageItem(
        labels_pb2.GetLabelRowStorageItemRequest(backing_item_uuid=first.backing_item_uuid), metadata=md
    )
    with pytest.raises(grpc.RpcError) as unknown:
        labels.labels.GetLabelRowStorageItem(
            labels_pb2.GetLabelRowStorageItemRequest(backing_item_uuid=made.project), metadata=md
        )

    assert first.backing_item_uuid and (item.uuid, item.name) == (first.backing_item_uuid, "frame-0.jpg")
    # Encord answers an unknown item as one the caller may not see (§5.8: "unknown or inaccessible").
    assert gateway_kit.grpc_error(unknown.value).code == "PERMISSION_DENIED"


def test_a_second_row_for_a_data_unit_already_exists(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    gateway_kit: GatewayKit,
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("twice"))
    request = labels_pb2.CreateLabelRowRequest(project_hash=made.project, data_hash=made.units[0])
    first = labels.labels.CreateLabelRow(request, metadata=gateway.auth_metadata)

    with pytest.raises(grpc.RpcError) as again:
        labels.labels.CreateLabelRow(request, metadata=gateway.auth_metadata)

    assert as_dict(first.document)["data_hash"] == made.units[0]
    assert gateway_kit.grpc_error(again.value).code == "ALREADY_EXISTS"


def test_classifications_come_without_the_rest_of_the_labels(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("classified"))
    first, second = create_rows(gateway, labels, made, made.units[:2])
    save(gateway, labels, made, [with_weather(with_box(first)), with_box(second)])

    answer = labels.labels.GetLabelClassifications(
        labels_pb2.GetLabelClassificationsRequest(
            project_hash=made.project, label_uuids=[first["label_hash"], second["label_hash"]]
        ),
        metadata=gateway.auth_metadata,
    )

    by_label = {entry.label_uuid: as_dict(entry.classification_answers) for entry in answer.labels}
    assert list(by_label[first["label_hash"]]) == ["c1a55c1a"]
    assert by_label[second["label_hash"]] == {}
    assert {entry.data_title for entry in answer.labels} == {"frame-0.jpg", "frame-1.jpg"}


def test_labels_copied_to_a_branch_are_listed_there(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("branches"))
    (document,) = create_rows(gateway, labels, made, made.units[:1])
    save(gateway, labels, made, [with_box(document, "c0c0c0c0")])
    md = gateway.auth_metadata

    copied = labels.labels.CopyLabelsToBranch(
        labels_pb2.CopyLabelsToBranchRequest(
            project_hash=made.project, target_branch_name="second-opinion", label_uuids=[document["label_hash"]]
        ),
        metadata=md,
    )
    branches = labels.labels.ListLabelBranches(
        labels_pb2.ListLabelBranchesRequest(project_hash=made.project), metadata=md
    )
    on_branch = labels.labels.ListLabelRows(
        labels_pb2.ListLabelRowsRequest(
            project_hash=made.project, branch_name="second-opinion", include_uninitialised_labels=False
        ),
        metadata=md,
    ).label_rows
    copy = labels.labels.GetLabelRows(
        labels_pb2.GetLabelRowsRequest(project_hash=made.project, label_hashes=[on_branch[0].label_hash]), metadata=md
    )

    assert copied.copied_count == 1
    assert [b.name for b in branches.branches] == ["main", "second-opinion"]
    assert [(r.data_hash, r.branch_name) for r in on_branch] == [(made.units[0], "second-opinion")]
    assert on_branch[0].label_hash != document["label_hash"]
    (unit,) = as_dict(copy.label_rows[0])["data_units"].values()
    assert [o["objectHash"] for o in unit["labels"]["objects"]] == ["c0c0c0c0"]


def test_legacy_statuses_apply_to_manual_qa_rows_only(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    gateway_kit: GatewayKit,
) -> None:
    manual = labelled_project(gateway, stubs, sandbox, make_title("manual"), benchmark=True)
    workflow = labelled_project(gateway, stubs, sandbox, make_title("workflow"))
    (manual_row,) = create_rows(gateway, labels, manual, manual.units[:1])
    (workflow_row,) = create_rows(gateway, labels, workflow, workflow.units[:1])
    md = gateway.auth_metadata

    def status_of(project: str) -> int:
        rows = labels.labels.ListLabelRows(labels_pb2.ListLabelRowsRequest(project_hash=project), metadata=md)
        return rows.label_rows[0].label_status

    labels.labels.SubmitLabelRowForReviewLegacy(
        labels_pb2.SubmitLabelRowForReviewLegacyRequest(
            project_hash=manual.project, label_hash=manual_row["label_hash"]
        ),
        metadata=md,
    )
    submitted = status_of(manual.project)
    labels.labels.SetLabelStatusLegacy(
        labels_pb2.SetLabelStatusLegacyRequest(
            project_hash=manual.project,
            label_hash=manual_row["label_hash"],
            label_status=labels_pb2.LABEL_STATUS_REVIEWED,
        ),
        metadata=md,
    )
    with pytest.raises(grpc.RpcError) as refused:
        labels.labels.SetLabelStatusLegacy(
            labels_pb2.SetLabelStatusLegacyRequest(
                project_hash=workflow.project, label_hash=workflow_row["label_hash"],
                label_status=labels_pb2.LABEL_STATUS_REVIEWED,
            ),
            metadata=md,
        )  # fmt: skip

    assert submitted == labels_pb2.LABEL_STATUS_LABELLED
    assert status_of(manual.project) == labels_pb2.LABEL_STATUS_REVIEWED
    details = gateway_kit.grpc_error(refused.value)
    assert (details.code, details.reason) == ("FAILED_PRECONDITION", "WRONG_PROJECT_TYPE_ERROR")


# ---- the export stream ------------------------------------------------------------------------------


def exported_project(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, title: str
) -> tuple[str, list[str], dict[str, str]]:
    """Five images, four of them labelled (one box each): their data hashes sorted, and label hash by data hash."""
    made = labelled_project(gateway, stubs, sandbox, title, [{"title": f"{n}.jpg"} for n in range(5)])
    documents = create_rows(gateway, labels, made, made.units[:4])
    save(gateway, labels, made, [with_box(d, f"0b{n:06d}") for n, d in enumerate(documents)])
    return made.project, sorted(made.units), {d["data_hash"]: d["label_hash"] for d in documents}


def test_the_stream_exports_every_row_with_its_document_in_batches_encord_accepts(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    limit_fault: Callable[[], None],
) -> None:
    project, units, label_of = exported_project(gateway, stubs, labels, sandbox, make_title("export"))
    limit_fault()
    sandbox.clear_requests_log()

    exported = list(
        labels.labels.StreamLabelRows(
            labels_pb2.StreamLabelRowsRequest(project_hash=project, include_documents=True),
            metadata=gateway.auth_metadata,
        )
    )

    assert [e.metadata.data_hash for e in exported] == units  # data-hash order, each row once
    for row in exported:
        if row.metadata.data_hash in label_of:
            document = as_dict(row.document)
            assert document["label_hash"] == row.metadata.label_hash == label_of[row.metadata.data_hash]
            (unit,) = document["data_units"].values()
            assert unit["labels"]["objects"][0]["featureHash"] == CAR_FEATURE
        else:
            assert not row.HasField("document") and row.metadata.label_hash == ""
    calls = project_calls(sandbox, project)
    # One listing; the batch of all five rows refused; then a call per two rows, unless neither has labels.
    batches = sum(any(u in label_of for u in units[i : i + 2]) for i in range(0, len(units), 2))
    assert described(calls) == ["v1 labelrowmetadata GET", *["v1 labelrow GET"] * (1 + batches)]
    assert [c["outcome"] for c in calls] == ["ok", "fault", *["ok"] * batches]


def test_a_disconnected_export_resumes_behind_the_last_row_it_received(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    project, units, _ = exported_project(gateway, stubs, labels, sandbox, make_title("resumed"))
    request = labels_pb2.StreamLabelRowsRequest(project_hash=project, include_documents=True)

    stream = labels.labels.StreamLabelRows(request, metadata=gateway.auth_metadata)
    received = [next(stream).metadata.data_hash, next(stream).metadata.data_hash]
    stream.cancel()
    request.after_data_hash = received[-1]
    rest = [e.metadata.data_hash for e in labels.labels.StreamLabelRows(request, metadata=gateway.auth_metadata)]

    assert received + rest == units


def test_metadata_alone_is_one_listing_call_and_rest_answers_ndjson(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    project, units, label_of = exported_project(gateway, stubs, labels, sandbox, make_title("ndjson"))
    sandbox.clear_requests_log()

    reply = gateway.rest("GET", f"/v1/projects/{project}/label-rows:stream")

    assert reply.status == 200 and reply.headers["content-type"].split(";")[0] == "application/x-ndjson"
    lines = [json.loads(line) for line in reply.body.decode().splitlines()]
    assert [line["metadata"]["data_hash"] for line in lines] == units
    assert all("document" not in line for line in lines)
    assert {line["metadata"].get("label_hash", "") for line in lines} == {*label_of.values(), ""}
    assert described(upstream_calls(sandbox, gateway)) == ["v1 labelrowmetadata GET"]


def test_a_project_read_with_its_label_metadata_has_one_typed_row_per_data_unit(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    made = labelled_project(gateway, stubs, sandbox, make_title("project-rows"))
    (created,) = create_rows(gateway, labels, made, made.units[1:2])
    md = gateway.auth_metadata

    project = stubs.projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=made.project, include_labels_metadata=True), metadata=md
    )

    rows = project.label_rows
    assert [row.data_hash for row in rows] == made.units
    assert [row.label_hash for row in rows] == ["", created["label_hash"], ""]
    assert rows[1].label_status == labels_pb2.LABEL_STATUS_LABEL_IN_PROGRESS
    assert all(row.dataset_hash and row.data_title for row in rows)
