"""Label rows (L-01..L-07, L-11, L-13..L-15; L-08, L-09 by label hash; the legacy P-22, P-23; P-01's label rows).

A label row holds the labels of one data unit of a project on one branch (`main` unless named). Data
units without a row are listed with a null label hash until a row is created (L-04, L-05). A row's
document is replaced whole by every save (L-06, L-07), after checks: its shape must fit the data unit
(CORRUPTED_LABEL_ERROR otherwise); objects need their answers and features must be the ontology's
(with `validate_before_saving` such a save is refused, ANSWER_DICTIONARY_ERROR or
FEATURE_DOES_NOT_EXIST_ERROR; without, it is saved marked invalid and L-11 says why). Each save
journals what it added, changed and removed (analytics.py).

In a workflow project a row's task status comes from its task (workflow.py); in a manual-QA project
the legacy label status is set by the row's own calls (P-22, P-23).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import ApiError, invalid, not_found
from ..filters import parse_datetime, sql_like
from ..operations import V1Call, V1Key, V1Operation, V2Call, V2Route, needs
from ..records import new_hash, now, v1_time
from ..resources import visible
from ..store import Store, register_kind
from .analytics import label_facts, record_event
from .datasets import DataRow, Dataset, data_row_v1
from .projects import Project, data_unit_of, data_units_of, editor_of, lists_label_rows, stage_of
from .users import User
from .workflow import REVIEWING, Task, annotation_task_status, complete_task, project_tasks, reopen_task, task_of_unit

# ---- records -----------------------------------------------------------------------------------

MAIN = "main"
MAX_LABELS_PER_CALL = 1000  # labelrow GET with a list uid (§4.1 MULTI_LABEL_LIMIT_ERROR)
MAX_CLASSIFICATION_LABELS = 1000  # L-14
LABEL_STATUSES = ("NOT_LABELLED", "LABEL_IN_PROGRESS", "LABELLED", "REVIEW_IN_PROGRESS", "REVIEWED", "REVIEWED_TWICE")
ANNOTATION_TASK_STATUSES = ("QUEUED", "ASSIGNED", "IN_REVIEW", "RETURNED", "COMPLETED")
SHADOW_STATES = ("ALL_DATA", "SHADOW_DATA", "NOT_SHADOW_DATA")
FRAME_BASED = ("VIDEO", "DICOM")  # labels keyed by frame number; other types label each image unit once


@register_kind("label_row", id="label_hash", parent="project_hash", parent_kinds=("project",), keys=("data_hash",))
@dataclass(kw_only=True)
class LabelRow:
    """A data unit's label row on one branch; its labels are a LabelDocument of the same hash."""

    label_hash: str
    project_hash: str
    data_hash: str
    branch_name: str
    created_at: datetime
    last_edited_at: datetime
    created_by: str
    label_status: str = "LABEL_IN_PROGRESS"
    """Manual-QA projects only (P-22, P-23); workflow projects derive it from the task."""
    version: int = 0
    is_valid: bool = True
    errors: list[str] = field(default_factory=list)


@register_kind("label_document", id="label_hash")
@dataclass(kw_only=True)
class LabelDocument:
    """The labels of a row, kept apart from its metadata so that listings never read them.

    `labels` are per data unit (the unit's hash, or each image's hash in an image group): by frame number
    for videos and DICOM, one frame's `{"objects", "classifications"}` otherwise, at the unit's `sequences`.
    """

    label_hash: str
    created_at: datetime
    labels: dict[str, Any]
    sequences: dict[str, int]
    object_answers: dict[str, Any] = field(default_factory=dict)
    classification_answers: dict[str, Any] = field(default_factory=dict)
    object_actions: dict[str, Any] = field(default_factory=dict)
    spaces: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    """A data unit of the project with its dataset, and its task in a workflow project."""

    row: DataRow
    dataset: Dataset
    task: Task | None


# ---- rules -------------------------------------------------------------------------------------


def corrupted(message: str) -> ApiError:
    return ApiError("CORRUPTED_LABEL_ERROR", message)


