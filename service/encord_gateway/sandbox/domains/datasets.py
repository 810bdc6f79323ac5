"""Datasets (U-05, U-06, D-01..D-12): storage location, backing folder, members and their data units."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import invalid, not_found
from ..filters import V1_NAMES, V2_DATASET_NAMES, ListFilter
from ..operations import V1Call, V1Key, V1Operation, V2Call, V2Route, needs
from ..records import new_hash, now, v1_time, v2_time
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


# The data types of a data unit (§6.6): UPPER-case in data rows and label-row metadata, the MIME type of
# its files, and the default size of a seeded unit.
DATA_TYPES = ("VIDEO", "IMAGE", "IMG_GROUP", "DICOM")
MIME_TYPES = {"VIDEO": "video/mp4", "IMAGE": "image/jpeg", "IMG_GROUP": "image/jpeg", "DICOM": "application/dicom"}
UNIT_SIZE = range(1, 2**31)  # frames, pixels and bytes of a seeded unit


@register_kind(
    "data_row", id="data_hash", parent="dataset_hash", parent_kinds=("dataset",), keys=("backing_item_uuid",)
)
@dataclass(kw_only=True)
class DataRow:
    """A data unit of a dataset: a video, an image, an image group or a DICOM series (§7.5).

    `frames` is what a label row of it holds: a video's frame count, an image group's or series'
    images (one frame each), 1 for an image. `images` are the members of a group or series.
    """

    data_hash: str
    dataset_hash: str
    title: str
    data_type: str
    created_at: datetime
    last_edited_at: datetime
    file_link: str
    file_type: str
    file_size: int
    width: int | None = None
    height: int | None = None
    frames: int = 1
    fps: float | None = None
    duration: float | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    client_metadata: dict[str, Any] = field(default_factory=dict)
    backing_item_uuid: str | None = None
    storage_location: int = 0


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


def add_data_unit(store: Store, dataset: Dataset, spec: dict[str, Any]) -> DataRow:
    """One data unit as an upload would leave it (the control API seeds them until uploads exist)."""
    data_type = spec.get("data_type", "IMAGE")
    if data_type not in DATA_TYPES:
        raise invalid(f"data_type must be one of {', '.join(DATA_TYPES)}")
    title = payloads.text(spec, "title", non_empty=True)
    data_hash = new_hash()
    images: list[dict[str, Any]] = []
    if data_type in ("IMG_GROUP", "DICOM"):
        names = payloads.text_list(spec, "images", default=[f"{title}-{i}" for i in range(3)])
        if not names:
            raise invalid("an image group or DICOM series needs at least one image")
        images = [
            {"image_hash": new_hash(), "title": name, "file_link": f"cord-images/{data_hash}/{i}", "data_sequence": i}
            for i, name in enumerate(names)
        ]
    frames = (
        len(images)
        if images
        else payloads.integer(spec, "frames", choices=UNIT_SIZE, default=30 if data_type == "VIDEO" else 1)
    )
    at = now()
    row = DataRow(
        data_hash=data_hash,
        dataset_hash=dataset.hash,
        title=title,
        data_type=data_type,
        created_at=at,
        last_edited_at=at,
        file_link=f"cord-data/{dataset.hash}/{data_hash}",
        file_type=MIME_TYPES[data_type],
        file_size=payloads.integer(spec, "file_size", choices=UNIT_SIZE, default=1024 * frames),
        width=payloads.integer(spec, "width", choices=UNIT_SIZE, default=640),
        height=payloads.integer(spec, "height", choices=UNIT_SIZE, default=480),
        frames=frames,
        fps=25.0 if data_type == "VIDEO" else None,
        duration=frames / 25.0 if data_type == "VIDEO" else None,
        images=images,
        client_metadata=payloads.as_object(spec.get("client_metadata"), "client_metadata"),
        storage_location=dataset.storage_location,
    )
    dataset.touch()
    store.put(dataset)
    return store.put(row)


def data_rows_of(store: Store, dataset: Dataset) -> list[DataRow]:
    return store.children(DataRow, dataset.hash)


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


def data_row_v1(row: DataRow, *, client_metadata: bool = False) -> dict[str, Any]:
    """§7.5 data row: every required key present, nullable ones as null."""
    record: dict[str, Any] = {
        "data_hash": row.data_hash,
        "data_title": row.title,
        "data_type": row.data_type,
        "created_at": v1_time(row.created_at),
        "last_edited_at": v1_time(row.last_edited_at),
        "width": row.width,
        "height": row.height,
        "file_link": row.file_link,
        "file_size": row.file_size,
        "file_type": row.file_type,
        "storage_location": row.storage_location,
        "frames_per_second": row.fps,
        "duration": row.duration,
        "backing_item_uuid": row.backing_item_uuid,
    }
    if client_metadata:
        record["client_metadata"] = row.client_metadata
    if row.images:
        record["images_data"] = [
            {
                "image_hash": image["image_hash"],
                "title": image["title"],
                "file_link": image["file_link"],
                "file_type": row.file_type,
                "file_size": row.file_size // len(row.images),
                "storage_location": row.storage_location,
                "created_at": v1_time(row.created_at),
                "last_edited_at": v1_time(row.last_edited_at),
                "height": row.height,
                "width": row.width,
            }
            for image in row.images
        ]
    return record


def dataset_v1(store: Store, dataset: Dataset, *, fetch_rows: bool, client_metadata: bool = False) -> dict[str, Any]:
    """D-01 dataset record; `data_rows` only when rows were asked for."""
    record = dataset_in_project_v1(dataset)
    record["backing_folder_uuid"] = dataset.backing_folder_uuid
    if fetch_rows:
        record["data_rows"] = [data_row_v1(r, client_metadata=client_metadata) for r in data_rows_of(store, dataset)]
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
    metadata = payloads.flag(settings, "fetch_client_metadata", default=False)
    return dataset_v1(call.store, call.resource_as(Dataset), fetch_rows=fetch_rows, client_metadata=metadata)


def v1_list_data_rows(call: V1Call) -> list[dict[str, Any]]:
    return [data_row_v1(r) for r in data_rows_of(call.store, call.resource_as(Dataset))]


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
    for row in data_rows_of(call.store, dataset):
        if row.data_hash in uid:
            call.store.delete(DataRow, row.data_hash)
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
