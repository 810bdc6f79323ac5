"""Datasets (U-05, U-06, D-01..D-12): storage location, backing folder, members and data rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import payloads
from ..errors import invalid, not_found
from ..filters import V1_NAMES, V2_DATASET_NAMES, ListFilter
from ..operations import V1Call, V1Key, V1Operation, V2Call, V2Route, needs
from ..records import new_hash, v1_time, v2_time
from ..resources import ADMIN, Resource, add_members, listing, new_resource, require_admin, visible
from ..store import Store, register_kind
from .users import User

# ---- records -----------------------------------------------------------------------------------

# §6.1: the integer storage code and the v1 `dataset_type` string.
STORAGE_LOCATION_NAMES: dict[int, str] = {
    0: "CORD_STORAGE",
    1: "AWS_S3",
    2: "GCP_STR",
    3: "AZURE_STR",
    4: "S3_COMPATIBLE_STR",
}
DATASET_ROLE_NAMES: dict[int, str] = {ADMIN: "admin", 1: "user"}


@register_kind("dataset", keys=("members",))
@dataclass(kw_only=True)
class Dataset(Resource):
    storage_location: int = 0
    backing_folder_uuid: str | None = None
    data_rows: list[dict[str, Any]] = field(default_factory=list)


# ---- rules -------------------------------------------------------------------------------------


def create_dataset(
    store: Store, user: User, title: str, description: str, *, storage_location: int, backing_folder: bool
) -> Dataset:
    return store.put(
        Dataset(
            **new_resource(title, description, user),
            storage_location=storage_location,
            backing_folder_uuid=new_hash() if backing_folder else None,
        )
    )


def attachable_datasets(store: Store, user: User, dataset_hashes: list[str]) -> list[Dataset]:
    """Datasets the caller may attach to a project: visible ones (else not found) they administer."""
    datasets = [visible(store, Dataset, h, user) for h in dataset_hashes]
    for dataset in datasets:
        require_admin(dataset, user)
    return datasets


def hash_list(uid: Any, what: str) -> list[str]:
    """A v1 uid naming one or several records (a single string is wrapped into a list, §5.7)."""
    hashes = uid if isinstance(uid, list) else [uid]
    if not all(isinstance(h, str) for h in hashes):
        raise invalid(f"uid must be a list of {what} hashes")
    return hashes


# ---- wire shapes -------------------------------------------------------------------------------


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


def dataset_in_project_v2(dataset: Dataset) -> dict[str, Any]:
    """P-04 page item."""
    return {"datasetHash": dataset.hash, "title": dataset.title, "description": dataset.description}


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


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_create_dataset(call: V1Call) -> dict[str, Any]:
    f = call.fields
    dataset = create_dataset(
        call.store,
        call.user,
        payloads.text(f, "title", non_empty=True),
        payloads.text(f, "description", default=""),
        storage_location=payloads.integer(f, "type", choices=range(5)),
        backing_folder=payloads.flag(f, "create_backing_folder", default=False),
    )
    info = dataset_info_v1(dataset, call.user.user_hash)
    return {k: info[k] for k in ("title", "type", "dataset_hash", "user_hash")} | (
        {"backing_folder_uuid": dataset.backing_folder_uuid} if dataset.backing_folder_uuid else {}
    )


def v1_get_dataset(call: V1Call) -> dict[str, Any]:
    settings = payloads.as_object(call.fields.get("dataset_access_settings"), "dataset_access_settings")
    fetch_rows = payloads.flag(settings, "fetch_rows", default=True)
    return dataset_v1(call.resource_as(Dataset), fetch_rows=fetch_rows)


def v1_list_data_rows(call: V1Call) -> list[dict[str, Any]]:
    return list(call.resource_as(Dataset).data_rows)


def v1_list_datasets_with_role(call: V1Call) -> list[dict[str, Any]]:
    flt = ListFilter.from_fields(payloads.as_object(call.fields.get("filter"), "filter"), V1_NAMES)
    rows = []
    for d in listing(call.store, Dataset, call.user, flt):
        owner = call.store.get(User, d.owner)
        info = dataset_info_v1(d, owner.user_hash if owner is not None else "")
        rows.append({"user_role": d.role_of(call.user.email), "dataset": info})
    return rows


def v1_link_storage_items(call: V1Call) -> Any:
    """Not modelled: the sandbox has no storage folders (v2 storage), so no item can be linked."""
    raise not_found("storage item", call.uid)


def v1_delete_data_rows(call: V1Call) -> bool:
    uid = hash_list(call.uid, "data")
    dataset = call.resource_as(Dataset)
    dataset.data_rows = [r for r in dataset.data_rows if r.get("data_hash") not in uid]
    dataset.touch()
    call.store.put(dataset)
    return True


def v1_add_dataset_users(call: V1Call) -> list[dict[str, Any]]:
    emails = payloads.text_list(call.fields, "user_emails")
    role = payloads.integer(call.fields, "user_role", choices=range(2), default=ADMIN)
    dataset = call.resource_as(Dataset)
    add_members(call.store, dataset, emails, role)
    return [{"user_email": e, "user_role": dataset.members[e], "dataset_hash": dataset.hash} for e in emails]


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_create_dataset(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    dataset = create_dataset(
        call.store,
        call.user,
        payloads.text(body, "title", non_empty=True),
        payloads.optional_text(body, "description") or "",
        storage_location=0,  # not on the wire in the current API (§9 item 21)
        backing_folder=payloads.flag(body, "createBackingFolder", default=True),
    )
    return {"datasetUuid": dataset.hash, "backingFolderUuid": dataset.backing_folder_uuid}


def v2_list_datasets(call: V2Call) -> dict[str, Any]:
    flt = ListFilter.from_fields(call.query, V2_DATASET_NAMES)
    call.flag("includeOrgAccess", False)  # validated; the sandbox has no organisation admins
    rows = listing(call.store, Dataset, call.user, flt)
    return {"result": [dataset_v2(d, d.role_of(call.user.email)) for d in rows]}


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("user", "dataset", "POST"): V1Operation(v1_create_dataset),  # U-05L
    ("user", "datasetwithuserrole", "GET"): V1Operation(v1_list_datasets_with_role),  # U-06L
    ("dataset", "dataset", "GET"): V1Operation(v1_get_dataset, key=needs("dataset.read")),  # D-01
    ("dataset", "datarows", "GET"): V1Operation(v1_list_data_rows, key=needs("dataset.read")),  # D-02
    ("dataset", "datasetusers", "POST"): V1Operation(v1_add_dataset_users, admin=True),  # D-06
    ("dataset", "video", "DELETE"): V1Operation(v1_delete_data_rows, key=needs("dataset.write")),  # D-10
    ("dataset", "datasetlinkitems", "POST"): V1Operation(  # D-12
        v1_link_storage_items, key=needs("dataset.write"), modelled=False
    ),
}

V2: tuple[V2Route, ...] = (
    V2Route("POST", "datasets", v2_create_dataset),  # U-05
    V2Route("GET", "datasets/list", v2_list_datasets),  # U-06
)
