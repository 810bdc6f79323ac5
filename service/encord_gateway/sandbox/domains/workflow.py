"""Workflow tasks (W-02..W-06, L-10): one task per data unit of a workflow project, moving through its stages.

A data unit's task appears in the project's first stage as soon as the unit is in one of the project's
datasets. What may happen to it depends on the stage it is in:

- annotation: ASSIGN, RELEASE, SUBMIT (to the stage's `next`, resolving rejected label reviews);
- review: ASSIGN, RELEASE, APPROVE (`approve` route) and REJECT (`reject` route, where it is REOPENED),
  each optionally deciding its label reviews, which are made when the task enters the stage: one per
  object and classification of the unit's main-branch label row;
- consensus annotation: the annotators' subtasks (each on its own label branch) are assigned, released
  and submitted; when all are submitted the task goes on, carrying their branches as review options;
- consensus review: ASSIGN, RELEASE, APPROVE, REJECT;
- agent: PATHWAY_ACTION along one of the stage's pathways;
- final (DONE): nothing but moves.

Every action is journalled (analytics.py). Label rows are a later domain: their records are read by kind name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import invalid, not_found
from ..operations import NO_CONTENT, V1Key, V1Operation, V2Call, V2Route
from ..paging import page
from ..records import new_hash, now, v2_time
from ..resources import visible
from ..store import Store, kind_named, register_kind
from .analytics import label_facts, offset_page, raise_issue, record_event, resolve_review_issues
from .datasets import DataRow, Dataset
from .projects import Project, data_unit_of, data_units_of, first_stage, stage_of
from .users import User

# ---- records -----------------------------------------------------------------------------------

DEFAULT_PRIORITY = 0.5
ANNOTATING = ("ANNOTATION", "CONSENSUS_ANNOTATION", "AGENT")
REVIEWING = ("REVIEW", "CONSENSUS_REVIEW")
# The actions each stage type takes (W-03); consensus-annotation actions act on subtasks.
STAGE_ACTIONS: dict[str, tuple[str, ...]] = {
    "ANNOTATION": ("SUBMIT", "ASSIGN", "RELEASE"),
    "REVIEW": ("APPROVE", "REJECT", "ASSIGN", "RELEASE"),
    "CONSENSUS_ANNOTATION": ("SUBMIT", "ASSIGN", "RELEASE"),
    "CONSENSUS_REVIEW": ("APPROVE", "REJECT", "ASSIGN", "RELEASE"),
    "AGENT": ("PATHWAY_ACTION", "ASSIGN", "RELEASE"),
    "DONE": (),
}
REVIEW_ACTIONS = {"APPROVE": "APPROVED", "REJECT": "REJECTED", "REOPEN": "REOPENED"}
OPEN_REVIEW = ("NEW", "REOPENED")
TASK_STATUSES = ("NEW", "ASSIGNED", "RELEASED", "SKIPPED", "REOPENED", "COMPLETED")
# What moves a task, as the journal's task action type (§6.11).
MOVE_EVENTS = {
    "SUBMIT": "submit",
    "APPROVE": "approve",
    "REJECT": "reject",
    "PATHWAY_ACTION": "move",
    "MOVE": "move",
    "COMPLETE": "move",
    "REOPEN": "move",
}


@register_kind("workflow_task", id="uuid", parent="project_hash", parent_kinds=("project",), keys=("data_hash",))
@dataclass(kw_only=True)
class Task:
    """A data unit's task (or, with `parent_uuid`, one annotator's subtask of a consensus task)."""

    uuid: str
    project_hash: str
    data_hash: str
    stage_uuid: str
    created_at: datetime
    updated_at: datetime
    status: str = "NEW"
    assignee: str | None = None
    last_actioned_by: str | None = None
    priority: float = DEFAULT_PRIORITY
    label_branch_name: str = "main"
    parent_uuid: str | None = None
    reviews: list[dict[str, Any]] = field(default_factory=list)
    """Label reviews `{reviewUuid, status, labelType, labelId}` made when the task last entered a review stage."""
    options: list[dict[str, Any]] = field(default_factory=list)
    """Consensus review: the annotators' versions `{annotator, labelBranchName, labelHash}`."""
    last_move: dict[str, Any] | None = None
    """What last moved the task: `{cause, from, to}`, so that a repeated delivery is known as one."""


