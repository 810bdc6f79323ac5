"""Wire-equality cases for label rows, workflow, analytics and issues (L, W, P-17..P-23, E-02, E-03).

Setups seed data units through the sandbox's control API (as Encord's web app would upload them) and make
label rows with the SDK itself, unrecorded. A case that moves a task or deletes an issue runs twice on the
same state (the SDK's call, then the gateway's): the sandbox answers a repeated delivery of such a call
as done, as it must for the SDK's own retries (§4.4). Label documents travel as google.protobuf.Struct, so
those bodies are compared as parsed JSON (`free_form`).

Known difference, left out: CopyLabelsToBranch sends the copy call only; the SDK's copy_labels_to_branch
first lists the source rows (L-01, which has cases of its own), so the case drives the SDK's copy call
alone through its own transport.
"""

from __future__ import annotations

import json
import urllib.request
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from encord.issues.issue_client import IssueFrameRange
from encord.objects import Classification, Object, OntologyStructure, Shape
from encord.objects.attributes import RadioAttribute
from encord.objects.coordinates import BoundingBoxCoordinates
from encord.orm.analytics import TaskActionType
from encord.orm.label_row import AnnotationTaskStatus, LabelRow, ShadowDataState
from encord.orm.project import BenchmarkQaWorkflowSettings
from encord.project import _CopyBranchRequest, _CopyBranchResult
from encord.workflow import AgentStage, AnnotationStage, FinalStage, ReviewStage
from encord.workflow.stages.annotation import AnnotationTaskStatus as TaskStatus
from encord_gateway._generated.encord.gateway.v1 import (
    analytics_pb2,
    labels_pb2,
    workflow_pb2,
)
from google.protobuf import struct_pb2, timestamp_pb2
from wire_harness import Given, WireCase, WireSides
from wire_legacy import legacy_v1_call

