"""The official Encord SDK (0.1.211) driving workflows in the sandbox end to end: a project on a template, data,
labels, submission, review with label reviews and issues, approval, and what the analytics then say."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from encord import EncordUserClient
from encord.exceptions import InvalidArgumentsError
from encord.issues import AnnotationIssue, CoordinateIssue, FileIssue, FrameIssue, IssueFrameRange
from encord.objects import Object, OntologyStructure, Shape
from encord.objects.coordinates import BoundingBoxCoordinates
from encord.orm.analytics import TaskActionType
from encord.orm.dataset import StorageLocation
from encord.orm.label_log import Action
from encord.project import Project
from encord.workflow import (
    AgentStage,
    AnnotationStage,
    ConsensusAnnotationStage,
    ConsensusReviewStage,
    FinalStage,
    ReviewStage,
)
from encord.workflow.stages.annotation import AnnotationTaskStatus
from encord.workflow.stages.review import LabelReviewStatus, ReviewTaskStatus

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

EVERY_STAGE = [
    {"key": "triage", "stageType": "AGENT", "title": "Triage",
     "pathways": [{"title": "single", "to": "annotate"}, {"title": "many", "to": "consensus"}]},
    {"key": "annotate", "stageType": "ANNOTATION", "title": "Annotate", "next": "review"},
    {"key": "review", "stageType": "REVIEW", "title": "Review", "approve": "done", "reject": "annotate"},
    {"key": "consensus", "stageType": "CONSENSUS_ANNOTATION", "title": "Label together", "next": "decide",
     "annotators": 3},
    {"key": "decide", "stageType": "CONSENSUS_REVIEW", "title": "Decide", "approve": "done", "reject": "consensus"},
    {"key": "done", "stageType": "DONE", "title": "Complete"},
]  # fmt: skip


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


@pytest.fixture
def project_factory(client: EncordUserClient, sandbox: Sandbox) -> Callable[..., Project]:
    def make(template: list[dict[str, Any]] | None = None, images: int = 2) -> Project:
        dataset = client.create_dataset("workflow data", StorageLocation.CORD_STORAGE).dataset_hash
        sandbox.seed_data_units(dataset, [{"title": f"image-{n}.jpg"} for n in range(images)])
        structure = OntologyStructure()
        structure.add_object("Car", Shape.BOUNDING_BOX)
        ontology = client.create_ontology("cars", structure=structure).ontology_hash
        template_hash = sandbox.create_workflow_template("every stage", template) if template else None
        return client.get_project(
            client.create_project("workflow", [dataset], ontology_hash=ontology, workflow_template_hash=template_hash)
        )

    return make


def label_a_car(project: Project, data_title: str) -> str:
    (row,) = project.list_label_rows_v2(data_title_eq=data_title)
    row.initialise_labels()
    instance = row.ontology_structure.get_child_by_title("Car", type_=Object).create_instance()
    instance.set_for_frames(BoundingBoxCoordinates(height=0.5, width=0.5, top_left_x=0.25, top_left_y=0.25), frames=0)
    row.add_object_instance(instance)
    row.save()
    return instance.object_hash


def stage_of(project: Project, data_title: str) -> str:
    (row,) = project.list_label_rows_v2(data_title_eq=data_title)
    assert row.workflow_graph_node is not None
    return row.workflow_graph_node.title


def test_a_project_without_a_template_gets_encords_default_workflow(project_factory: Callable[..., Project]) -> None:
    project = project_factory()

    stages = project.workflow.stages

    assert [(type(s), s.title) for s in stages] == [
        (AnnotationStage, "Annotate"),
        (ReviewStage, "Review"),
        (FinalStage, "Complete"),
    ]
    assert project.workflow.get_stage(name="Review", type_=ReviewStage).uuid == stages[1].uuid


def test_a_template_with_every_stage_type_builds_every_sdk_stage(project_factory: Callable[..., Project]) -> None:
    project = project_factory(EVERY_STAGE)

    stages = {s.title: s for s in project.workflow.stages}

    assert [type(s) for s in project.workflow.stages] == [
        AgentStage,
        AnnotationStage,
        ReviewStage,
        ConsensusAnnotationStage,
        ConsensusReviewStage,
        FinalStage,
    ]
    triage = stages["Triage"]
    assert isinstance(triage, AgentStage)
    assert [(p.name, p.destination_uuid) for p in triage.pathways] == [
        ("single", stages["Annotate"].uuid),
        ("many", stages["Label together"].uuid),
    ]
    assert [t.data_title for t in triage.get_tasks()] == ["image-0.jpg", "image-1.jpg"]


def test_labels_are_annotated_reviewed_returned_with_an_issue_fixed_and_approved(
    project_factory: Callable[..., Project], client: EncordUserClient, user: SandboxUser
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    project = project_factory()
    annotate = project.workflow.get_stage(name="Annotate", type_=AnnotationStage)
    review = project.workflow.get_stage(name="Review", type_=ReviewStage)
    car = label_a_car(project, "image-0.jpg")
    project.add_issue_tags(["loose box"])

    (task,) = annotate.get_tasks(data_title="image-0")
    task.assign(user.email)
    task.submit(retain_assignee=True)
    (in_review,) = review.get_tasks(assignee=user.email)
    (label_review,) = in_review.get_label_reviews()
    label_review.reject(comment="the box is loose", issue_tags=["loose box"])
    in_review.reject()
    (returned,) = annotate.get_tasks(status=AnnotationTaskStatus.REOPENED)
    (issue,) = returned.issues.list()
    returned.submit()
    (again,) = review.get_tasks()
    second_round = [r.status for r in again.get_label_reviews()]
    again.approve()

    assert (in_review.status, in_review.assignee) == (ReviewTaskStatus.ASSIGNED, user.email)
    assert (label_review.label_type, label_review.label_id, label_review.status) == (
        "Object",
        car,
        LabelReviewStatus.NEW,
    )
    assert isinstance(issue, AnnotationIssue) and issue.annotation_id == car
    assert [(c.content, c.author_email) for c in issue.comments] == [("the box is loose", user.email)]
    assert [t.name for t in issue.tags] == ["loose box"] and issue.resolution_history == []
    (resolved,) = returned.issues.list()
    assert [r.is_resolved for r in resolved.resolution_history] == [True]
    assert second_round == [LabelReviewStatus.NEW]  # a fresh review round
    assert stage_of(project, "image-0.jpg") == "Complete"
    assert [t.data_title for t in project.workflow.get_stage(name="Complete", type_=FinalStage).get_tasks()] == [
        "image-0.jpg"
    ]

    actions = [(a.action_type, a.actor_email) for a in project.get_task_actions(after=started)]
    assert actions == [
        (TaskActionType.ASSIGN, user.email),
        (TaskActionType.SUBMIT, user.email),
        (TaskActionType.REJECT, user.email),
        (TaskActionType.SUBMIT, user.email),
        (TaskActionType.APPROVE, user.email),
    ]
    editor = list(project.get_editor_logs(started, datetime.now(UTC) + timedelta(seconds=1)))
    assert ("object", "add") in {(e.action_category.value, e.action) for e in editor}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        logs = project.get_label_logs(user_email=user.email)
    assert [log.action for log in logs if log.identifier == car] == [Action.ADD, Action.REJECT_LABEL]
    assert Action.APPROVE_TASK in {log.action for log in logs}
    spent = list(project.list_time_spent(start=started, user_email=user.email))
    assert spent and all(s.data_title == "image-0.jpg" and s.time_spent_seconds >= 1 for s in spent)
    assert {s.workflow_stage.title for s in spent if s.workflow_stage} <= {"Annotate", "Review"}


def test_an_agent_proceeds_by_pathway_name_or_uuid_and_consensus_annotators_hand_over(
    project_factory: Callable[..., Project], user: SandboxUser
) -> None:
    project = project_factory(EVERY_STAGE)
    triage = project.workflow.get_stage(name="Triage", type_=AgentStage)
    first, second = triage.get_tasks()

    first.proceed(pathway_name="single")
    second.proceed(pathway_uuid=triage.pathways[1].uuid)
    together = project.workflow.get_stage(name="Label together", type_=ConsensusAnnotationStage)
    (shared,) = together.get_tasks()
    for subtask in shared.subtasks:
        subtask.assign(user.email)
        subtask.submit()
    decide = project.workflow.get_stage(name="Decide", type_=ConsensusReviewStage)
    (decision,) = decide.get_tasks()
    decision.approve()

    assert stage_of(project, first.data_title) == "Annotate"
    assert [s.label_branch_name for s in shared.subtasks] == ["consensus-1", "consensus-2", "consensus-3"]
    assert [(o.annotator, o.label_branch_name) for o in decision.options] == [
        (user.email, f"consensus-{n}") for n in (1, 2, 3)
    ]
    assert stage_of(project, second.data_title) == "Complete"


def test_moves_completion_reopening_and_priority(project_factory: Callable[..., Project]) -> None:
    project = project_factory(images=3)
    annotate = project.workflow.get_stage(name="Annotate", type_=AnnotationStage)
    complete = project.workflow.get_stage(name="Complete", type_=FinalStage)
    first, second, third = project.list_label_rows_v2()
    with project.create_bundle() as bundle:
        for row in (first, second):
            row.initialise_labels(bundle=bundle)

    (moved,) = annotate.get_tasks(data_hash=third.data_hash)
    moved.move(destination_stage_uuid=complete.uuid)
    first.workflow_complete()
    second.workflow_complete()
    second.workflow_reopen()
    first.set_priority(0.2)  # completed: no open task to prioritise
    second.set_priority(0.9)

    rows = {r.data_title: r for r in project.list_label_rows_v2()}
    assert {t: r.workflow_graph_node.title for t, r in rows.items() if r.workflow_graph_node} == {
        first.data_title: "Complete",
        second.data_title: "Annotate",
        third.data_title: "Complete",
    }
    assert (rows[second.data_title].priority, rows[first.data_title].priority) == (0.9, None)
    (reopened,) = annotate.get_tasks()
    assert reopened.status == AnnotationTaskStatus.REOPENED


def test_issues_of_every_anchor_are_listed_as_their_types_and_deleted(project_factory: Callable[..., Project]) -> None:
    project = project_factory()
    car = label_a_car(project, "image-0.jpg")
    project.add_issue_tags(["blurry", "wrong class"])
    (task,) = project.workflow.get_stage(name="Annotate", type_=AnnotationStage).get_tasks(data_title="image-0")

    task.issues.add_file_issue("the whole image is blurry", ["blurry"])
    task.issues.add_frame_issue(0, "this frame", [])
    task.issues.add_coordinate_issue(0, 0.25, 0.75, "here", ["wrong class"])
    task.issues.add_annotation_issue(car, "not a car", ["wrong class"], frame_ranges=[IssueFrameRange(start=0, end=0)])
    issues = list(task.issues.list())
    task.issues.delete(issues[:2])

    assert [type(i) for i in issues] == [FileIssue, FrameIssue, CoordinateIssue, AnnotationIssue]
    assert [t.name for t in issues[0].tags] == ["blurry"]
    assert isinstance(issues[2], CoordinateIssue) and (issues[2].coordinate.x, issues[2].coordinate.y) == (0.25, 0.75)
    assert isinstance(issues[3], AnnotationIssue) and issues[3].frame_ranges == [IssueFrameRange(start=0, end=0)]
    assert [type(i) for i in task.issues.list()] == [CoordinateIssue, AnnotationIssue]
    assert sorted(t.name for t in project.get_issue_tags()) == ["blurry", "wrong class"]


def test_workflow_refusals_reach_the_sdk_as_its_errors(project_factory: Callable[..., Project]) -> None:
    project = project_factory()
    annotate = project.workflow.get_stage(name="Annotate", type_=AnnotationStage)
    task, _ = annotate.get_tasks()

    with pytest.raises(InvalidArgumentsError):
        task.submit(retain_assignee=True)  # nobody to retain
    with pytest.raises(InvalidArgumentsError):
        task.assign("not-a-member@sandbox.test")
    with pytest.raises(InvalidArgumentsError):
        task.issues.add_file_issue("untagged", ["no such tag"])
    assert stage_of(project, "image-0.jpg") == "Annotate"