# ---- rules -------------------------------------------------------------------------------------


def require_workflow(project: Project) -> None:
    if project.project_type != "workflow":
        raise invalid("the project follows no workflow (it is a manual-QA project)")


def _stage(project: Project, stage_uuid: str) -> dict[str, Any]:
    stage = stage_of(project, stage_uuid)
    if stage is None:
        raise not_found("workflow stage", stage_uuid)
    return stage


def _new_task(store: Store, project: Project, data_hash: str) -> Task:
    """A data unit's task, new in the project's first stage."""
    entry = first_stage(project)
    assert entry is not None
    at = now()
    task = Task(
        uuid=new_hash(), project_hash=project.hash, data_hash=data_hash, stage_uuid="", created_at=at, updated_at=at
    )
    enter_stage(store, project, task, entry["uuid"])
    return task


def project_tasks(store: Store, project: Project) -> list[Task]:
    """The project's tasks, one per data unit, in creation order; a unit new to the project gets its task now."""
    if project.project_type != "workflow":
        return []
    units = data_units_of(store, project)
    tasks = [t for t in store.children(Task, project.hash) if t.parent_uuid is None and t.data_hash in units]
    have = {t.data_hash for t in tasks}
    return tasks + [_new_task(store, project, data_hash) for data_hash in units if data_hash not in have]


def task_of_unit(store: Store, project: Project, data_hash: str) -> Task | None:
    """The task of one data unit of a workflow project (made now if the unit is new), without listing the others."""
    if project.project_type != "workflow" or data_unit_of(store, project, data_hash) is None:
        return None
    found = (
        t for t in store.find(Task, "data_hash", data_hash) if t.project_hash == project.hash and not t.parent_uuid
    )
    return next(found, None) or _new_task(store, project, data_hash)


def subtasks_of(store: Store, task: Task) -> list[Task]:
    return [t for t in store.find(Task, "data_hash", task.data_hash) if t.parent_uuid == task.uuid]


def _label_rows_of_unit(store: Store, project: Project, data_hash: str) -> list[Any]:
    label_row = kind_named("label_row").cls
    return [r for r in store.find(label_row, "data_hash", data_hash) if r.project_hash == project.hash]


def _reviews_for(store: Store, project: Project, data_hash: str) -> list[dict[str, Any]]:
    """One NEW review per object and classification of the unit's main-branch label row; each keeps what
    the journal records of its label (`facts`)."""
    row = next((r for r in _label_rows_of_unit(store, project, data_hash) if r.branch_name == "main"), None)
    document = store.get(kind_named("label_document").cls, row.label_hash) if row is not None else None
    if document is None:
        return []
    facts = label_facts(document.labels, document.sequences, document.classification_answers)
    return [
        {
            "reviewUuid": new_hash(),
            "status": "NEW",
            "labelType": "Object" if fact["category"] == "object" else "Classification",
            "labelId": label_id,
            "facts": fact,
        }
        for label_id, fact in facts.items()
    ]


def review_v2(review: dict[str, Any]) -> dict[str, Any]:
    return {k: review[k] for k in ("reviewUuid", "status", "labelType", "labelId")}


def enter_stage(
    store: Store, project: Project, task: Task, stage_uuid: str, *, assignee: str | None = None, reopened: bool = False
) -> None:
    """Put a task into a stage, as that stage receives tasks."""
    stage = _stage(project, stage_uuid)
    kind = stage["stageType"]
    task.stage_uuid = stage_uuid
    task.updated_at = now()
    task.assignee = assignee if kind != "DONE" else None
    task.status = "COMPLETED" if kind == "DONE" else "ASSIGNED" if assignee else "REOPENED" if reopened else "NEW"
    task.options = []
    if kind in REVIEWING:
        task.reviews = _reviews_for(store, project, task.data_hash) if kind == "REVIEW" else []
    for old in subtasks_of(store, task):
        store.delete(Task, old.uuid)
    if kind == "CONSENSUS_ANNOTATION":
        for index in range(project.workflow_routes[stage_uuid].get("annotators", 2)):
            at = now()
            store.put(
                Task(
                    uuid=new_hash(),
                    project_hash=project.hash,
                    data_hash=task.data_hash,
                    stage_uuid=stage_uuid,
                    created_at=at,
                    updated_at=at,
                    label_branch_name=f"consensus-{index + 1}",
                    parent_uuid=task.uuid,
                )
            )
    store.put(task)