def units_of(store: Store, project: Project) -> dict[str, Unit]:
    """Every data unit of the project (for listings)."""
    tasks = {t.data_hash: t for t in project_tasks(store, project)}
    return {h: Unit(row, dataset, tasks.get(h)) for h, (row, dataset) in data_units_of(store, project).items()}


def unit_of(store: Store, project: Project, data_hash: str) -> Unit | None:
    """One data unit of the project, without listing the others (reads and writes of given rows)."""
    found = data_unit_of(store, project, data_hash)
    return Unit(found[0], found[1], task_of_unit(store, project, data_hash)) if found is not None else None


def unit_of_row(store: Store, project: Project, row: LabelRow) -> Unit:
    unit = unit_of(store, project, row.data_hash)
    if unit is None:  # its data unit left the project
        raise not_found("label row", row.label_hash)
    return unit


def _unit_hashes(row: DataRow) -> dict[str, int]:
    """The units a label document of this data unit has, with their sequence numbers."""
    if row.images:
        return {image["image_hash"]: int(image["data_sequence"]) for image in row.images}
    return {row.data_hash: 0}


def _empty_labels(row: DataRow) -> dict[str, Any]:
    if row.data_type in FRAME_BASED:
        return {row.data_hash: {}}
    return {h: {"objects": [], "classifications": []} for h in _unit_hashes(row)}


def rows_of(store: Store, project: Project) -> list[LabelRow]:
    return store.children(LabelRow, project.hash)


def row_of(store: Store, project: Project, label_hash: Any) -> LabelRow:
    row = store.get(LabelRow, label_hash) if isinstance(label_hash, str) else None
    if row is None or row.project_hash != project.hash:
        raise not_found("label row", label_hash)
    return row


def create_row(store: Store, project: Project, user: User, unit: DataRow, branch: str) -> LabelRow:
    at = now()
    row = LabelRow(
        label_hash=new_hash(),
        project_hash=project.hash,
        data_hash=unit.data_hash,
        branch_name=branch,
        created_at=at,
        last_edited_at=at,
        created_by=user.email,
    )
    store.put(
        LabelDocument(
            label_hash=row.label_hash, created_at=at, labels=_empty_labels(unit), sequences=_unit_hashes(unit)
        )
    )
    return store.put(row)


def label_status(project: Project, unit: Unit, row: LabelRow | None) -> str:
    """The legacy status: the row's own in manual QA; from the task's stage in a workflow project."""
    if row is None:
        return "NOT_LABELLED"
    if project.project_type != "workflow" or unit.task is None:
        return row.label_status
    stage = stage_of(project, unit.task.stage_uuid) or {}
    if stage.get("stageType") == "DONE":
        return "LABELLED"
    return "REVIEW_IN_PROGRESS" if stage.get("stageType") in REVIEWING else "LABEL_IN_PROGRESS"


def task_status(project: Project, unit: Unit) -> str | None:
    return annotation_task_status(project, unit.task) if unit.task is not None else None


def _features(editor: dict[str, Any], key: str) -> set[str]:
    return {f["featureNodeHash"] for f in editor.get(key, []) if isinstance(f, dict) and "featureNodeHash" in f}


def _check_labels(unit: DataRow, unit_hash: str, labels: Any) -> Any:
    """One data unit's labels must have the shape of its data type (frames within the unit)."""
    if labels is None:
        return _empty_labels(unit)[unit_hash]
    if not isinstance(labels, dict):
        raise corrupted(f"data unit {unit_hash}: 'labels' must be an object")
    frames = labels.items() if unit.data_type in FRAME_BASED else [("0", labels)]
    for frame, frame_labels in frames:
        if not str(frame).isdigit():
            raise corrupted(f"data unit {unit_hash}: {frame!r} is not a frame number")
        if int(frame) >= unit.frames:
            raise corrupted(f"data unit {unit_hash}: frame {frame} is beyond its last frame ({unit.frames - 1})")
        if not isinstance(frame_labels, dict) or not all(
            isinstance(frame_labels.get(k, []), list) for k in ("objects", "classifications")
        ):
            raise corrupted(f"data unit {unit_hash}, frame {frame}: 'objects' and 'classifications' must be lists")
    return labels


