"""Project analytics (P-17..P-21) and issues (E-02, E-03, W-08).

Analytics are answered from an event journal that the label-row and workflow handlers feed: every
saved change to an object or classification, every label review and every task action is one event,
written in the same transaction as the change itself. Label logs, editor logs and task actions are
views of the events; time spent is the time between a person's consecutive events on one data unit
(gaps longer than IDLE_SECONDS are breaks, not work), as Encord's editor measures active time.

Issues are comment threads on data units, anchored to the unit, a frame, a point, a frame range or an
annotation, with the project's issue tags; rejecting a label review with a comment raises one, and
the annotator's resubmission resolves it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import payloads
from ..errors import forbidden, invalid, not_found
from ..filters import parse_datetime
from ..operations import NO_CONTENT, V1Call, V1Key, V1Operation, V2Call, V2Route, needs
from ..paging import page, page_size
from ..records import new_hash, now, v2_time
from ..resources import ADMIN, visible
from ..store import Store, register_kind
from .datasets import DataRow
from .projects import Project, data_units_of
from .users import User

# ---- records -----------------------------------------------------------------------------------

IDLE_SECONDS = 30 * 60
"""A longer pause between two events of one person on one data unit is a break, not time spent."""
MAX_EDITOR_LOG_RANGE = timedelta(days=30)
MAX_ISSUES_PER_DELETE = 1000
ORGANISATION_ID = 1  # the sandbox is one organisation
NIL_UUID = "00000000-0000-0000-0000-000000000000"

# Events → label-log actions (§6.11); events without one (assign, release, move) are not label logs.
LABEL_LOG_ACTIONS: dict[str, int] = {
    "add": 0,
    "edit": 1,
    "delete": 2,
    "submit": 11,
    "approve_label": 12,
    "reject_label": 13,
    "approve": 33,
    "reject": 34,
}
TASK_ACTION_TYPES = ("assign", "approve", "submit", "move", "reject", "release", "skip")
# Editor logs name only these stage types (the SDK refuses others; AGENT stages log as "").
EDITOR_LOG_STAGE_TYPES = ("ANNOTATION", "REVIEW", "CONSENSUS_ANNOTATION", "CONSENSUS_REVIEW", "DONE")
PROJECT_ROLE_NAMES = {
    0: "ADMIN",
    1: "ANNOTATOR",
    2: "REVIEWER",
    3: "ANNOTATOR_REVIEWER",
    4: "TEAM_MANAGER",
    5: "VIEWER",
}
ANCHOR_TYPES = ("dataUnit", "frame", "frameCoordinate", "sceneCoordinate", "frameRange", "annotation")


@register_kind("journal_event", id="uuid", parent="project_hash", parent_kinds=("project",))
@dataclass(kw_only=True)
class JournalEvent:
    """Something a person did in a project. `category` is object, classification or task; `action` is
    add, edit, delete, approve_label, reject_label or reopen_label for labels, a task action type for tasks."""

    uuid: str
    project_hash: str
    created_at: datetime
    actor_email: str
    actor_hash: str
    category: str
    action: str
    data_hash: str
    data_title: str
    data_type: str
    dataset_hash: str
    dataset_title: str
    branch_name: str = "main"
    task_uuid: str | None = None
    stage: dict[str, Any] | None = None
    """The workflow stage it happened in: `{stageType, uuid, title}`."""
    label: dict[str, Any] | None = None
    """Labels only: `{id, featureHash, name, shape, ranges: [[start, end]]}`."""


@register_kind("issue_tag", id="uuid", parent="project_hash", parent_kinds=("project",))
@dataclass(kw_only=True)
class IssueTag:
    uuid: str
    project_hash: str
    name: str
    created_at: datetime


@register_kind("issue", id="uuid", parent="project_hash", parent_kinds=("project",), keys=("data_uuid",))
@dataclass(kw_only=True)
class Issue:
    uuid: str
    project_hash: str
    data_uuid: str
    anchor: dict[str, Any]
    author_email: str
    created_at: datetime
    comments: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    resolution_history: list[dict[str, Any]] = field(default_factory=list)
    review_uuid: str | None = None
    """Set when a label review's rejection raised it; resolved with that review."""
    deleted: bool = False
    """Deleted issues stay as tombstones: deleting one again (a retried call) is not an error."""