LONG_AGO = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
FAR_AHEAD = datetime(2099, 12, 31, 23, 59, 58, 1, tzinfo=UTC)
AGENT_TEMPLATE = [
    {"key": "triage", "stageType": "AGENT", "title": "Triage",
     "pathways": [{"title": "retry", "to": "triage"}, {"title": "label", "to": "annotate"}]},
    {"key": "annotate", "stageType": "ANNOTATION", "title": "Annotate", "next": "done"},
    {"key": "done", "stageType": "DONE", "title": "Complete"},
]  # fmt: skip


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def struct(document: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(document)
    return message


def control(sides: WireSides, path: str, body: Any) -> Any:
    """The sandbox's control API, straight to the sandbox (never recorded)."""
    request = urllib.request.Request(
        sides.recorder.forward_to + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def car_and_weather() -> OntologyStructure:
    structure = OntologyStructure()
    structure.add_object("Car", Shape.BOUNDING_BOX)
    weather = structure.add_classification().add_attribute(RadioAttribute, "Weather")
    weather.add_option("Sunny")
    weather.add_option("Rainy")
    return structure


def label(row: Any) -> None:
    """A Car box on the first frame and, on images, the weather; saved with the SDK."""
    row.initialise_labels()
    car = row.ontology_structure.get_child_by_title("Car", type_=Object)
    box = car.create_instance()
    box.set_for_frames(BoundingBoxCoordinates(height=0.25, width=0.5, top_left_x=0.125, top_left_y=0.375), frames=0)
    row.add_object_instance(box)
    if row.data_type.value == "image":
        weather = row.ontology_structure.classifications[0]
        assert isinstance(weather, Classification)
        sunny = weather.create_instance()
        sunny.set_answer(weather.attributes[0].options[0])
        sunny.set_for_frames(frames=0)
        row.add_classification_instance(sunny)
    row.save()


def project_with_rows(sides: WireSides, template: list[dict[str, Any]] | None = None, spare: bool = False) -> Given:
    """A project on an image and a video (each with a saved label row), plus an unlabelled image if `spare`."""
    title = sides.unique("labels")
    dataset = sides.new_dataset(title)
    units = [{"title": "street.jpg", "data_type": "IMAGE"}, {"title": "drive.mp4", "data_type": "VIDEO", "frames": 5}]
    if spare:
        units.append({"title": "spare.jpg", "data_type": "IMAGE"})
    data = control(sides, f"/sandbox/v1/datasets/{dataset}/data-units", {"data_units": units})["data_rows"]
    ontology = sides.new_ontology(title, car_and_weather())
    template_id = None
    if template is not None:
        template_id = control(sides, "/sandbox/v1/workflow-templates", {"title": title, "stages": template})["uuid"]
    project_hash = sides.sdk.create_project(
        title, [dataset], ontology_hash=ontology, workflow_template_hash=template_id
    )
    project = sides.sdk.get_project(project_hash)
    project.ontology_structure  # noqa: B018 - fetched now, not inside a case
    rows = project.list_label_rows_v2()
    for row in rows[:2]:
        label(row)
    rows = project.list_label_rows_v2()
    with project.create_bundle() as bundle:
        for row in rows[:2]:
            row.initialise_labels(bundle=bundle)
    return {
        "project": project,
        "rows": rows,
        "dataset": dataset,
        "data": [d["data_hash"] for d in data],
        "car": project.ontology_structure.get_child_by_title("Car", type_=Object).feature_node_hash,
    }


def stage(given: Given, kind: type[Any]) -> Any:
    return next(s for s in given["project"].workflow.stages if isinstance(s, kind))


def with_review_task(sides: WireSides) -> Given:
    """The image's task submitted into review."""
    given = project_with_rows(sides)
    annotate = stage(given, AnnotationStage)
    next(iter(annotate.get_tasks(data_hash=given["data"][0]))).submit()
    given["review"] = next(iter(stage(given, ReviewStage).get_tasks(data_hash=given["data"][0])))
    return given


def with_issue_tag(sides: WireSides) -> Given:
    given = project_with_rows(sides)
    given["project"].add_issue_tags(["blurry"])
    given["task"] = next(iter(stage(given, AnnotationStage).get_tasks(data_hash=given["data"][0])))
    return given


def with_manual_qa_row(sides: WireSides) -> Given:
    """A benchmark-QA project (manual QA, no workflow) with one label row."""
    title = sides.unique("manual-qa")
    dataset = sides.new_dataset(title)
    control(sides, f"/sandbox/v1/datasets/{dataset}/data-units", {"data_units": [{"title": "a.jpg"}]})
    source = sides.new_project(sides.unique("benchmark-source"))
    project = sides.sdk.get_project(
        sides.sdk.create_project(
            title, [dataset], workflow_settings=BenchmarkQaWorkflowSettings(source_projects=[source])
        )
    )
    (row,) = project.list_label_rows_v2()
    row.initialise_labels()
    return {"project": project, "label": row.label_hash}


def with_invalid_row(sides: WireSides) -> Given:
    """The image's row saved with an object of a feature the ontology does not have."""
    given = project_with_rows(sides)
    row = given["rows"][0]
    document = dict(LabelRow(row.to_encord_dict()))
    document["data_units"][row.data_hash]["labels"]["objects"][0]["featureHash"] = "nothere0"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        given["project"].save_label_row(row.label_hash, document)
    given["rows"] = given["project"].list_label_rows_v2()
    return given


def legacy_document(row: Any) -> dict[str, Any]:
    """What save_label_row sends of a document: the keys the legacy LabelRow ORM keeps."""
    return dict(LabelRow(row.to_encord_dict()))


def deprecated(call: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return call()


def bundled(given: Given, action: Any) -> None:
    with given["project"].create_bundle() as bundle:
        for row in given["rows"][:2]:
            action(row, bundle)


def export_with_the_sdk(project: Any) -> list[Any]:
    rows = sorted(project.list_label_rows_v2(), key=lambda row: row.data_hash)
    with project.create_bundle() as bundle:
        for row in rows:
            if row.label_hash is not None:
                row.initialise_labels(bundle=bundle)
    return rows


def ph(given: Given) -> str:
    return str(given["project"].project_hash)


def labels_of(given: Given) -> list[str]:
    return [str(r.label_hash) for r in given["rows"][:2]]


def recently() -> tuple[datetime, datetime]:
    end = datetime.now(UTC).replace(microsecond=123456)
    return end - timedelta(days=1), end


# ---- label rows ---------------------------------------------------------------------------------

LABEL_ROW_CASES = [
    WireCase(
        name="ListLabelRows as list_label_rows_v2()",
        rpc="LabelService.ListLabelRows",
        proves=("L-01",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["project"].list_label_rows_v2(),
        request=lambda given: labels_pb2.ListLabelRowsRequest(project_hash=ph(given)),
    ),
    WireCase(
        name="ListLabelRows with every filter of list_label_rows_v2",
        rpc="LabelService.ListLabelRows",
        proves=("L-01",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["project"].list_label_rows_v2(
            data_hashes=[given["data"][0]],
            label_hashes=labels_of(given),
            edited_before=FAR_AHEAD,
            edited_after=LONG_AGO,
            label_statuses=[AnnotationTaskStatus.QUEUED, AnnotationTaskStatus.IN_REVIEW],
            shadow_data_state=ShadowDataState.ALL_DATA,
            data_title_eq="street.jpg",
            data_title_like="%.jpg",
            workflow_graph_node_title_eq="Annotate",
            workflow_graph_node_title_like="Ann%",
            include_workflow_graph_node=False,
            include_client_metadata=True,
            include_images_data=True,
            branch_name="main",
        ),
        request=lambda given: labels_pb2.ListLabelRowsRequest(
            project_hash=ph(given),
            data_hashes=[given["data"][0]],
            label_hashes=labels_of(given),
            edited_before=timestamp(FAR_AHEAD),
            edited_after=timestamp(LONG_AGO),
            label_statuses=[labels_pb2.ANNOTATION_TASK_STATUS_QUEUED, labels_pb2.ANNOTATION_TASK_STATUS_IN_REVIEW],
            shadow_data_state=labels_pb2.SHADOW_DATA_STATE_ALL_DATA,
            data_title_eq="street.jpg",
            data_title_like="%.jpg",
            workflow_graph_node_title_eq="Annotate",
            workflow_graph_node_title_like="Ann%",
            include_workflow_graph_node=False,
            include_client_metadata=True,
            include_images_data=True,
            branch_name="main",
        ),
    ),
    WireCase(
        name="ListLabelRows of every branch",
        rpc="LabelService.ListLabelRows",
        proves=("L-01",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["project"].list_label_rows_v2(include_all_label_branches=True),
        request=lambda given: labels_pb2.ListLabelRowsRequest(project_hash=ph(given), include_all_label_branches=True),
    ),
    WireCase(
        # The export the issue describes: list_label_rows_v2, then initialise_labels of every labelled row in
        # one bundle (in data-hash order, the order the stream keeps so that it can resume).
        name="StreamLabelRows as list_label_rows_v2 then bundled initialise_labels",
        rpc="LabelService.StreamLabelRows",
        proves=("L-01", "L-03"),
        setup=lambda sides: project_with_rows(sides, spare=True),
        sdk=lambda sides, given: export_with_the_sdk(given["project"]),
        request=lambda given: labels_pb2.StreamLabelRowsRequest(project_hash=ph(given), include_documents=True),
    ),
    WireCase(
        name="GetLabelRow as the deprecated get_label_row",
        rpc="LabelService.GetLabelRow",
        proves=("L-02",),
        setup=project_with_rows,
        sdk=lambda sides, given: deprecated(lambda: given["project"].get_label_row(labels_of(given)[0])),
        request=lambda given: labels_pb2.GetLabelRowRequest(project_hash=ph(given), label_hash=labels_of(given)[0]),
    ),
    WireCase(
        name="GetLabelRows as bundled initialise_labels",
        rpc="LabelService.GetLabelRows",
        proves=("L-03",),
        setup=project_with_rows,
        sdk=lambda sides, given: bundled(given, lambda row, b: row.initialise_labels(bundle=b, overwrite=True)),
        request=lambda given: labels_pb2.GetLabelRowsRequest(project_hash=ph(given), label_hashes=labels_of(given)),
    ),
    WireCase(
        name="GetLabelRows of one feature with reviews and archived labels",
        rpc="LabelService.GetLabelRows",
        proves=("L-03",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["rows"][0].initialise_labels(
            include_object_feature_hashes={given["car"]}, include_reviews=True, include_archived=True, overwrite=True
        ),
        request=lambda given: labels_pb2.GetLabelRowsRequest(
            project_hash=ph(given),
            label_hashes=labels_of(given)[:1],
            include_object_feature_hashes=[given["car"]],
            include_reviews=True,
            include_archived=True,
        ),
    ),
    WireCase(
        # The SDK creates the row; the gateway's identical call is refused as Encord refuses a second row.
        name="CreateLabelRow as the deprecated create_label_row",
        rpc="LabelService.CreateLabelRow",
        proves=("L-04",),
        setup=lambda sides: project_with_rows(sides, spare=True),
        sdk=lambda sides, given: deprecated(lambda: given["project"].create_label_row(given["data"][2])),
        request=lambda given: labels_pb2.CreateLabelRowRequest(project_hash=ph(given), data_hash=given["data"][2]),
        gateway_fails="ALREADY_EXISTS",
    ),
    WireCase(
        name="CreateLabelRows as initialise_labels on an unlabelled row",
        rpc="LabelService.CreateLabelRows",
        proves=("L-05",),
        setup=lambda sides: project_with_rows(sides, spare=True),
        sdk=lambda sides, given: given["rows"][2].initialise_labels(),
        request=lambda given: labels_pb2.CreateLabelRowsRequest(
            project_hash=ph(given), data_hashes=[given["data"][2]], branch_name="main"
        ),
    ),
    WireCase(
        name="SaveLabelRow as the deprecated save_label_row",
        rpc="LabelService.SaveLabelRow",
        proves=("L-06",),
        setup=project_with_rows,
        sdk=lambda sides, given: deprecated(
            lambda: given["project"].save_label_row(labels_of(given)[0], legacy_document(given["rows"][0]))
        ),
        request=lambda given: labels_pb2.SaveLabelRowRequest(
            project_hash=ph(given), label_hash=labels_of(given)[0], document=struct(legacy_document(given["rows"][0]))
        ),
        free_form=True,
    ),
    WireCase(
        name="SaveLabelRow validated before saving",
        rpc="LabelService.SaveLabelRow",
        proves=("L-06",),
        setup=project_with_rows,
        sdk=lambda sides, given: deprecated(
            lambda: given["project"].save_label_row(
                labels_of(given)[1], legacy_document(given["rows"][1]), validate_before_saving=True
            )
        ),
        request=lambda given: labels_pb2.SaveLabelRowRequest(
            project_hash=ph(given),
            label_hash=labels_of(given)[1],
            document=struct(legacy_document(given["rows"][1])),
            validate_before_saving=True,
        ),
        free_form=True,
    ),
    WireCase(
        name="SaveLabelRows as a bundled LabelRowV2.save",
        rpc="LabelService.SaveLabelRows",
        proves=("L-07",),
        setup=lambda sides: {**(g := project_with_rows(sides)), "docs": [r.to_encord_dict() for r in g["rows"][:2]]},
        sdk=lambda sides, given: bundled(given, lambda row, b: row.save(bundle=b)),
        request=lambda given: labels_pb2.SaveLabelRowsRequest(
            project_hash=ph(given), label_hashes=labels_of(given), labels=[struct(d) for d in given["docs"]]
        ),
        free_form=True,
    ),
    WireCase(
        name="SaveLabelRows as LabelRowV2.save validated before saving",
        rpc="LabelService.SaveLabelRows",
        proves=("L-07",),
        setup=lambda sides: {**(g := project_with_rows(sides)), "docs": [g["rows"][0].to_encord_dict()]},
        sdk=lambda sides, given: given["rows"][0].save(validate_before_saving=True),
        request=lambda given: labels_pb2.SaveLabelRowsRequest(
            project_hash=ph(given),
            label_hashes=labels_of(given)[:1],
            labels=[struct(given["docs"][0])],
            validate_before_saving=True,
        ),
        free_form=True,
    ),
    WireCase(
        name="GetLabelValidationState as get_validation_errors",
        rpc="LabelService.GetLabelValidationState",
        proves=("L-11",),
        setup=with_invalid_row,
        sdk=lambda sides, given: given["rows"][0].get_validation_errors(),
        request=lambda given: labels_pb2.GetLabelValidationStateRequest(
            project_hash=ph(given), label_hash=labels_of(given)[0]
        ),
    ),
    WireCase(
        name="GetLabelRowStorageItem as LabelRowV2.get_storage_item",
        rpc="LabelService.GetLabelRowStorageItem",
        proves=("L-12",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["rows"][0].get_storage_item(),
        request=lambda given: labels_pb2.GetLabelRowStorageItemRequest(
            backing_item_uuid=str(given["rows"][0].backing_item_uuid)
        ),
    ),
    WireCase(
        name="GetLabelRowStorageItem with a signed URL",
        rpc="LabelService.GetLabelRowStorageItem",
        proves=("L-12",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["rows"][1].get_storage_item(get_signed_urls=True),
        request=lambda given: labels_pb2.GetLabelRowStorageItemRequest(
            backing_item_uuid=str(given["rows"][1].backing_item_uuid), sign_url=True
        ),
    ),
    WireCase(
        name="ListLabelBranches as list_branches",
        rpc="LabelService.ListLabelBranches",
        proves=("L-13",),
        setup=project_with_rows,
        sdk=lambda sides, given: list(given["project"].list_branches()),
        request=lambda given: labels_pb2.ListLabelBranchesRequest(project_hash=ph(given)),
    ),
    WireCase(
        name="GetLabelClassifications as get_label_classifications",
        rpc="LabelService.GetLabelClassifications",
        proves=("L-14",),
        setup=project_with_rows,
        sdk=lambda sides, given: list(given["project"].get_label_classifications(labels_of(given))),
        request=lambda given: labels_pb2.GetLabelClassificationsRequest(
            project_hash=ph(given), label_uuids=labels_of(given)
        ),
    ),
    WireCase(
        name="CopyLabelsToBranch as copy_labels_to_branch's copy call",
        rpc="LabelService.CopyLabelsToBranch",
        proves=("L-15",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["project"]._api_client.post(
            f"projects/{ph(given)}/labels/copy-branch",
            params=None,
            payload=_CopyBranchRequest(
                source_branch_name="main",
                target_branch_name="second-opinion",
                overwrite=False,
                data_uuids=None,
                label_uuids=labels_of(given),
            ),
            result_type=_CopyBranchResult,
        ),
        request=lambda given: labels_pb2.CopyLabelsToBranchRequest(
            project_hash=ph(given), target_branch_name="second-opinion", label_uuids=labels_of(given)
        ),
    ),
    WireCase(
        name="SetLabelStatusLegacy as the legacy set_label_status",
        rpc="LabelService.SetLabelStatusLegacy",
        proves=("P-22",),
        setup=with_manual_qa_row,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "labelstatus",
            "POST",
            uid=given["label"],
            payload={"label_status": "LABELLED"},
            resource=("project", str(given["project"].project_hash)),
        ),
        request=lambda given: labels_pb2.SetLabelStatusLegacyRequest(
            project_hash=ph(given), label_hash=given["label"], label_status=labels_pb2.LABEL_STATUS_LABELLED
        ),
    ),
    WireCase(
        name="SubmitLabelRowForReviewLegacy as the legacy submit_label_row_for_review",
        rpc="LabelService.SubmitLabelRowForReviewLegacy",
        proves=("P-23",),
        setup=with_manual_qa_row,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk, "review", "PUT", uid=given["label"], resource=("project", str(given["project"].project_hash))
        ),
        request=lambda given: labels_pb2.SubmitLabelRowForReviewLegacyRequest(
            project_hash=ph(given), label_hash=given["label"]
        ),
    ),
]


# ---- workflow -----------------------------------------------------------------------------------


def first_task(given: Given, kind: type[Any] = AnnotationStage) -> Any:
    return next(iter(stage(given, kind).get_tasks(data_hash=given["data"][0])))


def annotate_uuid(given: Given) -> str:
    return str(stage(given, AnnotationStage).uuid)


WORKFLOW_CASES = [
    WireCase(
        name="ListWorkflowStages as Project.refetch_data().workflow",
        rpc="WorkflowService.ListWorkflowStages",
        proves=("W-01",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["project"].refetch_data(),
        request=lambda given: workflow_pb2.ListWorkflowStagesRequest(project_hash=ph(given)),
    ),
    WireCase(
        name="ListStageTasks as AnnotationStage.get_tasks()",
        rpc="WorkflowService.ListStageTasks",
        proves=("W-02",),
        setup=project_with_rows,
        sdk=lambda sides, given: list(stage(given, AnnotationStage).get_tasks()),
        request=lambda given: workflow_pb2.ListStageTasksRequest(project_hash=ph(given), stage_uuid=annotate_uuid(given)),
    ),
    WireCase(
        name="ListStageTasks with every filter of get_tasks",
        rpc="WorkflowService.ListStageTasks",
        proves=("W-02",),
        setup=project_with_rows,
        sdk=lambda sides, given: list(
            stage(given, AnnotationStage).get_tasks(
                assignee=["a@b.c", "d@e.f"], data_hash=given["data"], dataset_hash=given["dataset"],
                data_title="street 東京", status=[TaskStatus.NEW, TaskStatus.ASSIGNED],
            )
        ),
        request=lambda given: workflow_pb2.ListStageTasksRequest(
            project_hash=ph(given), stage_uuid=annotate_uuid(given), user_emails=["a@b.c", "d@e.f"],
            data_hashes=given["data"], dataset_hashes=[given["dataset"]], data_title_contains="street 東京",
            statuses=[workflow_pb2.WORKFLOW_TASK_STATUS_NEW, workflow_pb2.WORKFLOW_TASK_STATUS_ASSIGNED],
        ),
    ),
    WireCase(
        name="ListStageTasks of a final stage by data hash",
        rpc="WorkflowService.ListStageTasks",
        proves=("W-02",),
        setup=project_with_rows,
        sdk=lambda sides, given: list(stage(given, FinalStage).get_tasks(data_hash=given["data"][0])),
        request=lambda given: workflow_pb2.ListStageTasksRequest(
            project_hash=ph(given), stage_uuid=str(stage(given, FinalStage).uuid), data_hashes=[given["data"][0]]
        ),
    ),
    WireCase(
        name="ApplyTaskActions as AnnotationTask.assign",
        rpc="WorkflowService.ApplyTaskActions",
        proves=("W-03",),
        setup=lambda sides: {**(g := project_with_rows(sides)), "task": first_task(g)},
        sdk=lambda sides, given: given["task"].assign(given["project"].creator_email),
        request=lambda given: workflow_pb2.ApplyTaskActionsRequest(
            project_hash=ph(given), stage_uuid=annotate_uuid(given),
            actions=[workflow_pb2.TaskAction(task_uuid=str(given["task"].uuid), action=workflow_pb2.TASK_ACTION_KIND_ASSIGN,
                                             assignee=given["project"].creator_email)],
        ),
    ),
    WireCase(
        name="ApplyTaskActions as AnnotationTask.submit",
        rpc="WorkflowService.ApplyTaskActions",
        proves=("W-03",),
        setup=lambda sides: {**(g := project_with_rows(sides)), "task": first_task(g)},
        sdk=lambda sides, given: given["task"].submit(),
        request=lambda given: workflow_pb2.ApplyTaskActionsRequest(
            project_hash=ph(given), stage_uuid=annotate_uuid(given),
            actions=[workflow_pb2.TaskAction(task_uuid=str(given["task"].uuid), action=workflow_pb2.TASK_ACTION_KIND_SUBMIT,
                                             resolve_label_reviews=True, retain_assignee=False)],
        ),
    ),
    WireCase(
        name="ApplyTaskActions as bundled release and submit with an assignee",
        rpc="WorkflowService.ApplyTaskActions",
        proves=("W-03",),
        setup=lambda sides: {**(g := project_with_rows(sides)), "tasks": list(stage(g, AnnotationStage).get_tasks())},
        sdk=lambda sides, given: bundled_actions(given),
        request=lambda given: workflow_pb2.ApplyTaskActionsRequest(
            project_hash=ph(given), stage_uuid=annotate_uuid(given),
            actions=[
                workflow_pb2.TaskAction(task_uuid=str(given["tasks"][0].uuid), action=workflow_pb2.TASK_ACTION_KIND_RELEASE),
                workflow_pb2.TaskAction(task_uuid=str(given["tasks"][1].uuid), action=workflow_pb2.TASK_ACTION_KIND_SUBMIT,
                                        resolve_label_reviews=True, assignee=given["project"].creator_email,
                                        retain_assignee=True),
            ],
        ),
    ),
    WireCase(
        name="ApplyTaskActions as ReviewTask.approve",
        rpc="WorkflowService.ApplyTaskActions",
        proves=("W-03",),
        setup=with_review_task,
        sdk=lambda sides, given: given["review"].approve(),
        request=lambda given: workflow_pb2.ApplyTaskActionsRequest(
            project_hash=ph(given), stage_uuid=str(stage(given, ReviewStage).uuid),
            actions=[workflow_pb2.TaskAction(task_uuid=str(given["review"].uuid), action=workflow_pb2.TASK_ACTION_KIND_APPROVE,
                                             approve_label_reviews=True, retain_assignee=False)],
        ),
    ),
    WireCase(
        name="ApplyTaskActions as ReviewTask.reject",
        rpc="WorkflowService.ApplyTaskActions",
        proves=("W-03",),
        setup=with_review_task,
        sdk=lambda sides, given: given["review"].reject(),
        request=lambda given: workflow_pb2.ApplyTaskActionsRequest(
            project_hash=ph(given), stage_uuid=str(stage(given, ReviewStage).uuid),
            actions=[workflow_pb2.TaskAction(task_uuid=str(given["review"].uuid), action=workflow_pb2.TASK_ACTION_KIND_REJECT,
                                             reject_label_reviews=True, retain_assignee=False)],
        ),
    ),
    WireCase(
        name="ApplyTaskActions as AgentTask.proceed",
        rpc="WorkflowService.ApplyTaskActions",
        proves=("W-03",),
        setup=lambda sides: {**(g := project_with_rows(sides, AGENT_TEMPLATE)), "task": first_task(g, AgentStage)},
        sdk=lambda sides, given: given["task"].proceed(pathway_name="retry"),
        request=lambda given: workflow_pb2.ApplyTaskActionsRequest(
            project_hash=ph(given), stage_uuid=str(stage(given, AgentStage).uuid),
            actions=[workflow_pb2.TaskAction(task_uuid=str(given["task"].uuid),
                                             action=workflow_pb2.TASK_ACTION_KIND_PATHWAY_ACTION, pathway_name="retry")],
        ),
    ),
    WireCase(
        name="MoveTasks as AnnotationTask.move",
        rpc="WorkflowService.MoveTasks",
        proves=("W-04",),
        setup=lambda sides: {**(g := project_with_rows(sides)), "task": first_task(g)},
        sdk=lambda sides, given: given["task"].move(destination_stage_uuid=stage(given, FinalStage).uuid),
        request=lambda given: workflow_pb2.MoveTasksRequest(
            project_hash=ph(given), origin_stage_uuid=annotate_uuid(given), task_uuids=[str(given["task"].uuid)],
            destination_stage_uuid=str(stage(given, FinalStage).uuid),
        ),
    ),
    WireCase(
        name="ListLabelReviews as ReviewTask.get_label_reviews",
        rpc="WorkflowService.ListLabelReviews",
        proves=("W-05",),
        setup=with_review_task,
        sdk=lambda sides, given: list(given["review"].get_label_reviews()),
        request=lambda given: workflow_pb2.ListLabelReviewsRequest(
            project_hash=ph(given), stage_uuid=str(stage(given, ReviewStage).uuid), task_uuid=str(given["review"].uuid)
        ),
    ),
    WireCase(
        name="ApplyLabelReviewActions as LabelReview.approve",
        rpc="WorkflowService.ApplyLabelReviewActions",
        proves=("W-06",),
        setup=lambda sides: {**(g := with_review_task(sides)), "label_review": next(iter(g["review"].get_label_reviews()))},
        sdk=lambda sides, given: given["label_review"].approve(),
        request=lambda given: workflow_pb2.ApplyLabelReviewActionsRequest(
            project_hash=ph(given), stage_uuid=str(stage(given, ReviewStage).uuid), task_uuid=str(given["review"].uuid),
            actions=[workflow_pb2.LabelReviewAction(review_uuid=str(given["label_review"].uuid),
                                                    action=workflow_pb2.LABEL_REVIEW_ACTION_KIND_APPROVE)],
        ),
    ),
    WireCase(
        name="ApplyLabelReviewActions as LabelReview.reject with a comment and tags",
        rpc="WorkflowService.ApplyLabelReviewActions",
        proves=("W-06",),
        setup=lambda sides: {
            **(g := with_review_task(sides)),
            "label_review": next(iter(g["review"].get_label_reviews())),
            "tags": g["project"].add_issue_tags(["loose box"]),
        },
        sdk=lambda sides, given: given["label_review"].reject(comment="the box is loose", issue_tags=["loose box"]),
        request=lambda given: workflow_pb2.ApplyLabelReviewActionsRequest(
            project_hash=ph(given), stage_uuid=str(stage(given, ReviewStage).uuid), task_uuid=str(given["review"].uuid),
            actions=[workflow_pb2.LabelReviewAction(review_uuid=str(given["label_review"].uuid),
                                                    action=workflow_pb2.LABEL_REVIEW_ACTION_KIND_REJECT,
                                                    comment="the box is loose", comment_tags=["loose box"])],
        ),
    ),
    WireCase(
        name="CompleteLabelRows as LabelRowV2.workflow_complete",
        rpc="WorkflowService.CompleteLabelRows",
        proves=("L-08",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["rows"][0].workflow_complete(),
        request=lambda given: workflow_pb2.CompleteLabelRowsRequest(project_hash=ph(given), label_hashes=labels_of(given)[:1]),
    ),
    WireCase(
        name="ReopenLabelRows as bundled LabelRowV2.workflow_reopen",
        rpc="WorkflowService.ReopenLabelRows",
        proves=("L-09",),
        setup=project_with_rows,
        sdk=lambda sides, given: bundled(given, lambda row, b: row.workflow_reopen(bundle=b)),
        request=lambda given: workflow_pb2.ReopenLabelRowsRequest(project_hash=ph(given), label_hashes=labels_of(given)),
    ),
    WireCase(
        name="SetTaskPriorities as bundled LabelRowV2.set_priority",
        rpc="WorkflowService.SetTaskPriorities",
        proves=("L-10",),
        setup=project_with_rows,
        sdk=lambda sides, given: bundled(given, lambda row, b: row.set_priority(0.75 if row.data_type.value == "image" else 1, bundle=b)),
        request=lambda given: workflow_pb2.SetTaskPrioritiesRequest(
            project_hash=ph(given),
            priorities=[workflow_pb2.TaskPriority(data_hash=given["data"][0], priority=0.75),
                        workflow_pb2.TaskPriority(data_hash=given["data"][1], priority=1.0)],
        ),
    ),
    WireCase(
        # The integration's "Move workflow task" in an agent stage whose `retry` pathway loops back: the SDK's
        # refetch, task lookup by data hash and proceed are the composite's three calls.
        name="MoveWorkflowTask as refetch_data, get_tasks by data hash and AgentTask.proceed",
        rpc="WorkflowService.MoveWorkflowTask",
        proves=("W-01", "W-02", "W-03"),
        setup=lambda sides: project_with_rows(sides, AGENT_TEMPLATE),
        sdk=lambda sides, given: (
            given["project"].refetch_data(),
            next(iter(given["project"].workflow.get_stage(name="Triage", type_=AgentStage).get_tasks(
                data_hash=given["data"][0]))).proceed(pathway_name="retry"),
        ),
        request=lambda given: workflow_pb2.MoveWorkflowTaskRequest(
            project_hash=ph(given), data_hash=given["data"][0], stage_uuid=str(stage(given, AgentStage).uuid),
            pathway_name="retry",
        ),
    ),
]  # fmt: skip


def bundled_actions(given: Given) -> None:
    first, second = given["tasks"][:2]
    with given["project"].create_bundle() as bundle:
        first.release(bundle=bundle)
        second.submit(assignee=given["project"].creator_email, retain_assignee=True, bundle=bundle)


# ---- issues -------------------------------------------------------------------------------------


def issue_anchor(given: Given, **members: Any) -> workflow_pb2.IssueAnchor:
    return workflow_pb2.IssueAnchor(data_uuid=given["data"][0], **members)


ISSUE_CASES = [
    WireCase(
        name="CreateTaskIssues as TaskIssues.add_file_issue",
        rpc="WorkflowService.CreateTaskIssues",
        proves=("W-08", "E-03"),
        setup=with_issue_tag,
        sdk=lambda sides, given: given["task"].issues.add_file_issue("wrong image", ["blurry"]),
        request=lambda given: workflow_pb2.CreateTaskIssuesRequest(
            project_hash=ph(given),
            issues=[workflow_pb2.NewIssue(anchor=issue_anchor(given, type=workflow_pb2.ISSUE_ANCHOR_TYPE_DATA_UNIT),
                                          comment="wrong image", issue_tags=["blurry"])],
        ),
    ),
    WireCase(
        name="CreateTaskIssues as TaskIssues.add_coordinate_issue in a space",
        rpc="WorkflowService.CreateTaskIssues",
        proves=("W-08", "E-03"),
        setup=with_issue_tag,
        sdk=lambda sides, given: given["task"].issues.add_coordinate_issue(0, 0.25, 0.5, "here", [], space_id="s1"),
        request=lambda given: workflow_pb2.CreateTaskIssuesRequest(
            project_hash=ph(given),
            issues=[workflow_pb2.NewIssue(
                anchor=issue_anchor(given, type=workflow_pb2.ISSUE_ANCHOR_TYPE_FRAME_COORDINATE, space_id="s1",
                                    frame_index=0, x=0.25, y=0.5),
                comment="here")],
        ),
    ),
    WireCase(
        name="CreateTaskIssues as TaskIssues.add_annotation_issue over frame ranges",
        free_form=True,
        rpc="WorkflowService.CreateTaskIssues",
        proves=("W-08", "E-03"),
        setup=with_issue_tag,
        sdk=lambda sides, given: given["task"].issues.add_annotation_issue(
            labels_of(given)[0], "bad contour", ["blurry"], frame_ranges=[IssueFrameRange(start=0, end=0)]
        ),
        request=lambda given: workflow_pb2.CreateTaskIssuesRequest(
            project_hash=ph(given),
            issues=[workflow_pb2.NewIssue(
                anchor=issue_anchor(given, type=workflow_pb2.ISSUE_ANCHOR_TYPE_ANNOTATION,
                                    annotation_id=labels_of(given)[0],
                                    frame_ranges=struct_pb2.ListValue(values=[struct_pb2.Value(
                                        struct_value=struct({"start": 0, "end": 0}))])),
                comment="bad contour", issue_tags=["blurry"])],
        ),
    ),
    WireCase(
        name="ListTaskIssues as TaskIssues.list",
        rpc="WorkflowService.ListTaskIssues",
        proves=("W-08", "E-03"),
        setup=with_issue_tag,
        sdk=lambda sides, given: list(given["task"].issues.list()),
        request=lambda given: workflow_pb2.ListTaskIssuesRequest(project_hash=ph(given), data_unit_id=given["data"][0]),
    ),
    WireCase(
        name="DeleteTaskIssues as TaskIssues.delete",
        rpc="WorkflowService.DeleteTaskIssues",
        proves=("W-08", "E-03"),
        setup=lambda sides: {
            **(g := with_issue_tag(sides)),
            "issues": (g["task"].issues.add_frame_issue(0, "one", []), list(g["task"].issues.list()))[1],
        },
        sdk=lambda sides, given: given["task"].issues.delete(given["issues"]),
        request=lambda given: workflow_pb2.DeleteTaskIssuesRequest(
            project_hash=ph(given), issue_uuids=[str(i.uuid) for i in given["issues"]]
        ),
    ),
    WireCase(
        name="ListIssueTags as get_issue_tags",
        rpc="WorkflowService.ListIssueTags",
        proves=("E-02",),
        setup=with_issue_tag,
        sdk=lambda sides, given: list(given["project"].get_issue_tags()),
        request=lambda given: workflow_pb2.ListIssueTagsRequest(project_hash=ph(given)),
    ),
    WireCase(
        name="AddIssueTags as add_issue_tags",
        rpc="WorkflowService.AddIssueTags",
        proves=("E-02",),
        setup=project_with_rows,
        sdk=lambda sides, given: given["project"].add_issue_tags(["blurry", "wrong class"]),
        request=lambda given: workflow_pb2.AddIssueTagsRequest(
            project_hash=ph(given), issue_tag_names=["blurry", "wrong class"]
        ),
    ),
]  # fmt: skip


# ---- analytics ----------------------------------------------------------------------------------


def with_activity(sides: WireSides) -> Given:
    """Labels saved and the image's task submitted: something in every log."""
    given = project_with_rows(sides)
    first_task(given).submit()
    given["email"] = given["project"].creator_email
    given["window"] = recently()
    return given


ANALYTICS_CASES = [
    WireCase(
        name="ListLabelLogs as the deprecated get_label_logs",
        rpc="AnalyticsService.ListLabelLogs",
        proves=("P-17",),
        setup=with_activity,
        sdk=lambda sides, given: deprecated(lambda: given["project"].get_label_logs()),
        request=lambda given: analytics_pb2.ListLabelLogsRequest(project_hash=ph(given)),
    ),
    WireCase(
        name="ListLabelLogs by data unit, user and moments",
        rpc="AnalyticsService.ListLabelLogs",
        proves=("P-17",),
        setup=with_activity,
        sdk=lambda sides, given: deprecated(
            lambda: given["project"].get_label_logs(
                data_hash=given["data"][0], user_email=given["email"], after=given["window"][0],
                before=given["window"][1],
            )
        ),
        request=lambda given: analytics_pb2.ListLabelLogsRequest(
            project_hash=ph(given), data_hash=given["data"][0], user_email=given["email"],
            start_timestamp=timestamp(given["window"][0]), end_timestamp=timestamp(given["window"][1]),
        ),
    ),
    WireCase(
        name="ListEditorLogs as get_editor_logs with every filter",
        rpc="AnalyticsService.ListEditorLogs",
        proves=("P-18",),
        setup=with_activity,
        sdk=lambda sides, given: list(
            given["project"].get_editor_logs(
                given["window"][0], given["window"][1], action="add", actor_user_email=given["email"],
                workflow_stage_id=stage(given, AnnotationStage).uuid, data_unit_id=given["data"][0],
            )
        ),
        request=lambda given: analytics_pb2.ListEditorLogsRequest(
            project_hash=ph(given), start_time=timestamp(given["window"][0]), end_time=timestamp(given["window"][1]),
            action="add", actor_user_email=given["email"], workflow_stage_id=annotate_uuid(given),
            data_unit_id=given["data"][0],
        ),
    ),
    WireCase(
        name="ListCollaboratorTimers as the deprecated list_collaborator_timers per project",
        rpc="AnalyticsService.ListCollaboratorTimers",
        proves=("P-19",),
        setup=with_activity,
        sdk=lambda sides, given: deprecated(
            lambda: list(given["project"].list_collaborator_timers(
                after=given["window"][0], before=given["window"][1], group_by_data_unit=False))
        ),
        request=lambda given: analytics_pb2.ListCollaboratorTimersRequest(
            project_hash=ph(given), after=timestamp(given["window"][0]), before=timestamp(given["window"][1]),
            group_by=analytics_pb2.COLLABORATOR_TIMERS_GROUP_BY_PROJECT,
        ),
    ),
    WireCase(
        name="ListCollaboratorTimers per data unit since a moment",
        rpc="AnalyticsService.ListCollaboratorTimers",
        proves=("P-19",),
        setup=with_activity,
        sdk=lambda sides, given: deprecated(lambda: list(given["project"].list_collaborator_timers(after=LONG_AGO))),
        request=lambda given: analytics_pb2.ListCollaboratorTimersRequest(project_hash=ph(given), after=timestamp(LONG_AGO)),
    ),
    WireCase(
        name="ListTimeSpent as list_time_spent by stage and user",
        rpc="AnalyticsService.ListTimeSpent",
        proves=("P-20",),
        setup=with_activity,
        sdk=lambda sides, given: list(
            given["project"].list_time_spent(
                given["window"][0], given["window"][1], workflow_stage_uuid=annotate_uuid(given),
                user_email=given["email"],
            )
        ),
        request=lambda given: analytics_pb2.ListTimeSpentRequest(
            project_uuid=ph(given), after=timestamp(given["window"][0]), before=timestamp(given["window"][1]),
            workflow_stage_uuids=[annotate_uuid(given)], user_emails=[given["email"]],
        ),
    ),
    WireCase(
        name="ListTaskActions as get_task_actions with every filter",
        rpc="AnalyticsService.ListTaskActions",
        proves=("P-21",),
        setup=with_activity,
        sdk=lambda sides, given: list(
            given["project"].get_task_actions(
                after=given["window"][0], before=given["window"][1], actor_email=given["email"],
                action_type=[TaskActionType.SUBMIT, TaskActionType.ASSIGN], workflow_stage_uuid=annotate_uuid(given),
                data_unit_uuid=given["data"],
            )
        ),
        request=lambda given: analytics_pb2.ListTaskActionsRequest(
            project_uuid=ph(given), after=timestamp(given["window"][0]), before=timestamp(given["window"][1]),
            actor_emails=[given["email"]],
            event_types=[analytics_pb2.TASK_ACTION_TYPE_SUBMIT, analytics_pb2.TASK_ACTION_TYPE_ASSIGN],
            workflow_stage_uuids=[annotate_uuid(given)], data_unit_uuids=given["data"],
        ),
    ),
]  # fmt: skip

CASES = [*LABEL_ROW_CASES, *WORKFLOW_CASES, *ISSUE_CASES, *ANALYTICS_CASES]