def check_document(
    unit: DataRow, editor: dict[str, Any], document: dict[str, Any]
) -> tuple[LabelDocument, list[tuple[str, str]]]:
    """The labels of a saved document, and its problems as (Encord error code, message)."""
    data_units = document.get("data_units")
    if not isinstance(data_units, dict):
        raise corrupted("'data_units' must be an object")
    expected = _unit_hashes(unit)
    labels = _empty_labels(unit)
    for unit_hash, data_unit in data_units.items():
        if unit_hash not in expected:
            raise corrupted(f"{unit_hash} is not a data unit of {unit.title!r}")
        if not isinstance(data_unit, dict):
            raise corrupted(f"data unit {unit_hash} must be an object")
        labels[unit_hash] = _check_labels(unit, unit_hash, data_unit.get("labels"))
    parts = {}
    for key in ("object_answers", "classification_answers", "object_actions", "spaces"):
        value = document.get(key, {})
        if not isinstance(value, dict):
            raise corrupted(f"'{key}' must be an object")
        parts[key] = value
    content = LabelDocument(label_hash="", created_at=now(), labels=labels, sequences=expected, **parts)
    problems: list[tuple[str, str]] = []
    objects, classifications = _features(editor, "objects"), _features(editor, "classifications")
    for label_id, fact in label_facts(labels, expected, parts["classification_answers"]).items():
        feature = fact["label"]["featureHash"]
        if fact["category"] == "object":
            if label_id not in parts["object_answers"]:
                problems.append(("ANSWER_DICTIONARY_ERROR", f"object {label_id} has no entry in object_answers"))
            if feature not in objects:
                problems.append(
                    ("FEATURE_DOES_NOT_EXIST_ERROR", f"object {label_id}: feature {feature} is not in the ontology")
                )
        elif feature not in classifications:
            problems.append(
                ("FEATURE_DOES_NOT_EXIST_ERROR", f"classification {label_id}: feature {feature} is not in the ontology")
            )
    return content, problems


def save_row(
    store: Store, project: Project, user: User, row: LabelRow, unit: Unit, document: Any, *, validate: bool
) -> None:
    """Replace a row's labels, journalling what changed; refused or saved invalid as check_document finds."""
    if not isinstance(document, dict):
        raise corrupted("a label row document must be an object")
    content, problems = check_document(unit.row, editor_of(store, project), document)
    if validate and problems:
        code, message = problems[0]
        raise ApiError(code, message)
    old = store.get(LabelDocument, row.label_hash)
    before = label_facts(old.labels, old.sequences, old.classification_answers) if old is not None else {}
    after = label_facts(content.labels, content.sequences, content.classification_answers)
    stage = stage_of(project, unit.task.stage_uuid) if unit.task is not None else None
    changes = [("delete", before[h]) for h in before if h not in after]
    changes += [
        ("add" if h not in before else "edit", f)
        for h, f in after.items()
        if before.get(h, {}).get("content") != f["content"]
    ]
    for action, fact in changes:
        record_event(
            store, project, user, fact["category"], action, unit.row, dataset_title=unit.dataset.title,
            branch_name=row.branch_name, task_uuid=unit.task.uuid if unit.task else None, stage=stage, label=fact["label"],
        )  # fmt: skip
    content.label_hash, content.created_at = row.label_hash, row.created_at
    store.put(content)
    row.version += 1
    row.last_edited_at = now()
    row.is_valid, row.errors = not problems, [message for _, message in problems]
    store.put(row)


def copy_to_branch(
    store: Store, project: Project, user: User, target: str, overwrite: bool, rows: list[LabelRow]
) -> int:
    """L-15: copy rows' labels to the same data units on another branch; returns how many rows changed."""
    on_target = {r.data_hash: r for r in rows_of(store, project) if r.branch_name == target}
    units = data_units_of(store, project)
    copied = 0
    for row in rows:
        existing = on_target.get(row.data_hash)
        if (existing is not None and not overwrite) or row.data_hash not in units:
            continue
        target_row = existing or create_row(store, project, user, units[row.data_hash][0], target)
        content = store.get(LabelDocument, row.label_hash)
        assert content is not None
        content.label_hash, content.created_at = target_row.label_hash, target_row.created_at
        store.put(content)
        target_row.last_edited_at, target_row.version = now(), target_row.version + 1
        target_row.is_valid, target_row.errors = row.is_valid, list(row.errors)
        store.put(target_row)
        copied += 1
    return copied


