"""State changes and access rules shared by the v1 and v2 handlers, so both APIs behave identically."""

from __future__ import annotations

from typing import Any, TypeVar

from .errors import forbidden, invalid, not_found
from .filters import ListFilter
from .state import (
    DATASET_ADMIN,
    ONTOLOGY_ADMIN,
    PROJECT_ADMIN,
    Dataset,
    Ontology,
    Project,
    Resource,
    ResourceKind,
    Store,
    User,
    empty_editor,
    new_hash,
    now,
)

R = TypeVar("R", bound=Resource)


def visible(store: Store, kind: ResourceKind, resource_hash: Any, user: User, cls: type[R]) -> R:
    """The resource, or RESOURCE_NOT_FOUND_ERROR whether missing or someone else's (no existence leak)."""
    if not isinstance(resource_hash, str) or not resource_hash:
        raise invalid(f"a {kind} hash is required")
    record = store.visible(kind, resource_hash, user.email)
    if not isinstance(record, cls):
        raise not_found(kind, resource_hash)
    return record


def require_admin(record: Resource, user: User, kind: str) -> None:
    if record.role_of(user.email) != 0:
        raise forbidden(f"only an admin of the {kind} may do this")


def listing(store: Store, table: dict[str, R], user: User, flt: ListFilter) -> list[R]:
    """The caller's resources matching `flt`, oldest first (ties broken by hash, so paging is stable)."""
    rows = [r for r in store.visible_all(table, user.email) if flt.matches(r)]
    rows.sort(key=lambda r: (r.created_at, r.hash))
    return rows


def _base(title: str, description: str, user: User, admin_role: int) -> dict[str, Any]:
    if not title.strip():
        raise invalid("title must not be empty")
    at = now()
    return {
        "hash": new_hash(),
        "title": title,
        "description": description,
        "owner": user.email,
        "members": {user.email: admin_role},
        "created_at": at,
        "last_edited_at": at,
    }


def create_ontology(store: Store, user: User, title: str, description: str, editor: dict[str, Any]) -> Ontology:
    return store.add(Ontology(**_base(title, description, user, ONTOLOGY_ADMIN), editor=editor))


def update_ontology(
    store: Store, ontology: Ontology, user: User, title: str, description: str, editor: dict[str, Any]
) -> None:
    require_admin(ontology, user, "ontology")
    if not title.strip():
        raise invalid("title must not be empty")
    ontology.title, ontology.description, ontology.editor = title, description, editor
    ontology.touch()
    store.mark_dirty()


def create_dataset(
    store: Store, user: User, title: str, description: str, *, storage_location: int, backing_folder: bool
) -> Dataset:
    return store.add(
        Dataset(
            **_base(title, description, user, DATASET_ADMIN),
            storage_location=storage_location,
            backing_folder_uuid=new_hash() if backing_folder else None,
        )
    )


def attachable_datasets(store: Store, user: User, dataset_hashes: list[str]) -> list[Dataset]:
    """Datasets the caller may attach to a project: visible ones (else not found) they administer."""
    datasets = [visible(store, "dataset", h, user, Dataset) for h in dataset_hashes]
    for dataset in datasets:
        require_admin(dataset, user, "dataset")
    return datasets


# The stages a template-based (workflow) project starts with; enough for the SDK's workflow accessors.
def _default_workflow() -> list[dict[str, Any]]:
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
    """U-01: validate everything first, so a refused request leaves no half-made ontology behind."""
    base = _base(title, description, user, PROJECT_ADMIN)
    if workflow_type not in ("manual", "benchmark"):
        raise invalid("workflow_type must be 'manual' or 'benchmark'")
    datasets = attachable_datasets(store, user, list(dict.fromkeys(dataset_hashes)))
    for source in source_projects:
        visible(store, "project", source, user, Project)
    if ontology_hash:
        ontology = visible(store, "ontology", ontology_hash, user, Ontology)
    else:
        ontology = create_ontology(store, user, title, "", empty_editor())
    workflow = workflow_template is not None
    return store.add(
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


def add_members(store: Store, record: Resource, emails: list[str], role: int) -> None:
    """Existing members keep their role (P-07, D-06)."""
    for email in emails:
        record.members.setdefault(email, role)
    record.touch()
    store.mark_dirty()
