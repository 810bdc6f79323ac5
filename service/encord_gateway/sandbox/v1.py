"""v1 envelope operations: one table keyed by (context, query_type, query_method), one small handler each.

The context is `user` for `/public/user` and, for `/public`, the `ResourceType` header (or the kind of the
API key's resource), because the same query_type means different things at the two endpoints (§2.3:
`project POST` creates a project or replaces its ontology). Each entry also says what an API key needs (§6.4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import apikeys, domain, payloads, shapes
from .apikeys import ANY_KEY, USER_ONLY, KeyKind, KeyRule, needs, operation_not_allowed
from .auth import Caller
from .errors import ApiError, invalid, not_found
from .filters import V1_NAMES, ListFilter
from .state import DATASET_ADMIN, ApiKey, Dataset, Ontology, Project, Resource, ResourceKind, Store, User


@dataclass
class V1Call:
    store: Store
    user: User
    uid: Any
    payload: Any
    resource: Resource | None
    api_key: ApiKey | None = None

    @property
    def fields(self) -> dict[str, Any]:
        return payloads.as_object(self.payload, "payload")

    def project(self) -> Project:
        assert isinstance(self.resource, Project)  # guaranteed by the table's scope
        return self.resource

    def dataset(self) -> Dataset:
        assert isinstance(self.resource, Dataset)
        return self.resource

    def ontology(self) -> Ontology:
        assert isinstance(self.resource, Ontology)
        return self.resource

    def role(self) -> int | None:
        return self.resource.role_of(self.user.email) if self.resource is not None else None


V1Handler = Callable[[V1Call], Any]


@dataclass(frozen=True)
class V1Operation:
    handler: V1Handler
    admin: bool = False
    """The caller must administer the ResourceID resource (writes that change it)."""
    key: KeyRule = USER_ONLY
    """Whether a resource API key may make the call, and the scope it needs (§6.4)."""


def _filter(call: V1Call) -> ListFilter:
    return ListFilter.from_fields(payloads.as_object(call.fields.get("filter"), "filter"), V1_NAMES)


# ---- projects ----------------------------------------------------------------------------------


def create_project(call: V1Call) -> str:
    f = call.fields
    project = domain.create_project(
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


def get_project(call: V1Call) -> dict[str, Any]:
    include = payloads.flag(call.fields, "include_labels_metadata", default=False)
    return shapes.project_v1(call.store, call.project(), include_label_rows=include)


def replace_project_ontology(call: V1Call) -> bool:
    """P-13 (deprecated): the legacy editor replaces the ontology of every project sharing it."""
    editor = payloads.editor(call.fields.get("editor"))
    ontology = call.store.ontologies.get(call.project().ontology_hash)
    if ontology is None:
        raise not_found("ontology", call.project().ontology_hash)
    domain.update_ontology(call.store, ontology, call.user, ontology.title, ontology.description, editor)
    return True


def list_projects_with_role(call: V1Call) -> list[dict[str, Any]]:
    flt = _filter(call)
    return [
        {
            "user_role": p.role_of(call.user.email),
            "project": shapes.project_v1(call.store, p, include_label_rows=False),
        }
        for p in domain.listing(call.store, call.store.projects, call.user, flt)
    ]


def add_project_datasets(call: V1Call) -> bool:
    project = call.project()
    for dataset in domain.attachable_datasets(call.store, call.user, payloads.text_list(call.fields, "dataset_hashes")):
        if dataset.hash not in project.dataset_hashes:
            project.dataset_hashes.append(dataset.hash)
    project.touch()
    call.store.mark_dirty()
    return True


def remove_project_datasets(call: V1Call) -> bool:
    project = call.project()
    uid = call.uid if isinstance(call.uid, list) else [call.uid]
    if not all(isinstance(h, str) for h in uid):
        raise invalid("uid must be a list of dataset hashes")
    project.dataset_hashes = [h for h in project.dataset_hashes if h not in uid]
    project.touch()
    call.store.mark_dirty()
    return True


def add_project_users(call: V1Call) -> list[dict[str, Any]]:
    emails = payloads.text_list(call.fields, "user_emails")
    role = payloads.integer(call.fields, "user_role", choices=range(6))
    project = call.project()
    domain.add_members(call.store, project, emails, role)
    return [{"user_email": e, "user_role": project.members[e], "project_hash": project.hash} for e in emails]


# ---- label rows (the sandbox has no data units to label, so a project never has label rows) -------


def list_label_row_metadata(call: V1Call) -> list[dict[str, Any]]:
    call.project()
    return []


def no_such_label_row(call: V1Call) -> Any:
    raise not_found("label row", call.uid)


def create_label_row(call: V1Call) -> Any:
    if not isinstance(call.uid, str) or not call.uid:
        raise invalid("uid must be the data hash to label")
    rows = (r for d in shapes.datasets_of(call.store, call.project()) for r in d.data_rows)
    if not any(r.get("data_hash") == call.uid for r in rows):
        raise not_found("data row", call.uid)
    return not_implemented(call)


def list_label_logs(call: V1Call) -> list[dict[str, Any]]:
    call.project()
    return []


def not_implemented(call: V1Call) -> Any:
    """Declared in the table so that API-key scopes are enforced, but not modelled by the sandbox."""
    raise ApiError("METHOD_NOT_ALLOWED_ERROR", "the sandbox does not implement this call")


# ---- datasets ----------------------------------------------------------------------------------


def create_dataset(call: V1Call) -> dict[str, Any]:
    f = call.fields
    dataset = domain.create_dataset(
        call.store,
        call.user,
        payloads.text(f, "title", non_empty=True),
        payloads.text(f, "description", default=""),
        storage_location=payloads.integer(f, "type", choices=range(5)),
        backing_folder=payloads.flag(f, "create_backing_folder", default=False),
    )
    info = shapes.dataset_info_v1(dataset, call.user.user_hash)
    return {k: info[k] for k in ("title", "type", "dataset_hash", "user_hash")} | (
        {"backing_folder_uuid": dataset.backing_folder_uuid} if dataset.backing_folder_uuid else {}
    )


def get_dataset(call: V1Call) -> dict[str, Any]:
    settings = payloads.as_object(call.fields.get("dataset_access_settings"), "dataset_access_settings")
    fetch_rows = payloads.flag(settings, "fetch_rows", default=True)
    return shapes.dataset_v1(call.dataset(), fetch_rows=fetch_rows)


def list_data_rows(call: V1Call) -> list[dict[str, Any]]:
    return list(call.dataset().data_rows)


def list_datasets_with_role(call: V1Call) -> list[dict[str, Any]]:
    flt = _filter(call)
    rows = domain.listing(call.store, call.store.datasets, call.user, flt)
    owner_hash = {u.email: u.user_hash for u in call.store.users.values()}
    return [
        {
            "user_role": d.role_of(call.user.email),
            "dataset": shapes.dataset_info_v1(d, owner_hash.get(d.owner, "")),
        }
        for d in rows
    ]


def link_storage_items(call: V1Call) -> Any:
    # The sandbox has no storage folders (v2 storage is not modelled), so no item can be linked.
    raise not_found("storage item", call.uid)


def delete_data_rows(call: V1Call) -> bool:
    uid = call.uid if isinstance(call.uid, list) else [call.uid]
    if not all(isinstance(h, str) for h in uid):
        raise invalid("uid must be a list of data hashes")
    dataset = call.dataset()
    dataset.data_rows = [r for r in dataset.data_rows if r.get("data_hash") not in uid]
    dataset.touch()
    call.store.mark_dirty()
    return True


def add_dataset_users(call: V1Call) -> list[dict[str, Any]]:
    emails = payloads.text_list(call.fields, "user_emails")
    role = payloads.integer(call.fields, "user_role", choices=range(2), default=DATASET_ADMIN)
    dataset = call.dataset()
    domain.add_members(call.store, dataset, emails, role)
    return [{"user_email": e, "user_role": dataset.members[e], "dataset_hash": dataset.hash} for e in emails]


# ---- ontologies --------------------------------------------------------------------------------


def get_ontology(call: V1Call) -> dict[str, Any]:
    return shapes.ontology_v1(call.ontology(), call.role())


def create_ontology(call: V1Call) -> dict[str, Any]:
    f = call.fields
    ontology = domain.create_ontology(
        call.store,
        call.user,
        payloads.text(f, "title", non_empty=True),
        payloads.text(f, "description", default=""),
        payloads.editor(f.get("editor", {})),
    )
    return shapes.ontology_v1(ontology, ontology.role_of(call.user.email))


def save_ontology(call: V1Call) -> bool:
    f, ontology = call.fields, call.ontology()
    domain.update_ontology(
        call.store,
        ontology,
        call.user,
        payloads.text(f, "title", default=ontology.title, non_empty=True),
        payloads.text(f, "description", default=ontology.description),
        payloads.editor(f.get("editor", ontology.editor)),
    )
    return True


def list_ontologies_with_role(call: V1Call) -> list[dict[str, Any]]:
    flt = _filter(call)
    return [
        {
            "user_role": o.role_of(call.user.email),
            "ontology": shapes.ontology_v1(o, o.role_of(call.user.email)),
        }
        for o in domain.listing(call.store, call.store.ontologies, call.user, flt)
    ]


# ---- API keys (K-01..K-07) ---------------------------------------------------------------------


def _administered(call: V1Call, kind: KeyKind, resource_hash: Any) -> Resource:
    cls: type[Resource] = Project if kind == "project" else Dataset
    resource = domain.visible(call.store, kind, resource_hash, call.user, cls)
    domain.require_admin(resource, call.user, kind)
    return resource


def create_project_key(call: V1Call) -> str:
    project = _administered(call, "project", call.uid)
    f = call.fields
    scopes = apikeys.parse_scopes("project", f.get("scopes", []))
    _, secret = apikeys.issue(call.store, call.user, "project", project.hash, payloads.text(f, "title"), scopes)
    return secret


def list_project_keys(call: V1Call) -> list[dict[str, Any]]:
    project = _administered(call, "project", call.uid)
    return [apikeys.project_key_v1(k) for k in call.store.api_keys_of(project.hash)]


def master_project_key(call: V1Call) -> str:
    project = _administered(call, "project", call.uid)
    _, secret = apikeys.get_or_create_master(call.store, call.user, "project", project.hash)
    return secret


def create_dataset_key(call: V1Call) -> dict[str, Any]:
    f = call.fields
    dataset = _administered(call, "dataset", f.get("dataset_hash"))
    scopes = apikeys.parse_scopes("dataset", f.get("scopes", []))
    key, secret = apikeys.issue(call.store, call.user, "dataset", dataset.hash, payloads.text(f, "title"), scopes)
    return apikeys.dataset_key_v1(key, secret)


def list_dataset_keys(call: V1Call) -> list[dict[str, Any]]:
    dataset = _administered(call, "dataset", call.fields.get("dataset_hash"))
    return [apikeys.dataset_key_v1(k, None) for k in call.store.api_keys_of(dataset.hash)]


def master_dataset_key(call: V1Call) -> dict[str, Any]:
    dataset = _administered(call, "dataset", call.fields.get("dataset_hash"))
    key, secret = apikeys.get_or_create_master(call.store, call.user, "dataset", dataset.hash)
    return apikeys.dataset_key_v1(key, secret)


def api_key_meta(call: V1Call) -> dict[str, Any]:
    if call.api_key is None:
        raise ApiError("METHOD_NOT_ALLOWED_ERROR", "apikeymeta describes the API key of the call; none was used")
    return {"title": call.api_key.title, "resource_type": call.api_key.resource_type}


# ---- the table ---------------------------------------------------------------------------------

Context = str  # "user" or a ResourceType

OPERATIONS: dict[tuple[Context, str, str], V1Operation] = {
    ("user", "project", "POST"): V1Operation(create_project),  # U-01
    ("user", "projectwithuserrole", "GET"): V1Operation(list_projects_with_role),  # U-03
    ("user", "dataset", "POST"): V1Operation(create_dataset),  # U-05L
    ("user", "datasetwithuserrole", "GET"): V1Operation(list_datasets_with_role),  # U-06L
    ("user", "ontology", "POST"): V1Operation(create_ontology),  # O-03L
    ("user", "ontologywithuserrole", "GET"): V1Operation(list_ontologies_with_role),  # O-02L
    ("user", "projectapikey", "POST"): V1Operation(create_project_key),  # K-01
    ("user", "projectapikey", "GET"): V1Operation(list_project_keys),  # K-02
    ("user", "projectapikey", "PUT"): V1Operation(master_project_key),  # K-03
    ("user", "datasetapikey", "POST"): V1Operation(create_dataset_key),  # K-04
    ("user", "datasetapikey", "GET"): V1Operation(list_dataset_keys),  # K-05
    ("user", "datasetapikey", "PUT"): V1Operation(master_dataset_key),  # K-06
    ("project", "apikeymeta", "GET"): V1Operation(api_key_meta, key=ANY_KEY),  # K-07
    ("project", "project", "GET"): V1Operation(get_project, key=ANY_KEY),  # P-01
    ("project", "project", "POST"): V1Operation(replace_project_ontology, admin=True),  # P-13
    ("project", "projectdataset", "POST"): V1Operation(add_project_datasets, admin=True),  # P-05
    ("project", "projectdataset", "DELETE"): V1Operation(remove_project_datasets, admin=True),  # P-06
    ("project", "projectusers", "POST"): V1Operation(add_project_users, admin=True),  # P-07
    ("project", "labelrowmetadata", "GET"): V1Operation(list_label_row_metadata, key=needs("label.read")),
    ("project", "labelrow", "GET"): V1Operation(no_such_label_row, key=needs("label.read")),
    ("project", "labelrow", "POST"): V1Operation(no_such_label_row, key=needs("label.write")),
    ("project", "labelrow", "PUT"): V1Operation(create_label_row, key=needs("label.write")),
    ("project", "labellog", "GET"): V1Operation(list_label_logs, key=needs("label_logs.read")),
    ("project", "labelingalgorithm", "POST"): V1Operation(not_implemented, key=needs("algo.library")),
    ("dataset", "apikeymeta", "GET"): V1Operation(api_key_meta, key=ANY_KEY),  # K-07
    ("dataset", "dataset", "GET"): V1Operation(get_dataset, key=needs("dataset.read")),  # D-01
    ("dataset", "datarows", "GET"): V1Operation(list_data_rows, key=needs("dataset.read")),  # D-02
    ("dataset", "datasetlinkitems", "POST"): V1Operation(link_storage_items, key=needs("dataset.write")),
    ("dataset", "video", "DELETE"): V1Operation(delete_data_rows, key=needs("dataset.write")),
    ("dataset", "datasetusers", "POST"): V1Operation(add_dataset_users, admin=True),  # D-06
    ("ontology", "ontology", "GET"): V1Operation(get_ontology),  # O-01L
    ("ontology", "ontology", "PUT"): V1Operation(save_ontology),  # O-04L (admin checked by update)
}

RESOURCE_TYPES: dict[str, tuple[ResourceKind, type[Resource]]] = {
    "project": ("project", Project),
    "dataset": ("dataset", Dataset),
    "ontology": ("ontology", Ontology),
}


@dataclass(frozen=True)
class Envelope:
    """A parsed v1 request body (§2.1)."""

    query_type: str
    query_method: str
    uid: Any
    payload: Any

    @classmethod
    def parse(cls, body: Any) -> Envelope:
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        query_type, query_method = body.get("query_type"), body.get("query_method")
        if not isinstance(query_type, str) or not isinstance(query_method, str):
            raise invalid("'query_type' and 'query_method' must be strings")
        values = body.get("values")
        if not isinstance(values, dict):
            raise invalid("'values' must be an object with 'uid' and 'payload'")
        # A missing payload is null (one seed example omits it, §2.1).
        return cls(query_type, query_method, values.get("uid"), values.get("payload"))


def _check_key(key: ApiKey, operation: V1Operation, envelope: Envelope) -> None:
    call = f"{envelope.query_type} {envelope.query_method}"
    if not operation.key.allowed:
        raise operation_not_allowed(f"{call} needs a user credential; API keys cannot make it")
    if operation.key.scope is not None and operation.key.scope not in key.scopes:
        raise operation_not_allowed(f"{call} needs an API key with the {operation.key.scope} scope")


def dispatch(
    store: Store, caller: Caller, *, user_endpoint: bool, resource_type: str, resource_id: str, envelope: Envelope
) -> Any:
    """Run one envelope call for an authenticated caller; ApiError for every refusal."""
    key, user = caller.api_key, caller.user
    # An API key is bound to one resource (checked at authentication); its kind is the context.
    context = "user" if user_endpoint else (key.resource_type if key is not None else resource_type)
    if not user_endpoint and context not in RESOURCE_TYPES:
        raise invalid("calls to /public need a ResourceType header of project, dataset or ontology")
    operation = OPERATIONS.get((context, envelope.query_type, envelope.query_method))
    if operation is None:
        raise ApiError(
            "METHOD_NOT_ALLOWED_ERROR",
            f"{envelope.query_type} {envelope.query_method} is not supported at this endpoint",
        )
    resource: Resource | None = None
    if key is not None:
        _check_key(key, operation, envelope)
        kind, cls = RESOURCE_TYPES[context]
        resource = store.table(kind).get(key.resource_hash)
        if not isinstance(resource, cls):
            raise not_found(kind, key.resource_hash)
    elif not user_endpoint:
        kind, cls = RESOURCE_TYPES[context]
        # Old SDKs addressed ontologies by uid rather than ResourceID.
        target = resource_id or (envelope.uid if isinstance(envelope.uid, str) else "")
        resource = domain.visible(store, kind, target, user, cls)
        if operation.admin:
            domain.require_admin(resource, user, kind)
    return operation.handler(V1Call(store, user, envelope.uid, envelope.payload, resource, key))