def _unit(store: Store, project: Project, data_hash: str) -> tuple[DataRow, Dataset]:
    found = data_unit_of(store, project, data_hash)
    if found is None:
        raise not_found("data unit", data_hash)
    return found


def journal_task(store: Store, project: Project, actor: User, action: str, task: Task, stage: dict[str, Any]) -> None:
    unit, dataset = _unit(store, project, task.data_hash)
    record_event(
        store,
        project,
        actor,
        "task",
        action,
        unit,
        dataset_title=dataset.title,
        branch_name=task.label_branch_name,
        task_uuid=task.uuid,
        stage=stage,
    )


def _member(project: Project, email: Any) -> str:
    if not isinstance(email, str) or project.role_of(email) is None:
        raise invalid(f"assignee {email!r} is not a member of the project")
    return email


def _next_assignee(project: Project, task: Task, action: dict[str, Any]) -> str | None:
    """Who holds the task in its next stage: the one named, the current assignee if retained, else nobody."""
    if action.get("assignee") is not None:
        return _member(project, action["assignee"])
    if action.get("retainAssignee"):
        if task.assignee is None:
            raise invalid(f"task {task.uuid} has no assignee to retain")
        return task.assignee
    return None


def _flag(action: dict[str, Any], key: str, default: bool) -> bool:
    value = action.get(key, default)
    if not isinstance(value, bool):
        raise invalid(f"'{key}' must be true or false")
    return value


def move_task(
    store: Store,
    project: Project,
    actor: User,
    task: Task,
    to_stage: str,
    *,
    cause: str,
    reopened: bool = False,
    assignee: str | None = None,
) -> None:
    """Journal what moves the task (`cause`: a W-03 action, MOVE, COMPLETE or REOPEN) in its current stage,
    then put it into `to_stage`."""
    journal_task(store, project, actor, MOVE_EVENTS[cause], task, _stage(project, task.stage_uuid))
    task.last_actioned_by = actor.email
    task.last_move = {"cause": cause, "from": task.stage_uuid, "to": to_stage}
    enter_stage(store, project, task, to_stage, assignee=assignee, reopened=reopened)


def is_repeat(task: Task, cause: str, from_stage: str, to_stage: str | None = None) -> bool:
    """Whether a call for a task that has already left `from_stage` repeats the one that moved it out.

    The SDK retries workflow actions and moves on 5xx although they are not idempotent (§4.4); a repeat
    delivery of the same move is answered as done rather than refused.
    """
    moved = task.last_move
    return (
        task.stage_uuid != from_stage
        and moved is not None
        and moved["cause"] == cause
        and moved["from"] == from_stage
        and to_stage in (None, moved["to"])
    )


def _finish_consensus(store: Store, project: Project, actor: User, parent: Task) -> None:
    """All annotators submitted: the task goes on, their branches becoming the reviewer's options."""
    subtasks = subtasks_of(store, parent)
    if not all(s.status == "COMPLETED" for s in subtasks):
        return
    options = []
    for sub in subtasks:
        rows = _label_rows_of_unit(store, project, parent.data_hash)
        row = next((r for r in rows if r.branch_name == sub.label_branch_name), None)
        options.append(
            {
                "annotator": sub.last_actioned_by or actor.email,
                "labelBranchName": sub.label_branch_name,
                "labelHash": row.label_hash if row is not None else None,
            }
        )
    parent.last_actioned_by = actor.email
    enter_stage(store, project, parent, project.workflow_routes[parent.stage_uuid]["next"])
    parent.options = options
    store.put(parent)


