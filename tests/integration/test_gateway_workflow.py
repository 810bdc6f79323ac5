"""Workflow through a real gateway: stages, tasks and what people do with them, label reviews and the issues
they raise, moves, priorities, the integration's "Move workflow task", and the analytics those leave behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import analytics_pb2, labels_pb2, workflow_pb2
from google.protobuf import timestamp_pb2
from labelling import (
    Labelled,
    LabelStubs,
    create_rows,
    described,
    label_stubs,
    labelled_project,
    project_calls,
    save,
    with_box,
    x_cache,
)

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox, Stubs

A = workflow_pb2
CONSENSUS = [
    {"key": "annotate", "stageType": "CONSENSUS_ANNOTATION", "title": "Annotate", "next": "review", "annotators": 2},
    {"key": "review", "stageType": "CONSENSUS_REVIEW", "title": "Review", "approve": "done", "reject": "annotate"},
    {"key": "done", "stageType": "DONE", "title": "Complete"},
]
AGENT = [
    {"key": "triage", "stageType": "AGENT", "title": "Triage",
     "pathways": [{"title": "easy", "to": "done"}, {"title": "hard", "to": "annotate"}]},
    {"key": "annotate", "stageType": "ANNOTATION", "title": "Annotate", "next": "done"},
    {"key": "done", "stageType": "DONE", "title": "Complete"},
]  # fmt: skip


@pytest.fixture(scope="module")
def labels(gateway: GatewayProcess) -> Iterator[LabelStubs]:
    with gateway.channel() as channel:
        yield label_stubs(channel)


class Flow:
    """One project's workflow as a caller drives it through the gateway."""

    def __init__(self, gateway: GatewayProcess, labels: LabelStubs, made: Labelled) -> None:
        self.md = gateway.auth_metadata
        self.labels = labels
        self.made = made
        self.email = gateway.user.email
        stages = labels.workflow.ListWorkflowStages(
            A.ListWorkflowStagesRequest(project_hash=made.project), metadata=self.md
        )
        self.stages = {s.title: s for s in stages.stages}

    def uuid(self, title: str) -> str:
        return self.stages[title].uuid

    def tasks(self, title: str, **filters: object) -> list[A.WorkflowTask]:
        request = A.ListStageTasksRequest(project_hash=self.made.project, stage_uuid=self.uuid(title), **filters)
        return list(self.labels.workflow.ListStageTasks(request, metadata=self.md).tasks)

    def every_task(self, title: str) -> list[A.WorkflowTask]:
        """Every page of a stage's tasks."""
        tasks: list[A.WorkflowTask] = []
        token = ""
        while True:
            request = A.ListStageTasksRequest(
                project_hash=self.made.project, stage_uuid=self.uuid(title), page_token=token
            )
            page = self.labels.workflow.ListStageTasks(request, metadata=self.md)
            tasks += page.tasks
            token = page.next_page_token
            if not token:
                return tasks

    def task(self, title: str, data_hash: str) -> A.WorkflowTask:
        (task,) = self.tasks(title, data_hashes=[data_hash])
        return task

    def act(self, title: str, *actions: A.TaskAction) -> None:
        request = A.ApplyTaskActionsRequest(
            project_hash=self.made.project, stage_uuid=self.uuid(title), actions=actions
        )
        self.labels.workflow.ApplyTaskActions(request, metadata=self.md)

    def where(self) -> dict[str, str]:
        """Stage title of every data unit's row."""
        rows = self.labels.labels.ListLabelRows(
            labels_pb2.ListLabelRowsRequest(project_hash=self.made.project), metadata=self.md
        )
        return {r.data_hash: r.workflow_graph_node.title for r in rows.label_rows}


def flow_of(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, title: str, **options: object
) -> Flow:
    return Flow(gateway, labels, labelled_project(gateway, stubs, sandbox, title, **options))  # type: ignore[arg-type]