# ---- wire shapes -------------------------------------------------------------------------------


def document_time(value: datetime) -> str:
    """The spelling label documents use (§7.7, what 0.1.211 writes)."""
    return value.strftime("%a, %d %b %Y %H:%M:%S UTC")


def metadata_v1(
    project: Project,
    unit: Unit,
    row: LabelRow | None,
    *,
    branch: str,
    client_metadata: bool,
    images_data: bool,
    workflow_node: bool,
) -> dict[str, Any]:
    """§7.6 label-row metadata; data units without a row have a null label hash and no times."""
    data = unit.row
    task = unit.task
    stage = stage_of(project, task.stage_uuid) if task is not None else None
    record: dict[str, Any] = {
        "label_hash": row.label_hash if row else None,
        "created_at": v1_time(row.created_at) if row else None,
        "last_edited_at": v1_time(row.last_edited_at) if row else None,
        "branch_name": row.branch_name if row else branch,
        "data_hash": data.data_hash,
        "dataset_hash": unit.dataset.hash,
        "dataset_title": unit.dataset.title,
        "data_title": data.title,
        "data_type": data.data_type,
        "data_link": None if data.images else data.file_link,
        "label_status": label_status(project, unit, row),
        "annotation_task_status": task_status(project, unit),
        "workflow_graph_node": {"uuid": stage["uuid"], "title": stage["title"]} if stage and workflow_node else None,
        "is_shadow_data": False,
        "number_of_frames": data.frames,
        "duration": data.duration,
        "frames_per_second": data.fps,
        "height": data.height,
        "width": data.width,
        "spaces": {},
        "task_uuid": task.uuid if task else None,
        "priority": task.priority if task and stage and stage["stageType"] != "DONE" else None,
        "file_type": data.file_type,
        "is_valid": row.is_valid if row else True,
        "backing_item_uuid": data.backing_item_uuid,
        "assigned_user_email": task.assignee if task else None,
        "last_actioned_by_user_email": task.last_actioned_by if task else None,
    }
    if client_metadata:
        record["client_metadata"] = data.client_metadata
        record["client_metadata_signed_url"] = None  # no blob store: the metadata is always inline
    if images_data:
        record["images_data"] = data_row_v1(data).get("images_data")
    return record


@lists_label_rows
def project_label_rows_v1(store: Store, project: Project) -> list[dict[str, Any]]:
    """The `label_rows` of the v1 project record (P-01): every data unit on the main branch, with a null label hash
    until its row is created (the SDK's OrmProject.get_labels_list expects those), as L-01 lists them."""
    rows = {row.data_hash: row for row in rows_of(store, project) if row.branch_name == MAIN}
    return [
        metadata_v1(project, unit, rows.get(data_hash), branch=MAIN, client_metadata=False, images_data=False,
                    workflow_node=True)
        for data_hash, unit in units_of(store, project).items()
    ]  # fmt: skip


def _data_unit_v1(data: DataRow, unit_hash: str, sequence: int, labels: Any) -> dict[str, Any]:
    image = next((i for i in data.images if i["image_hash"] == unit_hash), None)
    shaped: dict[str, Any] = {
        "data_hash": unit_hash,
        "data_title": image["title"] if image else data.title,
        "data_type": data.file_type,
        "data_sequence": str(sequence) if data.images else sequence,
    }
    if data.data_type != "DICOM":
        shaped["data_link"] = image["file_link"] if image else data.file_link
    shaped |= {"width": data.width, "height": data.height, "labels": labels}
    if data.fps is not None:
        shaped |= {"data_fps": data.fps, "data_duration": data.duration}
    return shaped