def apply_action(store: Store, project: Project, actor: User, stage: dict[str, Any], action: dict[str, Any]) -> None:
    """One W-03 action on a task of `stage`."""
    kind = action.get("action")
    if kind not in STAGE_ACTIONS[stage["stageType"]]:
        allowed = ", ".join(STAGE_ACTIONS[stage["stageType"]]) or "none (its tasks only move)"
        raise invalid(f"a {stage['stageType']} stage takes the actions {allowed}, not {kind!r}")
    task_uuid = action.get("taskUuid")
    task = store.get(Task, task_uuid) if isinstance(task_uuid, str) else None
    if task is not None and task.project_hash == project.hash and is_repeat(task, kind, stage["uuid"]):
        return
    if task is None or task.project_hash != project.hash or task.stage_uuid != stage["uuid"]:
        raise not_found(f"task in stage {stage['title']!r}", task_uuid)
    consensus = stage["stageType"] == "CONSENSUS_ANNOTATION"
    if consensus and task.parent_uuid is None:
        raise invalid("in a consensus annotation stage, act on the annotators' subtasks")
    routes = project.workflow_routes[stage["uuid"]]
    if kind == "ASSIGN":
        task.assignee, task.status = _member(project, action.get("assignee")), "ASSIGNED"
    elif kind == "RELEASE":
        task.assignee, task.status = None, "RELEASED"
    if kind in ("ASSIGN", "RELEASE"):
        journal_task(store, project, actor, kind.lower(), task, stage)
        task.updated_at, task.last_actioned_by = now(), actor.email
        store.put(task)
        return
    if kind == "SUBMIT" and consensus:
        if task.status == "COMPLETED":
            return  # a repeated delivery of the annotator's submission
        journal_task(store, project, actor, "submit", task, stage)
        task.status, task.last_actioned_by, task.updated_at = "COMPLETED", actor.email, now()
        store.put(task)
        parent = store.get(Task, task.parent_uuid or "")
        assert parent is not None
        _finish_consensus(store, project, actor, parent)
        return
    if kind == "SUBMIT":
        if _flag(action, "resolveLabelReviews", True):
            resolved = {r["reviewUuid"] for r in task.reviews if r["status"] == "REJECTED"}
            for review in task.reviews:
                if review["reviewUuid"] in resolved:
                    review["status"] = "RESOLVED"
            resolve_review_issues(store, project, actor, resolved)
        assignee = _next_assignee(project, task, action)
        move_task(store, project, actor, task, routes["next"], cause="SUBMIT", assignee=assignee)
    elif kind in ("APPROVE", "REJECT"):
        verdict = "APPROVED" if kind == "APPROVE" else "REJECTED"
        if stage["stageType"] == "REVIEW" and _flag(action, f"{kind.lower()}LabelReviews", True):
            for review in task.reviews:
                if review["status"] in OPEN_REVIEW:
                    review["status"] = verdict
        to_stage = routes["approve" if kind == "APPROVE" else "reject"]
        reopened = kind == "REJECT" and _stage(project, to_stage)["stageType"] in ANNOTATING
        assignee = _next_assignee(project, task, action)
        move_task(store, project, actor, task, to_stage, cause=kind, reopened=reopened, assignee=assignee)
    else:  # PATHWAY_ACTION
        by_uuid, by_name = action.get("pathwayUuid"), action.get("pathwayName")
        if by_uuid is None and by_name is None:
            raise invalid("PATHWAY_ACTION needs 'pathwayUuid' or 'pathwayName'")
        pathway = next(
            (p for p in stage["pathways"] if by_uuid in (None, p["uuid"]) and by_name in (None, p["title"])), None
        )
        if pathway is None:
            raise invalid(f"the agent stage {stage['title']!r} has no pathway {by_uuid or by_name!r}")
        move_task(store, project, actor, task, pathway["destinationUuid"], cause="PATHWAY_ACTION")


def complete_task(store: Store, project: Project, actor: User, task: Task) -> None:
    """L-08: straight to the final stage."""
    done = first_stage(project, "DONE")
    assert done is not None
    if task.stage_uuid != done["uuid"]:
        move_task(store, project, actor, task, done["uuid"], cause="COMPLETE")


def reopen_task(store: Store, project: Project, actor: User, task: Task) -> None:
    """L-09: back to the first stage, REOPENED."""
    entry = first_stage(project)
    assert entry is not None
    move_task(store, project, actor, task, entry["uuid"], cause="REOPEN", reopened=True)


def annotation_task_status(project: Project, task: Task) -> str:
    """The row-level task status of label-row metadata (§6.5), from the task's stage and status."""
    stage = stage_of(project, task.stage_uuid) or {}
    kind = stage.get("stageType")
    if kind == "DONE":
        return "COMPLETED"
    if kind in REVIEWING:
        return "IN_REVIEW"
    if task.status == "REOPENED":
        return "RETURNED"
    return "ASSIGNED" if task.status == "ASSIGNED" else "QUEUED"


