"""Projects (U-01..U-04, P-01..P-16): an ontology, attached datasets, members, and the workflow they follow.

A project follows a workflow: the stages of the template it was created from, or Encord's default
(annotate, review, complete) when none is named. Templates come from the control API (Encord's web app
makes them); only benchmark-QA projects follow none (the legacy manual-QA label statuses instead).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import invalid, not_found
from ..filters import V1_NAMES, V2_NAMES, ListFilter
from ..operations import ANY_KEY, V1Call, V1Key, V1Operation, V2Call, V2Route
from ..paging import page
from ..records import new_hash, now, v1_time, v2_time
from ..resources import Resource, add_members, listing, new_resource, visible
from ..store import Store, register_kind
from .datasets import (
    DataRow,
    Dataset,
    attachable_datasets,
    data_rows_of,
    dataset_in_project_v1,
    dataset_in_project_v2,
    hash_list,
)
from .ontologies import Ontology, create_ontology, empty_editor, update_ontology
from .users import User

# ---- records -----------------------------------------------------------------------------------


@register_kind("project", keys=("members", "ontology_hash"))
@dataclass(kw_only=True)
class Project(Resource):
    ontology_hash: str
    dataset_hashes: list[str]
    project_type: str = "manual_qa"
    status: str = "notStarted"
    workflow_type: str = "manual"
    source_projects: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    workflow_manager_uuid: str | None = None
    workflow_stages: list[dict[str, Any]] = field(default_factory=list)
    """The stages as ProjectDTO carries them (`stageType`, `uuid`, `title`, agent `pathways`)."""
    workflow_routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per stage uuid, where its tasks go: `next` (submit), `approve`, `reject` (stage uuids), `annotators`."""


@register_kind("workflow_template", id="uuid")
@dataclass(kw_only=True)
class WorkflowTemplate:
    """A workflow a project can be created from: its stages by key, with the keys each stage leads to."""

    uuid: str
    title: str
    stages: list[dict[str, Any]]
    created_at: datetime


# Per stage type, the routes a template stage must name (agent stages name pathways instead). The SDK
# builds stage objects for these types only (a router stage would break its Workflow), so only these.
STAGE_ROUTES: dict[str, tuple[str, ...]] = {
    "ANNOTATION": ("next",),
    "REVIEW": ("approve", "reject"),
    "CONSENSUS_ANNOTATION": ("next",),
    "CONSENSUS_REVIEW": ("approve", "reject"),
    "AGENT": (),
    "DONE": (),
}
ENTRY_STAGE_TYPES = ("ANNOTATION", "CONSENSUS_ANNOTATION", "AGENT")
CONSENSUS_ANNOTATORS = range(2, 6)
DEFAULT_TEMPLATE: list[dict[str, Any]] = [
    {"key": "annotate", "stageType": "ANNOTATION", "title": "Annotate", "next": "review"},
    {"key": "review", "stageType": "REVIEW", "title": "Review", "approve": "complete", "reject": "annotate"},
    {"key": "complete", "stageType": "DONE", "title": "Complete"},
]


# ---- rules -------------------------------------------------------------------------------------


def check_template_stages(raw: Any) -> list[dict[str, Any]]:
    """Template stages as the control API takes them; the first is where new tasks start.

    `[{"key", "stageType", "title", "next" | "approve" + "reject" | "pathways": [{"title", "to"}],
    "annotators"?}]`, every route naming another stage's key.
    """
    if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) for s in raw):
        raise invalid("'stages' must be a non-empty list of objects")
    keys = [s.get("key") for s in raw]
    if not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
        raise invalid("every stage needs a 'key' of its own")
    stages: list[dict[str, Any]] = []
    for spec in raw:
        stage_type = spec.get("stageType")
        if stage_type not in STAGE_ROUTES:
            raise invalid(f"stage {spec['key']!r}: 'stageType' must be one of {', '.join(STAGE_ROUTES)}")
        stage = {"key": spec["key"], "stageType": stage_type, "title": payloads.text(spec, "title", non_empty=True)}
        for route in STAGE_ROUTES[stage_type]:
            target = spec.get(route)
            if target not in keys or target == spec["key"]:
                raise invalid(f"stage {spec['key']!r}: '{route}' must name another stage's key")
            stage[route] = target
        if stage_type == "CONSENSUS_ANNOTATION":
            stage["annotators"] = payloads.integer(spec, "annotators", choices=CONSENSUS_ANNOTATORS, default=2)
        if stage_type == "AGENT":
            pathways = spec.get("pathways")
            if not isinstance(pathways, list) or not pathways or not all(isinstance(p, dict) for p in pathways):
                raise invalid(f"stage {spec['key']!r}: an agent stage needs 'pathways', each with a 'title' and a 'to'")
            for pathway in pathways:
                if pathway.get("to") not in keys:
                    raise invalid(f"stage {spec['key']!r}: every pathway's 'to' must name a stage's key")
            stage["pathways"] = [{"title": payloads.text(p, "title", non_empty=True), "to": p["to"]} for p in pathways]
        stages.append(stage)
    if stages[0]["stageType"] not in ENTRY_STAGE_TYPES:
        raise invalid(f"the first stage (where tasks start) must be one of {', '.join(ENTRY_STAGE_TYPES)}")
    if not any(s["stageType"] == "DONE" for s in stages):
        raise invalid("a workflow needs a DONE stage")
    return stages