def _filtered(labels: dict[str, Any], keep: set[str] | None, data: DataRow) -> dict[str, Any]:
    """The labels with only the objects of the features in `keep` (all when None)."""
    if keep is None:
        return labels

    def only(frame_labels: dict[str, Any]) -> dict[str, Any]:
        return {**frame_labels, "objects": [o for o in frame_labels.get("objects", []) if o.get("featureHash") in keep]}

    if data.data_type in FRAME_BASED:
        return {h: {f: only(v) for f, v in unit.items()} for h, unit in labels.items()}
    return {h: only(unit) for h, unit in labels.items()}


def document_v1(
    project: Project,
    unit: Unit,
    row: LabelRow,
    content: LabelDocument,
    *,
    object_features: set[str] | None = None,
    classification_features: set[str] | None = None,
) -> dict[str, Any]:
    """§7.7 label-row document; the feature filters make a read-only view."""
    data = unit.row
    labels = _filtered(content.labels, object_features, data)
    answers = content.classification_answers
    if classification_features is not None:
        answers = {h: a for h, a in answers.items() if a.get("featureHash") in classification_features}
    return {
        "label_hash": row.label_hash,
        "branch_name": row.branch_name,
        "created_at": document_time(row.created_at),
        "last_edited_at": document_time(row.last_edited_at),
        "data_hash": data.data_hash,
        "dataset_hash": unit.dataset.hash,
        "dataset_title": unit.dataset.title,
        "data_title": data.title,
        "data_type": data.data_type.lower(),
        "annotation_task_status": task_status(project, unit),
        "is_shadow_data": False,
        "object_answers": content.object_answers,
        "classification_answers": answers,
        "object_actions": content.object_actions,
        "label_status": label_status(project, unit, row),
        "data_units": {h: _data_unit_v1(data, h, content.sequences[h], labels[h]) for h in content.labels},
        "spaces": content.spaces,
        "is_valid": row.is_valid,
    }


def classifications_v2(data: DataRow, row: LabelRow, content: LabelDocument) -> dict[str, Any]:
    """L-14 entry."""
    return {
        "labelUuid": row.label_hash,
        "dataUuid": row.data_hash,
        "dataTitle": data.title,
        "branchName": row.branch_name,
        "classificationAnswers": content.classification_answers,
        "exportUuid": None,
        "exportedAt": None,
    }


# ---- v1 handlers -------------------------------------------------------------------------------


def _optional_list(fields: dict[str, Any], key: str, choices: tuple[str, ...] | None = None) -> list[str] | None:
    if fields.get(key) is None:
        return None
    values = payloads.text_list(fields, key)
    if choices is not None and not set(values) <= set(choices):
        raise invalid(f"'{key}' must be among {', '.join(choices)}")
    return values


def _moment(fields: dict[str, Any], key: str) -> datetime | None:
    value = payloads.optional_text(fields, key)
    return parse_datetime(key, value) if value is not None else None