# ---- wire shapes -------------------------------------------------------------------------------


def task_v2(task: Task, stage_type: str, title: str, subtasks: list[Task] | None = None) -> dict[str, Any]:
    """W-02: the members of a task of this stage type; optional-without-default members present as null."""
    shaped: dict[str, Any] = {
        "uuid": task.uuid,
        "createdAt": v2_time(task.created_at),
        "updatedAt": v2_time(task.updated_at),
    }
    if stage_type not in ("CONSENSUS_ANNOTATION", "DONE"):
        shaped["status"] = task.status
    shaped |= {"dataHash": task.data_hash, "dataTitle": title}
    if stage_type in ("ANNOTATION", "AGENT"):
        shaped["labelBranchName"] = task.label_branch_name
    if stage_type not in ("CONSENSUS_ANNOTATION", "DONE"):
        shaped["assignee"] = task.assignee
    if stage_type == "AGENT":
        shaped["lastActionedBy"] = task.last_actioned_by
    if stage_type == "CONSENSUS_ANNOTATION":
        shaped["subtasks"] = [task_v2(s, "ANNOTATION", title) for s in subtasks or []]
    if stage_type == "CONSENSUS_REVIEW":
        shaped["options"] = task.options
    return shaped


# ---- v2 handlers -------------------------------------------------------------------------------


def _workflow_project(call: V2Call) -> Project:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    require_workflow(project)
    return project


def _action_list(call: V2Call) -> list[dict[str, Any]]:
    if not isinstance(call.body, list) or not all(isinstance(a, dict) for a in call.body):
        raise invalid("the request body must be a JSON array of objects")
    return call.body


def v2_list_stage_tasks(call: V2Call) -> dict[str, Any]:
    project = _workflow_project(call)
    stage = _stage(project, call.params["stage_uuid"])
    kind = stage["stageType"]
    lists = call.query_lists
    emails, data_hashes = lists.get("userEmails"), lists.get("dataHashes")
    dataset_hashes, statuses = lists.get("datasetHashes"), lists.get("statuses")
    contains = call.query.get("dataTitleContains")
    if statuses and kind in ("CONSENSUS_ANNOTATION", "DONE"):
        raise invalid(f"tasks of a {kind} stage have no status to filter by")
    if emails and kind == "DONE":
        raise invalid("tasks of a final stage have no assignee to filter by")
    if statuses and not set(statuses) <= set(TASK_STATUSES):
        raise invalid(f"statuses must be among {', '.join(TASK_STATUSES)}")
    units = data_units_of(call.store, project)
    rows = []
    for task in project_tasks(call.store, project):
        if task.stage_uuid != stage["uuid"]:
            continue
        unit, dataset = units[task.data_hash]
        subtasks = subtasks_of(call.store, task) if kind == "CONSENSUS_ANNOTATION" else []
        assignees = {s.assignee for s in subtasks} if subtasks else {task.assignee}
        if (
            (emails and not assignees & set(emails))
            or (data_hashes and task.data_hash not in data_hashes)
            or (dataset_hashes and dataset.hash not in dataset_hashes)
            or (contains is not None and contains.lower() not in unit.title.lower())
            or (statuses and task.status not in statuses)
        ):
            continue
        rows.append((task, unit.title, subtasks))
    by_uuid = {task.uuid: (title, subtasks) for task, title, subtasks in rows}
    return page(call, [task for task, _, _ in rows], lambda t: task_v2(t, kind, *by_uuid[t.uuid]))


def v2_task_actions(call: V2Call) -> Any:
    project = _workflow_project(call)
    stage = _stage(project, call.params["stage_uuid"])
    for action in _action_list(call):
        apply_action(call.store, project, call.user, stage, action)
    return NO_CONTENT


def v2_move_tasks(call: V2Call) -> Any:
    project = _workflow_project(call)
    origin = _stage(project, call.params["stage_uuid"])
    body = call.json_object()
    destination = body.get("destinationStageUuid")
    if not isinstance(destination, str):
        raise invalid("'destinationStageUuid' is required")
    _stage(project, destination)
    task_uuids = body.get("taskUuids")
    if not isinstance(task_uuids, list) or not all(isinstance(t, str) for t in task_uuids):
        raise invalid("'taskUuids' must be a list of task uuids")
    for task_uuid in task_uuids:
        task = call.store.get(Task, task_uuid)
        if task is None or task.project_hash != project.hash or task.parent_uuid is not None:
            raise not_found("task", task_uuid)
        if is_repeat(task, "MOVE", origin["uuid"], destination):
            continue
        if task.stage_uuid != origin["uuid"]:
            raise invalid(f"task {task_uuid} is not in stage {origin['title']!r}")
        move_task(call.store, project, call.user, task, destination, cause="MOVE")
    return NO_CONTENT