def create_workflow_template(store: Store, title: str, stages: Any) -> WorkflowTemplate:
    if not title.strip():
        raise invalid("'title' must not be empty")
    return store.put(
        WorkflowTemplate(uuid=new_hash(), title=title, stages=check_template_stages(stages), created_at=now())
    )


def instantiate_workflow(stages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A project's own copy of template stages: fresh uuids, ProjectDTO stages, and routes by stage uuid."""
    uuids = {s["key"]: new_hash() for s in stages}
    public: list[dict[str, Any]] = []
    routes: dict[str, dict[str, Any]] = {}
    for spec in stages:
        uuid = uuids[spec["key"]]
        stage: dict[str, Any] = {"stageType": spec["stageType"], "uuid": uuid, "title": spec["title"]}
        route: dict[str, Any] = {name: uuids[spec[name]] for name in STAGE_ROUTES[spec["stageType"]]}
        if spec["stageType"] == "AGENT":
            stage["pathways"] = [
                {"uuid": new_hash(), "title": p["title"], "destinationUuid": uuids[p["to"]]} for p in spec["pathways"]
            ]
        if "annotators" in spec:
            route["annotators"] = spec["annotators"]
        public.append(stage)
        routes[uuid] = route
    return public, routes


def stage_of(project: Project, stage_uuid: str) -> dict[str, Any] | None:
    return next((s for s in project.workflow_stages if s["uuid"] == stage_uuid), None)


def first_stage(project: Project, *stage_types: str) -> dict[str, Any] | None:
    """The first stage of one of these types; with none given, the entry stage where tasks start."""
    return next((s for s in project.workflow_stages if not stage_types or s["stageType"] in stage_types), None)


def create_project(
    store: Store,
    user: User,
    *,
    title: str,
    description: str,
    dataset_hashes: list[str],
    ontology_hash: str | None,
    workflow_type: str,
    source_projects: list[str],
    workflow_template: str | None,
) -> Project:
    """U-01."""
    base = new_resource(title, description, user)
    if workflow_type not in ("manual", "benchmark"):
        raise invalid("workflow_type must be 'manual' or 'benchmark'")
    # A project without an ontology gets a new one, made before the checks below: a refusal rolls it back
    # with the request's transaction, so nothing half-made stays behind.
    own_ontology = None if ontology_hash else create_ontology(store, user, title, "", empty_editor())
    datasets = attachable_datasets(store, user, list(dict.fromkeys(dataset_hashes)))
    for source in source_projects:
        visible(store, Project, source, user)
    ontology = own_ontology or visible(store, Ontology, ontology_hash, user)
    # Every project follows a workflow (its template's, else Encord's default) but benchmark QA, the
    # legacy manual-QA kind that label statuses (P-22, P-23) drive instead.
    workflow = workflow_type != "benchmark"
    stages: list[dict[str, Any]] = []
    routes: dict[str, dict[str, Any]] = {}
    if workflow:
        template = DEFAULT_TEMPLATE
        if workflow_template is not None:
            found = store.get(WorkflowTemplate, workflow_template)
            if found is None:
                raise not_found("workflow template", workflow_template)
            template = found.stages
        stages, routes = instantiate_workflow(template)
    elif workflow_template is not None:
        raise invalid("a benchmark-QA project follows no workflow template")
    return store.put(
        Project(
            **base,
            ontology_hash=ontology.hash,
            dataset_hashes=[d.hash for d in datasets],
            project_type="workflow" if workflow else "manual_qa",
            workflow_type=workflow_type,
            source_projects=list(source_projects),
            workflow_manager_uuid=new_hash() if workflow else None,
            workflow_stages=stages,
            workflow_routes=routes,
        )
    )


def datasets_of(store: Store, project: Project) -> list[Dataset]:
    found = (store.get(Dataset, h) for h in project.dataset_hashes)
    return [d for d in found if d is not None]


def data_units_of(store: Store, project: Project) -> dict[str, tuple[DataRow, Dataset]]:
    """A project's data units: those of its attached datasets, in attachment then creation order."""
    return {
        row.data_hash: (row, dataset) for dataset in datasets_of(store, project) for row in data_rows_of(store, dataset)
    }


def data_unit_of(store: Store, project: Project, data_hash: str) -> tuple[DataRow, Dataset] | None:
    """One data unit of the project, without listing the others; None when it is not the project's."""
    row = store.get(DataRow, data_hash)
    if row is None or row.dataset_hash not in project.dataset_hashes:
        return None
    dataset = store.get(Dataset, row.dataset_hash)
    return (row, dataset) if dataset is not None else None


# P-01's record carries the label-row metadata of the project's data units (§7.4, §7.6), which the label-row domain
# shapes from its own rules and the workflow's tasks. That domain comes later in DOMAINS (it reads projects), so it
# registers its lister here when it is imported, as the groups domain listens for removed members.
LabelRowsLister = Callable[[Store, Project], list[dict[str, Any]]]
_LABEL_ROWS_LISTERS: list[LabelRowsLister] = []


def lists_label_rows(lister: LabelRowsLister) -> LabelRowsLister:
    """Register `lister(store, project)`, whose label-row metadata the project record lists (P-01)."""
    _LABEL_ROWS_LISTERS.append(lister)
    return lister


def editor_of(store: Store, project: Project) -> dict[str, Any]:
    ontology = store.get(Ontology, project.ontology_hash)
    return ontology.editor if ontology is not None else {}


# ---- wire shapes -------------------------------------------------------------------------------


def project_v1(store: Store, project: Project, *, include_label_rows: bool) -> dict[str, Any]:
    """§7.4 legacy project record (v1 `project` GET, `projectwithuserrole` GET)."""
    record: dict[str, Any] = {
        "project_hash": project.hash,
        "title": project.title,
        "description": project.description,
        "created_at": v1_time(project.created_at),
        "last_edited_at": v1_time(project.last_edited_at),
        "editor_ontology": editor_of(store, project),
        "datasets": [dataset_in_project_v1(d) for d in datasets_of(store, project)],
        "ontology_hash": project.ontology_hash,
        "source_projects": list(project.source_projects),
    }
    if include_label_rows:
        record["label_rows"] = [row for lister in _LABEL_ROWS_LISTERS for row in lister(store, project)]
    if project.workflow_manager_uuid is not None:
        record["workflow_manager_uuid"] = project.workflow_manager_uuid
    return record


def project_v2(store: Store, project: Project, user_role: int | None) -> dict[str, Any]:
    """§7.3 ProjectDTO; every required key is present even when empty."""
    dto: dict[str, Any] = {
        "projectHash": project.hash,
        "projectType": project.project_type,
        "status": project.status,
        "title": project.title,
        "description": project.description,
        "createdAt": v2_time(project.created_at),
        "creatorEmail": project.owner,
        "lastEditedAt": v2_time(project.last_edited_at),
        "ontologyHash": project.ontology_hash,
        "editorOntology": editor_of(store, project),
        "userRole": user_role,
        "sourceProjects": list(project.source_projects),
        "workflowManagerUuid": project.workflow_manager_uuid,
    }
    if project.project_type == "workflow":
        dto["workflow"] = {"stages": project.workflow_stages}
    return dto


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_create_project(call: V1Call) -> str:
    f = call.fields
    project = create_project(
        call.store,
        call.user,
        title=payloads.text(f, "title", non_empty=True),
        description=payloads.text(f, "description", default=""),
        dataset_hashes=payloads.text_list(f, "dataset_hashes", default=[]),
        ontology_hash=payloads.optional_text(f, "ontology_hash"),
        workflow_type=payloads.text(f, "workflow_type", default="manual"),
        source_projects=payloads.text_list(f, "source_projects", default=[]),
        workflow_template=payloads.optional_text(f, "workflow_template_id"),
    )
    return project.hash


def v1_list_projects_with_role(call: V1Call) -> list[dict[str, Any]]:
    flt = ListFilter.from_fields(payloads.as_object(call.fields.get("filter"), "filter"), V1_NAMES)
    return [
        {"user_role": p.role_of(call.user.email), "project": project_v1(call.store, p, include_label_rows=False)}
        for p in listing(call.store, Project, call.user, flt)
    ]


def v1_get_project(call: V1Call) -> dict[str, Any]:
    include = payloads.flag(call.fields, "include_labels_metadata", default=False)
    return project_v1(call.store, call.resource_as(Project), include_label_rows=include)


def v1_replace_project_ontology(call: V1Call) -> bool:
    """P-13 (deprecated): the legacy editor replaces the ontology of every project sharing it."""
    editor = payloads.editor(call.fields.get("editor"))
    project = call.resource_as(Project)
    ontology = call.store.get(Ontology, project.ontology_hash)
    if ontology is None:
        raise not_found("ontology", project.ontology_hash)
    update_ontology(call.store, ontology, call.user, ontology.title, ontology.description, editor)
    return True


def v1_add_project_datasets(call: V1Call) -> bool:
    project = call.resource_as(Project)
    for dataset in attachable_datasets(call.store, call.user, payloads.text_list(call.fields, "dataset_hashes")):
        if dataset.hash not in project.dataset_hashes:
            project.dataset_hashes.append(dataset.hash)
    project.touch()
    call.store.put(project)
    return True


def v1_remove_project_datasets(call: V1Call) -> bool:
    uid = hash_list(call.uid, "dataset")
    project = call.resource_as(Project)
    project.dataset_hashes = [h for h in project.dataset_hashes if h not in uid]
    project.touch()
    call.store.put(project)
    return True


def v1_add_project_users(call: V1Call) -> list[dict[str, Any]]:
    emails = payloads.text_list(call.fields, "user_emails")
    role = payloads.integer(call.fields, "user_role", choices=range(6))
    project = call.resource_as(Project)
    add_members(call.store, project, emails, role)
    return [{"user_email": e, "user_role": project.members[e], "project_hash": project.hash} for e in emails]


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_list_projects(call: V2Call) -> dict[str, Any]:
    flt = ListFilter.from_fields(call.query, V2_NAMES)
    call.flag("includeOrgAccess", False)  # validated; the sandbox has no organisation admins
    rows = listing(call.store, Project, call.user, flt)
    tags = call.query_lists.get("tagsAnyof")
    if tags:
        rows = [p for p in rows if set(p.tags) & set(tags)]
    return page(call, rows, lambda p: project_v2(call.store, p, p.role_of(call.user.email)))


def v2_get_project(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    return project_v2(call.store, project, project.role_of(call.user.email))


def v2_list_project_datasets(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    return {"results": [dataset_in_project_v2(d) for d in datasets_of(call.store, project)], "nextPageToken": None}


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("user", "project", "POST"): V1Operation(v1_create_project),  # U-01
    ("user", "projectwithuserrole", "GET"): V1Operation(v1_list_projects_with_role),  # U-03
    ("project", "project", "GET"): V1Operation(v1_get_project, key=ANY_KEY),  # P-01
    ("project", "projectdataset", "POST"): V1Operation(v1_add_project_datasets, admin=True),  # P-05
    ("project", "projectdataset", "DELETE"): V1Operation(v1_remove_project_datasets, admin=True),  # P-06
    ("project", "projectusers", "POST"): V1Operation(v1_add_project_users, admin=True),  # P-07
    ("project", "project", "POST"): V1Operation(v1_replace_project_ontology, admin=True),  # P-13
}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "projects", v2_list_projects),  # U-02
    V2Route("GET", "projects/{project_hash}", v2_get_project),  # U-04 / P-02
    V2Route("GET", "projects/{project_hash}/datasets", v2_list_project_datasets),  # P-04
)