def v1_list_label_rows(call: V1Call) -> list[dict[str, Any]]:
    """L-01: every data unit of the project (on the asked branch, or each row of every branch), filtered."""
    f = call.fields
    project = call.resource_as(Project)
    all_branches = payloads.flag(f, "include_all_label_branches", default=False)
    branch = payloads.optional_text(f, "branch_name")
    if all_branches and branch is not None:
        raise invalid("branch_name cannot be combined with include_all_label_branches")
    branch = branch or MAIN
    edited_before, edited_after = _moment(f, "edited_before"), _moment(f, "edited_after")
    statuses = _optional_list(f, "label_statuses", ANNOTATION_TASK_STATUSES)
    shadow = payloads.optional_text(f, "shadow_data_state")
    if shadow is not None and shadow not in SHADOW_STATES:
        raise invalid(f"'shadow_data_state' must be one of {', '.join(SHADOW_STATES)}")
    uninitialised = payloads.flag(f, "include_uninitialised_labels", default=False)
    data_hashes, label_hashes = _optional_list(f, "data_hashes"), _optional_list(f, "label_hashes")
    title_eq, title_like = payloads.optional_text(f, "data_title_eq"), payloads.optional_text(f, "data_title_like")
    node_eq = payloads.optional_text(f, "workflow_graph_node_title_eq")
    node_like = payloads.optional_text(f, "workflow_graph_node_title_like")
    shape = {
        "client_metadata": payloads.flag(f, "include_client_metadata", default=False),
        "images_data": payloads.flag(f, "include_images_data", default=False),
        "workflow_node": payloads.flag(f, "include_workflow_graph_node", default=True),
    }
    payloads.flag(f, "include_children", default=False)  # no data groups in the sandbox: nothing to include
    payloads.flag(f, "client_metadata_as_signed_url", default=False)  # answered inline either way

    units = units_of(call.store, project)
    by_unit: dict[str, list[LabelRow]] = {}
    for row in rows_of(call.store, project):
        if all_branches or row.branch_name == branch:
            by_unit.setdefault(row.data_hash, []).append(row)
    listed: list[dict[str, Any]] = []
    for data_hash, unit in units.items():
        rows: list[LabelRow | None] = list(by_unit.get(data_hash, [])) or [None]
        stage = stage_of(project, unit.task.stage_uuid) if unit.task is not None else None
        for label_row in rows:
            if (
                (label_row is None and not uninitialised)
                or shadow == "SHADOW_DATA"
                or (data_hashes is not None and data_hash not in data_hashes)
                or (label_hashes is not None and (label_row is None or label_row.label_hash not in label_hashes))
                or (edited_before is not None and (label_row is None or label_row.last_edited_at >= edited_before))
                or (edited_after is not None and (label_row is None or label_row.last_edited_at <= edited_after))
                or (statuses is not None and task_status(project, unit) not in statuses)
                or (title_eq is not None and unit.row.title != title_eq)
                or (title_like is not None and not sql_like(unit.row.title, title_like))
                or (node_eq is not None and (stage is None or stage["title"] != node_eq))
                or (node_like is not None and (stage is None or not sql_like(stage["title"], node_like)))
            ):
                continue
            listed.append(metadata_v1(project, unit, label_row, branch=branch, **shape))
    return listed


def _feature_filter(fields: dict[str, Any], key: str) -> set[str] | None:
    values = _optional_list(fields, key)
    return set(values) if values is not None else None


def v1_get_label_rows(call: V1Call) -> Any:
    """L-02 (a label hash) and L-03 (a list: unknown hashes skipped, duplicates dropped, at most 1000)."""
    f = call.fields
    project = call.resource_as(Project)
    filters = {
        "object_features": _feature_filter(f, "include_object_feature_hashes"),
        "classification_features": _feature_filter(f, "include_classification_feature_hashes"),
    }
    for key in ("get_signed_url", "include_reviews", "include_export_history", "include_archived"):
        payloads.flag(f, key, default=False)  # accepted; media links are never signed here, reviews not exported

    def document(row: LabelRow, unit: Unit) -> dict[str, Any]:
        content = call.store.get(LabelDocument, row.label_hash)
        assert content is not None
        return document_v1(project, unit, row, content, **filters)

    if isinstance(call.uid, str):
        row = row_of(call.store, project, call.uid)
        return document(row, unit_of_row(call.store, project, row))
    if not isinstance(call.uid, list) or not all(isinstance(h, str) for h in call.uid):
        raise invalid("uid must be a label hash or a list of label hashes")
    if len(call.uid) > MAX_LABELS_PER_CALL:
        raise ApiError(
            "MULTI_LABEL_LIMIT_ERROR",
            f"at most {MAX_LABELS_PER_CALL} label rows per call",
            {"maximum_labels_allowed": MAX_LABELS_PER_CALL},
        )
    documents = []
    for label_hash in dict.fromkeys(call.uid):
        found = call.store.get(LabelRow, label_hash)
        unit = unit_of(call.store, project, found.data_hash) if found and found.project_hash == project.hash else None
        if found is not None and unit is not None:
            documents.append(document(found, unit))
    return documents