# ---- rules: the journal ------------------------------------------------------------------------


def record_event(
    store: Store,
    project: Project,
    actor: User,
    category: str,
    action: str,
    unit: DataRow,
    *,
    dataset_title: str,
    branch_name: str = "main",
    task_uuid: str | None = None,
    stage: dict[str, Any] | None = None,
    label: dict[str, Any] | None = None,
) -> JournalEvent:
    """Journal one event; called by the label-row and workflow rules in the transaction of the change."""
    return store.put(
        JournalEvent(
            uuid=new_hash(),
            project_hash=project.hash,
            created_at=now(),
            actor_email=actor.email,
            actor_hash=actor.user_hash,
            category=category,
            action=action,
            data_hash=unit.data_hash,
            data_title=unit.title,
            data_type=unit.data_type,
            dataset_hash=unit.dataset_hash,
            dataset_title=dataset_title,
            branch_name=branch_name,
            task_uuid=task_uuid,
            stage={k: stage[k] for k in ("stageType", "uuid", "title")} if stage else None,
            label=label,
        )
    )


def _ranges(frames: Iterable[int]) -> list[list[int]]:
    """Sorted frames as inclusive [start, end] runs."""
    runs: list[list[int]] = []
    for frame in sorted(set(frames)):
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    return runs


