"""Record → wire shape, once per resource: v1 ORM dicts (snake_case, `YYYY-MM-DD HH:MM:SS`) and v2 DTOs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .state import Dataset, Ontology, Project, Store

# §6.1: the integer storage code and the v1 `dataset_type` string.
STORAGE_LOCATION_NAMES: dict[int, str] = {
    0: "CORD_STORAGE",
    1: "AWS_S3",
    2: "GCP_STR",
    3: "AZURE_STR",
    4: "S3_COMPATIBLE_STR",
}
DATASET_ROLE_NAMES: dict[int, str] = {0: "admin", 1: "user"}


def v1_time(value: datetime) -> str:
    """The legacy ORM parses exactly this format; an ISO `T` makes the SDK fail (§2.6)."""
    return value.strftime("%Y-%m-%d %H:%M:%S")


def v2_time(value: datetime) -> str:
    return value.isoformat()


# ---- projects ----------------------------------------------------------------------------------


def project_v1(store: Store, project: Project, *, include_label_rows: bool) -> dict[str, Any]:
    """§7.4 legacy project record (v1 `project` GET, `projectwithuserrole` GET)."""
    ontology = store.ontologies.get(project.ontology_hash)
    record: dict[str, Any] = {
        "project_hash": project.hash,
        "title": project.title,
        "description": project.description,
        "created_at": v1_time(project.created_at),
        "last_edited_at": v1_time(project.last_edited_at),
        "editor_ontology": ontology.editor if ontology is not None else {},
        "datasets": [dataset_in_project_v1(d) for d in datasets_of(store, project)],
        "ontology_hash": project.ontology_hash,
        "source_projects": list(project.source_projects),
    }
    if include_label_rows:
        record["label_rows"] = []
    if project.workflow_manager_uuid is not None:
        record["workflow_manager_uuid"] = project.workflow_manager_uuid
    return record


def project_v2(store: Store, project: Project, user_role: int | None) -> dict[str, Any]:
    """§7.3 ProjectDTO; every required key is present even when empty."""
    ontology = store.ontologies.get(project.ontology_hash)
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
        "editorOntology": ontology.editor if ontology is not None else {},
        "userRole": user_role,
        "sourceProjects": list(project.source_projects),
        "workflowManagerUuid": project.workflow_manager_uuid,
    }
    if project.project_type == "workflow":
        dto["workflow"] = {"stages": project.workflow_stages}
    return dto


def project_dataset_v2(dataset: Dataset) -> dict[str, Any]:
    """P-04 page item."""
    return {"datasetHash": dataset.hash, "title": dataset.title, "description": dataset.description}


def datasets_of(store: Store, project: Project) -> list[Dataset]:
    return [store.datasets[h] for h in project.dataset_hashes if h in store.datasets]


# ---- datasets ----------------------------------------------------------------------------------


def dataset_in_project_v1(dataset: Dataset) -> dict[str, Any]:
    return {
        "dataset_hash": dataset.hash,
        "title": dataset.title,
        "description": dataset.description,
        "dataset_type": STORAGE_LOCATION_NAMES.get(dataset.storage_location, "NEW_STORAGE"),
    }


def dataset_v1(dataset: Dataset, *, fetch_rows: bool) -> dict[str, Any]:
    """D-01 dataset record; `data_rows` only when rows were asked for."""
    record = dataset_in_project_v1(dataset)
    record["backing_folder_uuid"] = dataset.backing_folder_uuid
    if fetch_rows:
        record["data_rows"] = list(dataset.data_rows)
    return record


def dataset_info_v1(dataset: Dataset, owner_hash: str) -> dict[str, Any]:
    """U-06L `dataset` member (also the basis of the U-05L creation answer)."""
    record: dict[str, Any] = {
        "dataset_hash": dataset.hash,
        "user_hash": owner_hash,
        "title": dataset.title,
        "description": dataset.description,
        "type": dataset.storage_location,
        "created_at": v1_time(dataset.created_at),
        "last_edited_at": v1_time(dataset.last_edited_at),
    }
    if dataset.backing_folder_uuid is not None:
        record["backing_folder_uuid"] = dataset.backing_folder_uuid
    return record


def dataset_v2(dataset: Dataset, user_role: int | None) -> dict[str, Any]:
    """U-06 `datasets/list` item."""
    return {
        "datasetUuid": dataset.hash,
        "title": dataset.title,
        "description": dataset.description,
        "createdAt": v2_time(dataset.created_at),
        "lastEditedAt": v2_time(dataset.last_edited_at),
        "userRole": DATASET_ROLE_NAMES.get(user_role) if user_role is not None else None,
        "storageLocation": dataset.storage_location,
        "backingFolderUuid": dataset.backing_folder_uuid,
    }


# ---- ontologies --------------------------------------------------------------------------------


def ontology_v1(ontology: Ontology, user_role: int | None) -> dict[str, Any]:
    """O-01L / O-03L record (snake_case, v1 times)."""
    return {
        "ontology_hash": ontology.hash,
        "title": ontology.title,
        "description": ontology.description,
        "editor": ontology.editor,
        "created_at": v1_time(ontology.created_at),
        "last_edited_at": v1_time(ontology.last_edited_at),
        "user_role": user_role,
    }


def ontology_v2(ontology: Ontology, user_role: int | None) -> dict[str, Any]:
    """§7.13 OntologyWithUserRole; all keys required, `userRole` nullable."""
    return {
        "ontologyUuid": ontology.hash,
        "title": ontology.title,
        "description": ontology.description,
        "editor": ontology.editor,
        "createdAt": v2_time(ontology.created_at),
        "lastEditedAt": v2_time(ontology.last_edited_at),
        "userRole": user_role,
    }