def v1_create_label_rows(call: V1Call) -> Any:
    """L-04 (a data hash: RESOURCE_EXISTS_ERROR when it has a row) and L-05 (a list, on a branch: a data
    unit that has a row on it answers that row)."""
    project = call.resource_as(Project)
    fields = call.fields
    payloads.flag(fields, "get_signed_url", default=False)
    single = isinstance(call.uid, str)
    data_hashes = [call.uid] if single else call.uid
    if not isinstance(data_hashes, list) or not all(isinstance(h, str) for h in data_hashes):
        raise invalid("uid must be a data hash or a list of data hashes")
    branch = payloads.optional_text(fields, "branch_name") or MAIN
    documents = []
    for data_hash in dict.fromkeys(data_hashes):
        unit = unit_of(call.store, project, data_hash)
        if unit is None:
            raise not_found("data unit", data_hash)
        on_unit = call.store.find(LabelRow, "data_hash", data_hash)
        row = next((r for r in on_unit if r.project_hash == project.hash and r.branch_name == branch), None)
        if row is not None and single:
            raise ApiError("RESOURCE_EXISTS_ERROR", f"data unit {data_hash} already has a label row")
        row = row or create_row(call.store, project, call.user, unit.row, branch)
        content = call.store.get(LabelDocument, row.label_hash)
        assert content is not None
        documents.append(document_v1(project, unit, row, content))
    return documents[0] if single else documents


def v1_save_label_rows(call: V1Call) -> bool:
    """L-06 (a label hash, the document as payload) and L-07 (a list, `labels` in the same order)."""
    project = call.resource_as(Project)
    payload = call.fields
    if isinstance(call.uid, str):
        label_hashes, documents = [call.uid], [payload]
    else:
        label_hashes, many = call.uid, payload.get("labels")
        if not isinstance(label_hashes, list) or not isinstance(many, list) or len(label_hashes) != len(many):
            raise invalid("uid must be a list of label hashes and 'labels' a list of as many documents")
        documents = many
    validate = payloads.flag(payload, "validate_before_saving", default=False)
    for label_hash, document in zip(label_hashes, documents, strict=True):
        row = row_of(call.store, project, label_hash)
        save_row(
            call.store, project, call.user, row, unit_of_row(call.store, project, row), document, validate=validate
        )
    return True


def _require_manual_qa(project: Project) -> None:
    if project.project_type == "workflow":
        raise ApiError("WRONG_PROJECT_TYPE_ERROR", "legacy label statuses do not apply to a workflow project")


def v1_workflow_action(call: V1Call) -> bool:
    """L-08, L-09: `{"action": "complete" | "reopen"}` on the tasks of label rows."""
    project = call.resource_as(Project)
    if project.project_type != "workflow":
        raise ApiError("WRONG_PROJECT_TYPE_ERROR", "the project follows no workflow")
    action = payloads.text(call.fields, "action")
    if action not in ("complete", "reopen"):
        raise invalid("'action' must be complete or reopen")
    label_hashes = call.uid if isinstance(call.uid, list) else [call.uid]
    for label_hash in label_hashes:
        row = row_of(call.store, project, label_hash)
        task = task_of_unit(call.store, project, row.data_hash)
        if task is None:
            raise not_found("task of label row", label_hash)
        (complete_task if action == "complete" else reopen_task)(call.store, project, call.user, task)
    return True


def v1_set_label_status(call: V1Call) -> bool:
    """P-22 (legacy): any of the label statuses."""
    project = call.resource_as(Project)
    _require_manual_qa(project)
    status = payloads.text(call.fields, "label_status")
    if status not in LABEL_STATUSES:
        raise invalid(f"'label_status' must be one of {', '.join(LABEL_STATUSES)}")
    row = row_of(call.store, project, call.uid)
    row.label_status, row.last_edited_at = status, now()
    call.store.put(row)
    return True


def v1_submit_for_review(call: V1Call) -> bool:
    """P-23 (legacy): the annotator is done; the row awaits review as LABELLED."""
    project = call.resource_as(Project)
    _require_manual_qa(project)
    row = row_of(call.store, project, call.uid)
    row.label_status, row.last_edited_at = "LABELLED", now()
    call.store.put(row)
    return True