def label_facts(
    labels: dict[str, Any], sequences: dict[str, int], classification_answers: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """What the journal records of each object and classification of a label-row document, by hash:
    `{category, label: {id, featureHash, name, shape, ranges}, content}` (`content` tells edits apart).

    `labels` are the data units' labels: per frame for videos (`{"3": {"objects": [...]}}`), or one
    frame's `{"objects": [...]}` for an image, whose frame is its sequence number in `sequences`.
    """
    frames: dict[str, list[int]] = {}
    objects: dict[str, dict[str, Any]] = {}
    content: dict[str, list[Any]] = {}
    for unit_hash, unit_labels in labels.items():
        if not isinstance(unit_labels, dict):
            continue
        per_frame = (
            {sequences.get(unit_hash, 0): unit_labels}
            if isinstance(unit_labels.get("objects"), list)
            else {int(k): v for k, v in unit_labels.items() if str(k).isdigit() and isinstance(v, dict)}
        )
        for frame, frame_labels in per_frame.items():
            for obj in frame_labels.get("objects") or []:
                object_hash = obj.get("objectHash") if isinstance(obj, dict) else None
                if isinstance(object_hash, str):
                    objects.setdefault(object_hash, obj)
                    frames.setdefault(object_hash, []).append(frame)
                    content.setdefault(object_hash, []).append([frame, obj])
    facts: dict[str, dict[str, Any]] = {}
    for object_hash, obj in objects.items():
        label = {"id": object_hash, "featureHash": obj.get("featureHash", ""), "name": obj.get("name", ""),
                 "shape": obj.get("shape", ""), "ranges": _ranges(frames[object_hash])}  # fmt: skip
        facts[object_hash] = {
            "category": "object",
            "label": label,
            "content": json.dumps(content[object_hash], sort_keys=True),
        }
    for classification_hash, answer in classification_answers.items():
        if not isinstance(answer, dict):
            continue
        answers = answer.get("classifications") or [{}]
        name = answers[0].get("name", "") if isinstance(answers[0], dict) else ""
        ranges = [list(r) for r in answer.get("range") or [] if isinstance(r, list) and len(r) == 2]
        label = {"id": classification_hash, "featureHash": answer.get("featureHash", ""), "name": name,
                 "shape": None, "ranges": ranges}  # fmt: skip
        facts[classification_hash] = {
            "category": "classification",
            "label": label,
            "content": json.dumps(answer, sort_keys=True),
        }
    return facts


def journal_of(store: Store, project: Project) -> list[JournalEvent]:
    """Every event of a project, oldest first."""
    return store.children(JournalEvent, project.hash)


def _in_window(at: datetime, after: datetime | None, before: datetime | None) -> bool:
    return (after is None or at >= after) and (before is None or at < before)


def work_time(events: Iterable[JournalEvent]) -> list[tuple[JournalEvent, float]]:
    """Each event with the seconds of work it ends: the time since the same person's previous event on the
    same data unit, unless that pause was longer than IDLE_SECONDS."""
    previous: dict[tuple[str, str], datetime] = {}
    timed: list[tuple[JournalEvent, float]] = []
    for event in events:
        key = (event.actor_email, event.data_hash)
        last = previous.get(key)
        gap = (event.created_at - last).total_seconds() if last is not None else 0.0
        timed.append((event, gap if gap <= IDLE_SECONDS else 0.0))
        previous[key] = event.created_at
    return timed


def _day(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# ---- rules: issues -----------------------------------------------------------------------------


def project_issue_tags(store: Store, project: Project) -> dict[str, IssueTag]:
    return {tag.name: tag for tag in store.children(IssueTag, project.hash)}


def add_issue_tags(store: Store, project: Project, names: list[str]) -> None:
    """E-02: link tags by name; a name already linked is left as it is."""
    linked = project_issue_tags(store, project)
    for name in names:
        if not name.strip():
            raise invalid("issue tag names must not be empty")
        if name not in linked:
            linked[name] = store.put(IssueTag(uuid=new_hash(), project_hash=project.hash, name=name, created_at=now()))


def _tags_named(store: Store, project: Project, names: list[str]) -> list[dict[str, Any]]:
    linked = project_issue_tags(store, project)
    missing = [n for n in names if n not in linked]
    if missing:
        raise invalid(f"issue tags not linked to the project (add them first): {', '.join(missing)}")
    return [{"name": n, "uuid": linked[n].uuid} for n in dict.fromkeys(names)]


def _number(anchor: dict[str, Any], key: str, low: float | None = None, high: float | None = None) -> float:
    value = anchor.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"anchor '{key}' must be a number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(f"anchor '{key}' must be between {low} and {high}")
    return float(value)


def _frame_ranges(raw: Any, frames: int) -> list[dict[str, int]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("anchor 'frameRanges' must be a non-empty list of {start, end}")
    ranges = []
    for item in raw:
        start, end = (item.get("start"), item.get("end")) if isinstance(item, dict) else (None, None)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise invalid("each frame range needs integer 'start' and 'end'")
        assert isinstance(start, int) and isinstance(end, int)
        if not 0 <= start <= end < frames:
            raise invalid(f"frame range [{start}, {end}] is not within the data unit's {frames} frame(s)")
        ranges.append({"start": start, "end": end})
    return ranges


def check_anchor(raw: Any, units: dict[str, tuple[DataRow, Any]]) -> dict[str, Any]:
    """An issue anchor: its type's members checked against the data unit; nothing else kept."""
    anchor = payloads.as_object(raw, "anchor")
    kind = anchor.get("type")
    if kind not in ANCHOR_TYPES:
        raise invalid(f"anchor 'type' must be one of {', '.join(ANCHOR_TYPES)}")
    data_uuid = payloads.text(anchor, "dataUuid")
    if data_uuid not in units:
        raise not_found("data unit", data_uuid)
    frames = units[data_uuid][0].frames
    checked: dict[str, Any] = {"type": kind, "dataUuid": data_uuid}
    if kind != "sceneCoordinate":
        checked["spaceId"] = payloads.optional_text(anchor, "spaceId")
    if kind in ("frame", "frameCoordinate", "sceneCoordinate"):
        frame = anchor.get("frameIndex")
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < frames:
            raise invalid(f"anchor 'frameIndex' must be a frame of the data unit (0 to {frames - 1})")
        checked["frameIndex"] = frame
    if kind == "frameCoordinate":
        checked["coordinate"] = {"x": _number(anchor, "x", 0, 1), "y": _number(anchor, "y", 0, 1)}
    if kind == "sceneCoordinate":
        checked["coordinate"] = {k: _number(anchor, k) for k in ("x", "y", "z")}
    if kind == "frameRange":
        checked["frameRanges"] = _frame_ranges(anchor.get("frameRanges"), frames)
    if kind == "annotation":
        checked["annotationId"] = payloads.text(anchor, "annotationId", non_empty=True)
        ranges = anchor.get("frameRanges")
        checked["frameRanges"] = None if ranges is None else _frame_ranges(ranges, frames)
    return checked


def raise_issue(
    store: Store,
    project: Project,
    author: User,
    anchor: dict[str, Any],
    comment: str,
    tag_names: list[str],
    *,
    review_uuid: str | None = None,
) -> Issue:
    if not comment.strip():
        raise invalid("an issue's 'comment' must not be empty")
    at = now()
    return store.put(
        Issue(
            uuid=new_hash(),
            project_hash=project.hash,
            data_uuid=anchor["dataUuid"],
            anchor=anchor,
            author_email=author.email,
            created_at=at,
            comments=[{"content": comment, "authorEmail": author.email, "createdAt": v2_time(at)}],
            tags=_tags_named(store, project, tag_names),
            review_uuid=review_uuid,
        )
    )


def resolve_review_issues(store: Store, project: Project, actor: User, review_uuids: set[str]) -> None:
    """The issues raised by rejecting these label reviews are resolved (the annotator resubmitted)."""
    for issue in store.children(Issue, project.hash):
        if issue.review_uuid in review_uuids and not issue.deleted and not _is_resolved(issue):
            issue.resolution_history.append(
                {"isResolved": True, "createdAt": v2_time(now()), "actorEmail": actor.email}
            )
            store.put(issue)


def _is_resolved(issue: Issue) -> bool:
    return bool(issue.resolution_history) and bool(issue.resolution_history[-1]["isResolved"])


def delete_issues(store: Store, project: Project, user: User, issue_uuids: list[str]) -> None:
    """All or none: every issue must be the project's, and the caller its author or a project admin
    (annotation issues, raised by label rejections: admins only)."""
    if len(issue_uuids) > MAX_ISSUES_PER_DELETE:
        raise invalid(f"at most {MAX_ISSUES_PER_DELETE} issues per call")
    admin = project.role_of(user.email) == ADMIN
    issues = []
    for issue_uuid in issue_uuids:
        issue = store.get(Issue, issue_uuid)
        if issue is None or issue.project_hash != project.hash:
            raise not_found("issue", issue_uuid)
        if not admin and (issue.author_email != user.email or issue.anchor["type"] == "annotation"):
            raise forbidden(f"only a project admin or its author may delete issue {issue_uuid}")
        issues.append(issue)
    for issue in issues:
        issue.deleted = True
        store.put(issue)


# ---- wire shapes -------------------------------------------------------------------------------


def label_log_v1(event: JournalEvent) -> dict[str, Any]:
    """§7.9: every key present, the nullable ones as null."""
    label = event.label or {}
    ranges = label.get("ranges") or []
    return {
        "log_hash": event.uuid,
        "user_hash": event.actor_hash,
        "user_email": event.actor_email,
        "data_hash": event.data_hash,
        "action": LABEL_LOG_ACTIONS[event.action],
        "created_at": v2_time(event.created_at),
        "identifier": label.get("id"),
        "feature_hash": label.get("featureHash"),
        "label_name": label.get("name"),
        "time_taken": None,
        "frame": ranges[0][0] if ranges else None,
    }


def editor_log_v2(event: JournalEvent, project: Project) -> dict[str, Any]:
    stage = event.stage or {}
    stage_type = stage.get("stageType", "")
    category = event.category
    if category == "task" and stage_type == "AGENT":
        category = "agent"
    role = project.role_of(event.actor_email)
    log: dict[str, Any] = {
        "id": event.uuid,
        "action": event.action,
        "actionCategory": category,
        "dataUnitId": event.data_hash,
        "workflowStageId": stage.get("uuid", NIL_UUID),
        "branchName": event.branch_name,
        "workflowTaskId": event.task_uuid or NIL_UUID,
        "timestamp": v2_time(event.created_at),
        # One editor session per person per day.
        "sessionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event.actor_email}/{_day(event.created_at).date()}")),
        "actorUserId": event.actor_hash,
        "actorOrganisationId": ORGANISATION_ID,
        "actorUserEmail": event.actor_email,
        "projectId": project.hash,
        "projectOrganisationId": ORGANISATION_ID,
        "projectUserRole": PROJECT_ROLE_NAMES.get(role, "") if role is not None else "",
        "projectOrganisationUserRole": "MEMBER",
        "dataUnitTitle": event.data_title,
        "dataUnitDataType": event.data_type,
        "dataUnitDatasetId": event.dataset_hash,
        "dataUnitDatasetTitle": event.dataset_title,
        "ontologyId": project.ontology_hash,
        "labelId": (event.label or {}).get("id", ""),
        "workflowStageType": stage_type if stage_type in EDITOR_LOG_STAGE_TYPES else "",
        "workflowStageTitle": stage.get("title", ""),
    }
    if event.label is not None:
        label = event.label
        log |= {"labelName": label["name"], "featureId": label["featureHash"], "labelRanges": label["ranges"]}
        if event.category == "object":
            first = label["ranges"][0][0] if label["ranges"] else None
            log |= {
                "objectShape": label["shape"],
                "objectCurrentFrame": first,
                "objectHash": label["id"],
                "objectId": None,
            }
        else:
            log["classificationHash"] = label["id"]
    return log


def task_action_v2(event: JournalEvent) -> dict[str, Any]:
    return {
        "timestamp": v2_time(event.created_at),
        "actionType": event.action,
        "projectUuid": event.project_hash,
        "workflowStageUuid": (event.stage or {}).get("uuid", NIL_UUID),
        "taskUuid": event.task_uuid or NIL_UUID,
        "dataUnitUuid": event.data_hash,
        "actorEmail": event.actor_email,
    }


def issue_v2(issue: Issue) -> dict[str, Any]:
    """An issue of its anchor's type: the common members, then that type's."""
    anchor = issue.anchor
    shaped: dict[str, Any] = {
        "type": anchor["type"],
        "uuid": issue.uuid,
        "dataUuid": issue.data_uuid,
        "comments": issue.comments,
        "tags": issue.tags,
        "resolutionHistory": issue.resolution_history,
    }
    shaped |= {k: v for k, v in anchor.items() if k not in ("type", "dataUuid")}
    return shaped


# ---- paging of derived listings ----------------------------------------------------------------


def offset_page(call: V2Call, rows: list[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """A page of rows that are not records of their own (aggregates, members of a record): offset tokens."""
    token = call.query.get("pageToken")
    start = 0
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["offset"])
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise invalid("pageToken is not a token this server issued") from None
    size = page_size(call)
    end = start + size
    next_token = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode().rstrip("=")
    return {"results": [render(r) for r in rows[start:end]], "nextPageToken": next_token if end < len(rows) else None}


# ---- v1 handlers -------------------------------------------------------------------------------


def _unix(fields: dict[str, Any], key: str) -> datetime | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"'{key}' must be Unix seconds")
    return datetime.fromtimestamp(value, UTC)


def v1_list_label_logs(call: V1Call) -> list[dict[str, Any]]:
    """P-17: label events (and task submissions and verdicts), filtered; start and end are inclusive."""
    f = call.fields
    project = call.resource_as(Project)
    start, end = _unix(f, "start_timestamp"), _unix(f, "end_timestamp")
    user_hash, data_hash = payloads.optional_text(f, "user_hash"), payloads.optional_text(f, "data_hash")
    user_email = payloads.optional_text(f, "user_email")
    return [
        label_log_v1(e)
        for e in journal_of(call.store, project)
        if e.action in LABEL_LOG_ACTIONS
        and (start is None or e.created_at >= start)
        and (end is None or e.created_at.replace(microsecond=0) <= end)
        and user_hash in (None, e.actor_hash)
        and data_hash in (None, e.data_hash)
        and user_email in (None, e.actor_email)
    ]


# ---- v2 handlers -------------------------------------------------------------------------------


def _moment(call: V2Call, name: str, *, required: bool) -> datetime | None:
    raw = call.query.get(name)
    if raw is None:
        if required:
            raise invalid(f"{name} is required")
        return None
    return parse_datetime(name, raw)


def _project_named(call: V2Call, param: str) -> Project:
    project_hash = call.query.get(param)
    if not project_hash:
        raise invalid(f"{param} is required")
    return visible(call.store, Project, project_hash, call.user)


def v2_list_editor_logs(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    start, end = _moment(call, "startTime", required=True), _moment(call, "endTime", required=True)
    assert start is not None and end is not None
    if end < start or end - start > MAX_EDITOR_LOG_RANGE:
        raise invalid("endTime must follow startTime by at most 30 days")
    q = call.query
    rows = [
        e
        for e in journal_of(call.store, project)
        if _in_window(e.created_at, start, end)
        and q.get("action") in (None, e.action)
        and q.get("actorUserEmail") in (None, e.actor_email)
        and q.get("workflowStageId") in (None, (e.stage or {}).get("uuid"))
        and q.get("dataUnitId") in (None, e.data_hash)
    ]
    return page(call, rows, lambda e: editor_log_v2(e, project))


def v2_list_collaborator_timers(call: V2Call) -> dict[str, Any]:
    """P-19: seconds of work per person, per data unit (groupBy=dataUnit, the default) or in total."""
    project = _project_named(call, "projectHash")
    after, before = _moment(call, "after", required=True), _moment(call, "before", required=False)
    group_by = call.query.get("groupBy", "dataUnit")
    if group_by not in ("dataUnit", "project"):
        raise invalid("groupBy must be dataUnit or project")
    totals: dict[tuple[str, str | None], float] = {}
    titles: dict[str, str] = {}
    for event, seconds in work_time(journal_of(call.store, project)):
        if seconds > 0 and _in_window(event.created_at, after, before):
            key = (event.actor_email, event.data_hash if group_by == "dataUnit" else None)
            totals[key] = totals.get(key, 0.0) + seconds
            titles[event.data_hash] = event.data_title
    rows = [
        {
            "userEmail": email,
            "userRole": project.role_of(email) if project.role_of(email) is not None else 1,
            "dataTitle": titles[data_hash] if data_hash is not None else None,
            "timeSeconds": round(total, 3),
        }
        for (email, data_hash), total in totals.items()
    ]
    return offset_page(call, rows, lambda row: row)


def v2_list_time_spent(call: V2Call) -> dict[str, Any]:
    """P-20: whole seconds (rounded up) per person, data unit, stage and UTC day."""
    project = _project_named(call, "projectUuid")
    after, before = _moment(call, "after", required=True), _moment(call, "before", required=False)
    lists = call.query_lists
    stages, emails = lists.get("workflowStageUuids"), lists.get("userEmails")
    datasets, units = lists.get("datasetUuids"), lists.get("dataUuids")
    title = call.query.get("dataTitle")
    buckets: dict[tuple[str, str, str, datetime], tuple[JournalEvent, float]] = {}
    for event, seconds in work_time(journal_of(call.store, project)):
        stage_uuid = (event.stage or {}).get("uuid", NIL_UUID)
        if (
            seconds <= 0
            or not _in_window(event.created_at, after, before)
            or (stages and stage_uuid not in stages)
            or (emails and event.actor_email not in emails)
            or (datasets and event.dataset_hash not in datasets)
            or (units and event.data_hash not in units)
            or (title is not None and title.lower() not in event.data_title.lower())
        ):
            continue
        key = (event.actor_email, event.data_hash, stage_uuid, _day(event.created_at))
        first, total = buckets.get(key, (event, 0.0))
        buckets[key] = (first, total + seconds)
    rows = [
        {
            "periodStartTime": v2_time(day),
            "periodEndTime": v2_time(day + timedelta(days=1)),
            "timeSpentSeconds": math.ceil(total),
            "userEmail": email,
            "projectUserRole": project.role_of(email) if project.role_of(email) is not None else 1,
            "dataUuid": data_hash,
            "dataTitle": event.data_title,
            "datasetUuid": event.dataset_hash,
            "datasetTitle": event.dataset_title,
            "workflowTaskUuid": event.task_uuid,
            "workflowStage": event.stage,
        }
        for (email, data_hash, _, day), (event, total) in buckets.items()
    ]
    return offset_page(call, rows, lambda row: row)


def v2_list_task_actions(call: V2Call) -> dict[str, Any]:
    project = _project_named(call, "projectUuid")
    after = _moment(call, "after", required=True)
    before = _moment(call, "before", required=False) or now()
    lists = call.query_lists
    actors, types = lists.get("actorEmails"), lists.get("eventTypes")
    stages, units = lists.get("workflowStageUuids"), lists.get("dataUnitUuids")
    if types and not set(types) <= set(TASK_ACTION_TYPES):
        raise invalid(f"eventTypes must be among {', '.join(TASK_ACTION_TYPES)}")
    rows = [
        e
        for e in journal_of(call.store, project)
        if e.category == "task"
        and _in_window(e.created_at, after, before)
        and (not actors or e.actor_email in actors)
        and (not types or e.action in types)
        and (not stages or (e.stage or {}).get("uuid") in stages)
        and (not units or e.data_hash in units)
    ]
    return page(call, rows, task_action_v2)


def v2_list_issue_tags(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    return page(call, call.store.children(IssueTag, project.hash), lambda t: {"name": t.name, "uuid": t.uuid})


def v2_add_issue_tags(call: V2Call) -> Any:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    add_issue_tags(call.store, project, payloads.text_list(call.json_object(), "issueTagNames"))
    return NO_CONTENT


def v2_create_issues(call: V2Call) -> Any:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    issues = call.json_object().get("issues")
    if not isinstance(issues, list) or not issues or not all(isinstance(i, dict) for i in issues):
        raise invalid("'issues' must be a non-empty list of objects")
    units = data_units_of(call.store, project)
    for spec in issues:
        anchor = check_anchor(spec.get("anchor"), units)
        comment = payloads.text(spec, "comment")
        raise_issue(call.store, project, call.user, anchor, comment, payloads.text_list(spec, "issueTags", default=[]))
    return NO_CONTENT


def v2_list_issues(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    data_uuid = call.query.get("dataUnitId")
    if not data_uuid:
        raise invalid("dataUnitId is required")
    issues = [
        i for i in call.store.find(Issue, "data_uuid", data_uuid) if i.project_hash == project.hash and not i.deleted
    ]
    return page(call, issues, issue_v2)


def v2_delete_issues(call: V2Call) -> Any:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    delete_issues(call.store, project, call.user, payloads.text_list(call.json_object(), "issueUuids"))
    return NO_CONTENT


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("project", "labellog", "GET"): V1Operation(v1_list_label_logs, key=needs("label_logs.read")),  # P-17
}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "projects/{project_hash}/editor-logs", v2_list_editor_logs),  # P-18
    V2Route("GET", "analytics/collaborators/timers", v2_list_collaborator_timers),  # P-19
    V2Route("GET", "analytics/time-spent", v2_list_time_spent),  # P-20
    V2Route("GET", "analytics/task-actions", v2_list_task_actions),  # P-21
    V2Route("GET", "projects/{project_hash}/issue-tags", v2_list_issue_tags),  # E-02
    V2Route("POST", "projects/{project_hash}/issue-tags", v2_add_issue_tags),  # E-02
    V2Route("POST", "projects/{project_hash}/issues", v2_create_issues),  # E-03, W-08
    V2Route("GET", "projects/{project_hash}/issues", v2_list_issues),  # E-03, W-08
    V2Route("POST", "projects/{project_hash}/issues/delete", v2_delete_issues),  # E-03, W-08
)