def _review_task(call: V2Call) -> tuple[Project, dict[str, Any], Task]:
    project = _workflow_project(call)
    stage = _stage(project, call.params["stage_uuid"])
    task = call.store.get(Task, call.params["task_uuid"])
    if task is None or task.project_hash != project.hash or task.stage_uuid != stage["uuid"]:
        raise not_found(f"task in stage {stage['title']!r}", call.params["task_uuid"])
    if stage["stageType"] != "REVIEW":
        raise invalid("label reviews belong to tasks of a review stage")
    return project, stage, task


def v2_list_label_reviews(call: V2Call) -> dict[str, Any]:
    _, _, task = _review_task(call)
    return offset_page(call, task.reviews, review_v2)


def v2_label_review_actions(call: V2Call) -> Any:
    project, stage, task = _review_task(call)
    unit, dataset = _unit(call.store, project, task.data_hash)
    reviews = {r["reviewUuid"]: r for r in task.reviews}
    for action in _action_list(call):
        review = reviews.get(str(action.get("reviewUuid")))
        if review is None:
            raise not_found("label review of the task", action.get("reviewUuid"))
        kind = action.get("action")
        if kind not in REVIEW_ACTIONS:
            raise invalid(f"a label review action is one of {', '.join(REVIEW_ACTIONS)}, not {kind!r}")
        review["status"] = REVIEW_ACTIONS[kind]
        comment = action.get("comment")
        if kind == "REJECT" and comment is not None:
            tags = action.get("commentTags") or []
            if not isinstance(comment, str) or not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise invalid("'comment' must be a string and 'commentTags' a list of issue tag names")
            anchor = {"type": "annotation", "dataUuid": task.data_hash, "annotationId": review["labelId"],
                      "spaceId": None, "frameRanges": None}  # fmt: skip
            raise_issue(call.store, project, call.user, anchor, comment, tags, review_uuid=review["reviewUuid"])
        facts = review["facts"]
        record_event(
            call.store, project, call.user, facts["category"], f"{kind.lower()}_label", unit,
            dataset_title=dataset.title, task_uuid=task.uuid, stage=stage, label=facts["label"],
        )  # fmt: skip
    task.updated_at = now()
    call.store.put(task)
    return NO_CONTENT


def v2_set_priorities(call: V2Call) -> Any:
    project = _workflow_project(call)
    pairs = call.json_object().get("priorities")
    if not isinstance(pairs, list):
        raise invalid("'priorities' must be a list of [data_hash, priority] pairs")
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise invalid("each priority must be a [data_hash, priority] pair")
        data_hash, priority = pair
        if isinstance(priority, bool) or not isinstance(priority, int | float) or not 0.0 <= priority <= 1.0:
            raise invalid("a priority is a number from 0.0 to 1.0")
        task = task_of_unit(call.store, project, data_hash)
        if task is None:
            raise not_found("task of data unit", data_hash)
        task.priority = float(priority)
        call.store.put(task)
    return NO_CONTENT


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "projects/{project_hash}/workflow/stages/{stage_uuid}/tasks", v2_list_stage_tasks),  # W-02
    V2Route("POST", "projects/{project_hash}/workflow/stages/{stage_uuid}/actions", v2_task_actions),  # W-03
    V2Route("POST", "projects/{project_hash}/workflow/stages/{stage_uuid}/move-tasks", v2_move_tasks),  # W-04
    V2Route(  # W-05
        "GET", "projects/{project_hash}/workflow/stages/{stage_uuid}/tasks/{task_uuid}/reviews", v2_list_label_reviews
    ),
    V2Route(  # W-06
        "POST",
        "projects/{project_hash}/workflow/stages/{stage_uuid}/tasks/{task_uuid}/reviews/actions",
        v2_label_review_actions,
    ),
    V2Route("POST", "projects/{project_hash}/priorities", v2_set_priorities),  # L-10
)