# ---- v2 handlers -------------------------------------------------------------------------------


def _project(call: V2Call) -> Project:
    return visible(call.store, Project, call.params["project_hash"], call.user)


def v2_validation_state(call: V2Call) -> dict[str, Any]:
    project = _project(call)
    row = row_of(call.store, project, call.params["label_hash"])
    return {
        "labelHash": row.label_hash,
        "branchName": row.branch_name,
        "version": row.version,
        "isValid": row.is_valid,
        "errors": row.errors,
    }


def v2_list_branches(call: V2Call) -> dict[str, Any]:
    """L-13: `main` and every branch a row is on; a handful, answered in one page."""
    project = _project(call)
    names = dict.fromkeys([MAIN, *(r.branch_name for r in rows_of(call.store, project))])
    return {"results": [{"name": name} for name in names], "nextPageToken": None}


def v2_label_classifications(call: V2Call) -> dict[str, Any]:
    project = _project(call)
    body = call.json_object()
    label_uuids = payloads.text_list(body, "labelUuids")
    if len(label_uuids) > MAX_CLASSIFICATION_LABELS:
        raise invalid(f"at most {MAX_CLASSIFICATION_LABELS} labelUuids per call")
    branch = payloads.optional_text(body, "branchName") or MAIN
    labels = []
    for label_hash in dict.fromkeys(label_uuids):
        row = call.store.get(LabelRow, label_hash)
        if row is None or row.project_hash != project.hash or row.branch_name != branch:
            continue
        found = data_unit_of(call.store, project, row.data_hash)
        content = call.store.get(LabelDocument, label_hash)
        if found is not None and content is not None:
            labels.append(classifications_v2(found[0], row, content))
    return {"labels": labels}


def v2_copy_branch(call: V2Call) -> dict[str, Any]:
    project = _project(call)
    body = call.json_object()
    source = payloads.text(body, "sourceBranchName", non_empty=True)
    target = payloads.text(body, "targetBranchName", non_empty=True)
    if source == target:
        raise invalid("sourceBranchName and targetBranchName must differ")
    overwrite = payloads.flag(body, "overwrite", default=False)
    label_uuids = body.get("labelUuids")
    data_uuids = body.get("dataUuids")
    rows = [r for r in rows_of(call.store, project) if r.branch_name == source]
    if label_uuids is not None:
        wanted = set(payloads.text_list(body, "labelUuids"))
        rows = [r for r in rows if r.label_hash in wanted]
    if data_uuids is not None:
        wanted = set(payloads.text_list(body, "dataUuids"))
        rows = [r for r in rows if r.data_hash in wanted]
    return {"copiedCount": copy_to_branch(call.store, project, call.user, target, overwrite, rows)}


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("project", "labelrowmetadata", "GET"): V1Operation(v1_list_label_rows, key=needs("label.read")),  # L-01
    ("project", "labelrow", "GET"): V1Operation(v1_get_label_rows, key=needs("label.read")),  # L-02, L-03
    ("project", "labelrow", "PUT"): V1Operation(v1_create_label_rows, key=needs("label.write")),  # L-04, L-05
    ("project", "labelrow", "POST"): V1Operation(v1_save_label_rows, key=needs("label.write")),  # L-06, L-07
    ("project", "labelworkflowgraphnode", "POST"): V1Operation(v1_workflow_action),  # L-08, L-09
    ("project", "labelstatus", "POST"): V1Operation(v1_set_label_status, key=needs("label.write")),  # P-22
    ("project", "review", "PUT"): V1Operation(v1_submit_for_review, key=needs("label.write")),  # P-23
}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "projects/{project_hash}/labels/{label_hash}/validation-state", v2_validation_state),  # L-11
    V2Route("GET", "projects/{project_hash}/branches", v2_list_branches),  # L-13
    V2Route("POST", "projects/{project_hash}/label-rows/classifications", v2_label_classifications),  # L-14
    V2Route("POST", "projects/{project_hash}/labels/copy-branch", v2_copy_branch),  # L-15
)