def test_a_project_follows_encords_default_workflow_and_a_benchmark_project_none(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    gateway_kit: GatewayKit,
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("default"))
    manual = labelled_project(gateway, stubs, sandbox, make_title("manual"), benchmark=True)

    with pytest.raises(grpc.RpcError) as none:
        labels.workflow.ListWorkflowStages(A.ListWorkflowStagesRequest(project_hash=manual.project), metadata=flow.md)

    assert [(s.title, s.stage_type) for s in flow.stages.values()] == [
        ("Annotate", A.WORKFLOW_STAGE_TYPE_ANNOTATION),
        ("Review", A.WORKFLOW_STAGE_TYPE_REVIEW),
        ("Complete", A.WORKFLOW_STAGE_TYPE_DONE),
    ]
    assert [t.data_hash for t in flow.tasks("Annotate")] == flow.made.units
    assert all(t.status == A.WORKFLOW_TASK_STATUS_NEW and t.label_branch_name == "main" for t in flow.tasks("Annotate"))
    assert gateway_kit.grpc_error(none.value).code == "NOT_FOUND"


def test_tasks_page_at_the_callers_size_and_filter_by_status_and_title(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(
        gateway, stubs, labels, sandbox, make_title("paged"), units=[{"title": f"t{n}.jpg"} for n in range(5)]
    )
    first = flow.task("Annotate", flow.made.units[0])
    flow.act("Annotate", A.TaskAction(task_uuid=first.uuid, action=A.TASK_ACTION_KIND_ASSIGN, assignee=flow.email))

    pages, token = [], ""
    while True:
        page = labels.workflow.ListStageTasks(
            A.ListStageTasksRequest(
                project_hash=flow.made.project, stage_uuid=flow.uuid("Annotate"), page_size=2, page_token=token
            ),
            metadata=flow.md,
        )
        pages.append([t.data_hash for t in page.tasks])
        token = page.next_page_token
        if not token:
            break

    assert pages == [flow.made.units[0:2], flow.made.units[2:4], flow.made.units[4:]]
    assigned = flow.tasks("Annotate", statuses=[A.WORKFLOW_TASK_STATUS_ASSIGNED])
    assert [(t.data_hash, t.assignee) for t in assigned] == [(flow.made.units[0], flow.email)]
    assert [t.data_hash for t in flow.tasks("Annotate", data_title_contains="T3")] == flow.made.units[3:4]
    assert [t.data_hash for t in flow.tasks("Annotate", user_emails=[flow.email])] == flow.made.units[:1]


def test_a_task_goes_from_annotation_through_review_to_complete(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("lifecycle"))
    unit = flow.made.units[0]
    listed_before, _ = labels.workflow.ListStageTasks.with_call(
        A.ListStageTasksRequest(project_hash=flow.made.project, stage_uuid=flow.uuid("Review")), metadata=flow.md
    )
    annotate = flow.task("Annotate", unit)
    flow.act("Annotate", A.TaskAction(task_uuid=annotate.uuid, action=A.TASK_ACTION_KIND_ASSIGN, assignee=flow.email))
    flow.act(
        "Annotate",
        A.TaskAction(
            task_uuid=annotate.uuid, action=A.TASK_ACTION_KIND_SUBMIT, resolve_label_reviews=True, retain_assignee=True
        ),
    )
    review, listed_after = labels.workflow.ListStageTasks.with_call(
        A.ListStageTasksRequest(project_hash=flow.made.project, stage_uuid=flow.uuid("Review")), metadata=flow.md
    )
    in_review = flow.where()
    flow.act(
        "Review", A.TaskAction(task_uuid=annotate.uuid, action=A.TASK_ACTION_KIND_APPROVE, approve_label_reviews=True)
    )

    assert list(listed_before.tasks) == [] and x_cache(listed_after) == "miss"  # the action dropped the cached page
    assert [(t.uuid, t.assignee, t.status) for t in review.tasks] == [
        (annotate.uuid, flow.email, A.WORKFLOW_TASK_STATUS_ASSIGNED)
    ]
    assert in_review[unit] == "Review"
    assert flow.where()[unit] == "Complete"
    assert [t.data_hash for t in flow.tasks("Complete")] == [unit]


def test_a_repeated_delivery_of_an_action_moves_the_task_once(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("repeat"))
    since = timestamp(datetime.now(UTC) - timedelta(minutes=1))
    task = flow.task("Annotate", flow.made.units[0])
    submit = A.TaskAction(task_uuid=task.uuid, action=A.TASK_ACTION_KIND_SUBMIT)

    flow.act("Annotate", submit)
    flow.act("Annotate", submit)  # as the SDK's retry after a lost answer would

    events = labels.analytics.ListTaskActions(
        analytics_pb2.ListTaskActionsRequest(project_uuid=flow.made.project, after=since), metadata=flow.md
    ).events
    assert [(e.action_type, e.task_uuid) for e in events] == [(analytics_pb2.TASK_ACTION_TYPE_SUBMIT, task.uuid)]
    assert flow.where()[flow.made.units[0]] == "Review"


def test_a_rejected_label_raises_an_issue_that_the_resubmission_resolves(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("reviews"))
    unit = flow.made.units[0]
    (document,) = create_rows(gateway, labels, flow.made, [unit])
    save(gateway, labels, flow.made, [with_box(with_box(document, "aaaa0001"), "aaaa0002")])
    labels.workflow.AddIssueTags(
        A.AddIssueTagsRequest(project_hash=flow.made.project, issue_tag_names=["loose"]), metadata=flow.md
    )
    task = flow.task("Annotate", unit)
    flow.act("Annotate", A.TaskAction(task_uuid=task.uuid, action=A.TASK_ACTION_KIND_SUBMIT))
    reviews_request = A.ListLabelReviewsRequest(
        project_hash=flow.made.project, stage_uuid=flow.uuid("Review"), task_uuid=task.uuid
    )
    reviews = {r.label_id: r for r in labels.workflow.ListLabelReviews(reviews_request, metadata=flow.md).reviews}

    labels.workflow.ApplyLabelReviewActions(
        A.ApplyLabelReviewActionsRequest(
            project_hash=flow.made.project, stage_uuid=flow.uuid("Review"), task_uuid=task.uuid,
            actions=[
                A.LabelReviewAction(review_uuid=reviews["aaaa0001"].review_uuid, action=A.LABEL_REVIEW_ACTION_KIND_APPROVE),
                A.LabelReviewAction(review_uuid=reviews["aaaa0002"].review_uuid, action=A.LABEL_REVIEW_ACTION_KIND_REJECT,
                                    comment="too loose", comment_tags=["loose"]),
            ],
        ),
        metadata=flow.md,
    )  # fmt: skip
    decided = {
        r.label_id: r.status for r in labels.workflow.ListLabelReviews(reviews_request, metadata=flow.md).reviews
    }
    flow.act("Review", A.TaskAction(task_uuid=task.uuid, action=A.TASK_ACTION_KIND_REJECT))
    returned = flow.task("Annotate", unit)
    issues_request = A.ListTaskIssuesRequest(project_hash=flow.made.project, data_unit_id=unit)
    (raised,) = labels.workflow.ListTaskIssues(issues_request, metadata=flow.md).issues
    flow.act(
        "Annotate", A.TaskAction(task_uuid=task.uuid, action=A.TASK_ACTION_KIND_SUBMIT, resolve_label_reviews=True)
    )
    (resolved,) = labels.workflow.ListTaskIssues(issues_request, metadata=flow.md).issues

    assert set(reviews) == {"aaaa0001", "aaaa0002"} and {r.label_type for r in reviews.values()} == {"Object"}
    assert decided == {"aaaa0001": A.LABEL_REVIEW_STATUS_APPROVED, "aaaa0002": A.LABEL_REVIEW_STATUS_REJECTED}
    assert returned.status == A.WORKFLOW_TASK_STATUS_REOPENED
    assert (raised.type, raised.annotation_id) == (A.ISSUE_ANCHOR_TYPE_ANNOTATION, "aaaa0002")
    assert [(c.content, c.author_email) for c in raised.comments] == [("too loose", flow.email)]
    assert [t.name for t in raised.tags] == ["loose"] and list(raised.resolution_history) == []
    assert [(r.is_resolved, r.actor_email) for r in resolved.resolution_history] == [(True, flow.email)]


def test_moves_completion_reopening_and_priorities_show_in_the_label_rows(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("moves"))
    first, second, third = flow.made.units
    rows = create_rows(gateway, labels, flow.made, [first, second])
    moved = flow.task("Annotate", third)

    labels.workflow.MoveTasks(
        A.MoveTasksRequest(
            project_hash=flow.made.project, origin_stage_uuid=flow.uuid("Annotate"), task_uuids=[moved.uuid],
            destination_stage_uuid=flow.uuid("Review"),
        ),
        metadata=flow.md,
    )  # fmt: skip
    hashes = [r["label_hash"] for r in rows]
    labels.workflow.CompleteLabelRows(
        A.CompleteLabelRowsRequest(project_hash=flow.made.project, label_hashes=hashes), metadata=flow.md
    )
    completed = flow.where()
    labels.workflow.ReopenLabelRows(
        A.ReopenLabelRowsRequest(project_hash=flow.made.project, label_hashes=hashes[1:]), metadata=flow.md
    )
    labels.workflow.SetTaskPriorities(
        A.SetTaskPrioritiesRequest(
            project_hash=flow.made.project, priorities=[A.TaskPriority(data_hash=second, priority=0.9)]
        ),
        metadata=flow.md,
    )
    listed = labels.labels.ListLabelRows(
        labels_pb2.ListLabelRowsRequest(project_hash=flow.made.project), metadata=flow.md
    )

    assert completed == {first: "Complete", second: "Complete", third: "Review"}
    by_unit = {r.data_hash: r for r in listed.label_rows}
    assert {h: r.workflow_graph_node.title for h, r in by_unit.items()} == {
        first: "Complete",
        second: "Annotate",
        third: "Review",
    }
    assert by_unit[second].annotation_task_status == labels_pb2.ANNOTATION_TASK_STATUS_RETURNED
    assert by_unit[second].priority == pytest.approx(0.9)
    assert not by_unit[first].HasField("priority")  # a completed task has none
    assert by_unit[first].annotation_task_status == labels_pb2.ANNOTATION_TASK_STATUS_COMPLETED


def test_moving_more_tasks_than_encord_takes_at_once_is_two_calls(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(
        gateway, stubs, labels, sandbox, make_title("bulk"), units=[{"title": f"{n}.jpg"} for n in range(501)]
    )
    tasks = [t.uuid for t in flow.every_task("Annotate")]
    sandbox.clear_requests_log()

    labels.workflow.MoveTasks(
        A.MoveTasksRequest(
            project_hash=flow.made.project, origin_stage_uuid=flow.uuid("Annotate"), task_uuids=tasks,
            destination_stage_uuid=flow.uuid("Complete"),
        ),
        metadata=flow.md,
    )  # fmt: skip

    assert described(project_calls(sandbox, flow.made.project)) == ["v2 POST", "v2 POST"]  # 500 + 1
    assert len(tasks) == 501 and len(flow.every_task("Complete")) == 501


def test_move_workflow_task_advances_a_task_as_its_stage_does(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("advance"))
    first, second, third = flow.made.units

    def advance(data_hash: str, stage: str, **options: str) -> str:
        request = A.MoveWorkflowTaskRequest(
            project_hash=flow.made.project, data_hash=data_hash, stage_uuid=flow.uuid(stage), **options
        )
        return labels.workflow.MoveWorkflowTask(request, metadata=flow.md).task_uuid

    moved = advance(first, "Annotate")
    after_submit = flow.where()
    advance(first, "Review", pathway_name="reject")
    after_reject = flow.where()
    advance(second, "Annotate")
    advance(second, "Review")
    advance(third, "Annotate", destination_stage_uuid=flow.uuid("Complete"))

    assert moved == flow.task("Annotate", first).uuid
    assert after_submit[first] == "Review" and after_reject[first] == "Annotate"
    assert flow.where() == {first: "Annotate", second: "Complete", third: "Complete"}


def test_move_workflow_task_follows_an_agents_pathway_and_refuses_what_it_cannot_find(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    gateway_kit: GatewayKit,
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("agent"), template=AGENT)
    first, second, third = flow.made.units
    triage = flow.uuid("Triage")

    def advance(data_hash: str, stage: str, **options: str) -> None:
        request = A.MoveWorkflowTaskRequest(
            project_hash=flow.made.project, data_hash=data_hash, stage_uuid=stage, **options
        )
        labels.workflow.MoveWorkflowTask(request, metadata=flow.md)

    advance(first, triage, pathway_name="easy")
    advance(second, triage, pathway_name="hard")
    sandbox.clear_requests_log()
    with pytest.raises(grpc.RpcError) as no_stage:
        advance(third, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(grpc.RpcError) as no_task:
        advance(first, triage, pathway_name="easy")  # it has left the stage
    with pytest.raises(grpc.RpcError) as no_pathway:
        advance(third, triage, pathway_name="nowhere")
    calls = described(project_calls(sandbox, flow.made.project))

    assert flow.where() == {first: "Complete", second: "Annotate", third: "Triage"}
    assert [gateway_kit.grpc_error(e.value).code for e in (no_stage, no_task, no_pathway)] == [
        "NOT_FOUND", "NOT_FOUND", "INVALID_ARGUMENT"
    ]  # fmt: skip
    # Neither refusal for want of a stage or task acted on anything.
    assert calls == ["v2 GET"] * 5 + ["v2 POST"]


def test_consensus_annotators_work_on_their_own_branches_and_the_reviewer_chooses(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("consensus"), template=CONSENSUS)
    unit = flow.made.units[0]
    (parent,) = flow.tasks("Annotate", data_hashes=[unit])
    branches = [s.label_branch_name for s in parent.subtasks]
    labels.labels.CreateLabelRows(
        labels_pb2.CreateLabelRowsRequest(project_hash=flow.made.project, data_hashes=[unit], branch_name=branches[0]),
        metadata=flow.md,
    )

    flow.act("Annotate", *[A.TaskAction(task_uuid=s.uuid, action=A.TASK_ACTION_KIND_SUBMIT) for s in parent.subtasks])
    (review,) = flow.tasks("Review")
    flow.act("Review", A.TaskAction(task_uuid=review.uuid, action=A.TASK_ACTION_KIND_APPROVE))

    assert branches == ["consensus-1", "consensus-2"]
    assert [(s.status, s.label_branch_name) for s in parent.subtasks] == [
        (A.WORKFLOW_TASK_STATUS_NEW, b) for b in branches
    ]
    assert [(o.annotator, o.label_branch_name) for o in review.options] == [(flow.email, b) for b in branches]
    assert bool(review.options[0].label_hash) and not review.options[1].label_hash  # only the first made a row
    assert flow.where()[unit] == "Complete"


def test_issues_need_the_projects_tags_and_are_deleted_all_or_none(
    gateway: GatewayProcess,
    stubs: Stubs,
    labels: LabelStubs,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
    gateway_kit: GatewayKit,
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("issues"))
    unit = flow.made.units[0]
    frame = A.NewIssue(
        anchor=A.IssueAnchor(type=A.ISSUE_ANCHOR_TYPE_FRAME, data_uuid=unit, frame_index=0),
        comment="dark",
        issue_tags=["exposure"],
    )
    create = A.CreateTaskIssuesRequest(project_hash=flow.made.project, issues=[frame])

    with pytest.raises(grpc.RpcError) as untagged:
        labels.workflow.CreateTaskIssues(create, metadata=flow.md)
    labels.workflow.AddIssueTags(
        A.AddIssueTagsRequest(project_hash=flow.made.project, issue_tag_names=["exposure"]), metadata=flow.md
    )
    labels.workflow.CreateTaskIssues(create, metadata=flow.md)
    listing = A.ListTaskIssuesRequest(project_hash=flow.made.project, data_unit_id=unit)
    (issue,) = labels.workflow.ListTaskIssues(listing, metadata=flow.md).issues
    with pytest.raises(grpc.RpcError) as unknown:
        labels.workflow.DeleteTaskIssues(
            A.DeleteTaskIssuesRequest(project_hash=flow.made.project, issue_uuids=[issue.uuid, flow.made.project]),
            metadata=flow.md,
        )
    kept = labels.workflow.ListTaskIssues(listing, metadata=flow.md).issues
    labels.workflow.DeleteTaskIssues(
        A.DeleteTaskIssuesRequest(project_hash=flow.made.project, issue_uuids=[issue.uuid]), metadata=flow.md
    )
    tags = labels.workflow.ListIssueTags(A.ListIssueTagsRequest(project_hash=flow.made.project), metadata=flow.md).tags

    assert gateway_kit.grpc_error(untagged.value).code == "INVALID_ARGUMENT"
    assert (issue.type, issue.frame_index, [t.name for t in issue.tags]) == (A.ISSUE_ANCHOR_TYPE_FRAME, 0, ["exposure"])
    assert gateway_kit.grpc_error(unknown.value).code == "NOT_FOUND" and [i.uuid for i in kept] == [issue.uuid]
    assert list(labels.workflow.ListTaskIssues(listing, metadata=flow.md).issues) == []
    assert [t.name for t in tags] == ["exposure"]


def test_an_empty_list_of_actions_is_refused_before_anything_is_sent(
    gateway: GatewayProcess, labels: LabelStubs, sandbox: Sandbox, gateway_kit: GatewayKit
) -> None:
    project, stage = "00000000-0000-0000-0000-0000000000cc", "00000000-0000-0000-0000-0000000000dd"
    sandbox.clear_requests_log()

    with pytest.raises(grpc.RpcError) as refused:
        labels.workflow.ApplyTaskActions(
            A.ApplyTaskActionsRequest(project_hash=project, stage_uuid=stage), metadata=gateway.auth_metadata
        )

    details = gateway_kit.grpc_error(refused.value)
    assert (details.code, details.fields) == ("INVALID_ARGUMENT", ("actions",))
    assert project_calls(sandbox, project) == []


# ---- analytics ------------------------------------------------------------------------------------


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def test_what_people_did_is_in_the_logs_the_task_actions_and_the_time_they_spent(
    gateway: GatewayProcess, stubs: Stubs, labels: LabelStubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    flow = flow_of(gateway, stubs, labels, sandbox, make_title("analytics"))
    started = datetime.now(UTC) - timedelta(seconds=1)
    unit = flow.made.units[0]
    (document,) = create_rows(gateway, labels, flow.made, [unit])
    save(gateway, labels, flow.made, [with_box(document, "d0d0d0d0")])
    task = flow.task("Annotate", unit)
    flow.act("Annotate", A.TaskAction(task_uuid=task.uuid, action=A.TASK_ACTION_KIND_SUBMIT))
    ended = datetime.now(UTC) + timedelta(seconds=1)
    P = analytics_pb2
    project = flow.made.project

    logs = labels.analytics.ListLabelLogs(
        P.ListLabelLogsRequest(project_hash=project, data_hash=unit), metadata=flow.md
    ).label_logs
    editor = labels.analytics.ListEditorLogs(
        P.ListEditorLogsRequest(project_hash=project, start_time=timestamp(started), end_time=timestamp(ended)),
        metadata=flow.md,
    ).logs
    actions = labels.analytics.ListTaskActions(
        P.ListTaskActionsRequest(
            project_uuid=project, after=timestamp(started), event_types=[P.TASK_ACTION_TYPE_SUBMIT]
        ),
        metadata=flow.md,
    ).events
    spent = labels.analytics.ListTimeSpent(
        P.ListTimeSpentRequest(project_uuid=project, after=timestamp(started), user_emails=[flow.email]),
        metadata=flow.md,
    ).entries
    timers = labels.analytics.ListCollaboratorTimers(
        P.ListCollaboratorTimersRequest(
            project_hash=project, after=timestamp(started), group_by=P.COLLABORATOR_TIMERS_GROUP_BY_PROJECT
        ),
        metadata=flow.md,
    ).timers
    nobody = labels.analytics.ListTimeSpent(
        P.ListTimeSpentRequest(project_uuid=project, after=timestamp(started), user_emails=["nobody@sandbox.test"]),
        metadata=flow.md,
    ).entries

    assert [(log.action, log.identifier, log.label_name) for log in logs] == [
        (P.LABEL_LOG_ACTION_ADD, "d0d0d0d0", "Car"), (P.LABEL_LOG_ACTION_SUBMIT_TASK, "", "")
    ]  # fmt: skip
    assert (logs[0].HasField("frame"), logs[0].frame, logs[1].HasField("frame")) == (True, 0, False)
    assert [(e.action_category, e.action) for e in editor] == [
        (P.EDITOR_LOG_ACTION_CATEGORY_OBJECT, "add"), (P.EDITOR_LOG_ACTION_CATEGORY_TASK, "submit")
    ]  # fmt: skip
    assert editor[0].object_hash == "d0d0d0d0" and editor[0].workflow_stage_title == "Annotate"
    assert [(e.task_uuid, e.data_unit_uuid, e.actor_email, e.workflow_stage_uuid) for e in actions] == [
        (task.uuid, unit, flow.email, flow.uuid("Annotate"))
    ]
    (entry,) = spent
    elapsed = (ended - started).total_seconds()
    assert (entry.data_uuid, entry.workflow_task_uuid, entry.workflow_stage.title) == (unit, task.uuid, "Annotate")
    assert 1 <= entry.time_spent_seconds <= elapsed
    (timer,) = timers
    assert timer.user_email == flow.email and 0 < timer.time_seconds <= elapsed and timer.data_title == ""
    assert list(nobody) == []
