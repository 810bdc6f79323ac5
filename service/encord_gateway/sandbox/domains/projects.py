"""Projects (U-01..U-04, P-01..P-17): an ontology, attached datasets, members, and the workflow they follow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import payloads
from ..errors import invalid, not_found
from ..filters import V1_NAMES, V2_NAMES, ListFilter
from ..operations import ANY_KEY, V1Call, V1Key, V1Operation, V2Call, V2Route, needs
from ..paging import page
from ..records import new_hash, v1_time, v2_time
from ..resources import Resource, add_members, listing, new_resource, visible
from ..store import Store, register_kind
from .datasets import Dataset, attachable_datasets, dataset_in_project_v1, dataset_in_project_v2, hash_list
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


# ---- rules -------------------------------------------------------------------------------------


def _default_workflow() -> list[dict[str, Any]]:
    """The stages a template-based (workflow) project starts with; enough for the SDK's workflow accessors."""
    return [
        {"stageType": "ANNOTATION", "uuid": new_hash(), "title": "Annotate"},
        {"stageType": "REVIEW", "uuid": new_hash(), "title": "Review"},
        {"stageType": "DONE", "uuid": new_hash(), "title": "Complete"},
    ]


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
    workflow = workflow_template is not None
    return store.put(
        Project(
            **base,
            ontology_hash=ontology.hash,
            dataset_hashes=[d.hash for d in datasets],
            project_type="workflow" if workflow else "manual_qa",
            workflow_type=workflow_type,
            source_projects=list(source_projects),
            workflow_manager_uuid=new_hash() if workflow else None,
            workflow_stages=_default_workflow() if workflow else [],
        )
    )


def datasets_of(store: Store, project: Project) -> list[Dataset]:
    found = (store.get(Dataset, h) for h in project.dataset_hashes)
    return [d for d in found if d is not None]


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
        record["label_rows"] = []  # the sandbox models no label rows yet (see label_rows.py)
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


def v1_list_label_logs(call: V1Call) -> list[dict[str, Any]]:
    """Not modelled: no label rows, so no label logs."""
    return []


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
    ("project", "labellog", "GET"): V1Operation(  # P-17
        v1_list_label_logs, key=needs("label_logs.read"), modelled=False
    ),
}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "projects", v2_list_projects),  # U-02
    V2Route("GET", "projects/{project_hash}", v2_get_project),  # U-04 / P-02
    V2Route("GET", "projects/{project_hash}/datasets", v2_list_project_datasets),  # P-04
)
