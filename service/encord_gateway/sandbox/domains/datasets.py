"""Datasets (U-05, U-06, D-01..D-16, P-16): storage location, backing folder, members and their data units.

A data unit (a data row) is a record of its own. With a storage item behind it (`backing_item_uuid`) it shares the
item's name, client metadata and file. A dataset made with a backing folder mirrors that folder: data units seeded
into the dataset become items of the folder, items seeded into the folder become data units of the dataset, and
data units deleted from the dataset take their items along.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import ApiError, invalid, not_found
from ..filters import V1_NAMES, V2_DATASET_NAMES, ListFilter, parse_datetime, sql_like
from ..operations import V1Call, V1Key, V1Operation, V2Call, V2Route, needs
from ..records import new_hash, now, v1_time, v2_time
from ..resources import ADMIN, Resource, add_members, listing, new_resource, require_admin, visible
from ..store import Store, kind_named, register_kind
from .storage import (
    ITEM_TYPES,
    Folder,
    Item,
    add_item,
    blob_link,
    create_folder,
    delete_item,
    put_blob,
    update_item,
    visible_item,
)
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
# A storage item's location (v2 spelling) as the integer code of a data row.
ITEM_LOCATIONS: dict[str, int] = {"encord": 0, "s3": 1, "gcp": 2, "azure": 3, "s3Compatible": 4, "openTelekom": 4}


@register_kind("dataset", keys=("members",))
@dataclass(kw_only=True)
class Dataset(Resource):
    storage_location: int = 0
    backing_folder_uuid: str | None = None


# The data types a seeded data unit may have (§6.6, UPPER-case in data rows) and the storage item behind each.
SEEDED_ITEM_TYPES: dict[str, str] = {
    "VIDEO": "video",
    "IMAGE": "image",
    "IMG_GROUP": "imageGroup",
    "DICOM": "dicomSeries",
    "AUDIO": "audio",
    "PLAIN_TEXT": "plainText",
    "PDF": "pdf",
    "NIFTI": "nifti",
    "TIME_SERIES": "timeseries",
    "SCENE": "scene",
}
DATA_TYPES = tuple(SEEDED_ITEM_TYPES)
# Every data-row type of §6.6, for the D-02 filter.
DATA_ROW_TYPES = (*DATA_TYPES, "DICOM_STUDY", "GROUP")
UNIT_SIZE = range(1, 2**31)  # frames, pixels and bytes of a seeded unit
DUPLICATES_BEHAVIOURS = ("DUPLICATE", "FAIL", "SKIP")
# D-15: the polls a re-encoding job takes to finish ("jobs the sandbox finishes after a poll or two").
REENCODE_POLLS = 2


def _file_type(data_type: str) -> str:
    """The MIME type of a data unit's files: its item type's, or its frames' for image groups and DICOM series."""
    kind = ITEM_TYPES[SEEDED_ITEM_TYPES[data_type]]
    mime = kind.mime_type or ITEM_TYPES[kind.child_type or "image"].mime_type
    return mime or "application/octet-stream"


MIME_TYPES = {data_type: _file_type(data_type) for data_type in DATA_TYPES}
"""The MIME type of each data type's files, for domains that register data units themselves (CVAT imports)."""


@register_kind(
    "data_row", id="data_hash", parent="dataset_hash", parent_kinds=("dataset",), keys=("backing_item_uuid",)
)
@dataclass(kw_only=True)
class DataRow:
    """A data unit of a dataset: a video, an image, an image group, a DICOM series, ... (§7.5).

    `frames` is what a label row of it holds: a video's frame count, an image group's or series'
    images (one frame each), 1 for an image. `images` are the members of a group or series.
    """

    data_hash: str
    dataset_hash: str
    title: str
    data_type: str
    created_at: datetime
    last_edited_at: datetime
    file_link: str | None
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
    is_optimised_image_group: bool | None = None


@register_kind("reencode_job", id="job_id", parent="dataset_hash", parent_kinds=("dataset",))
@dataclass(kw_only=True)
class ReencodeJob:
    """D-14: a job re-encoding videos of a dataset; it is done after REENCODE_POLLS status checks."""

    job_id: str  # Encord's job ids are integers; the store keys records by text
    dataset_hash: str
    data_hashes: list[str]
    created_at: datetime
    polls: int = 0


# ---- rules -------------------------------------------------------------------------------------


def create_dataset(
    store: Store, user: User, title: str, description: str, *, storage_location: int, backing_folder: bool
) -> Dataset:
    """U-05, U-05L. A backing folder is a real top-level storage folder that mirrors the dataset (§9 item 21)."""
    base = new_resource(title, description, user)
    folder = create_folder(store, user, name=title, synced_dataset_hash=base["hash"]) if backing_folder else None
    return store.put(
        Dataset(
            **base,
            storage_location=storage_location,
            backing_folder_uuid=folder.uuid if folder is not None else None,
        )
    )


def attachable_datasets(store: Store, user: User, dataset_hashes: list[str]) -> list[Dataset]:
    """Datasets the caller may attach to a project: visible ones (else not found) they administer."""
    datasets = [visible(store, Dataset, h, user) for h in dataset_hashes]
    for dataset in datasets:
        require_admin(dataset, user)
    return datasets


def backing_folder_of(store: Store, dataset: Dataset) -> Folder | None:
    return store.get(Folder, dataset.backing_folder_uuid) if dataset.backing_folder_uuid is not None else None


def link_item(store: Store, dataset: Dataset, item: Item) -> DataRow:
    """A data unit backed by a storage item: its name, metadata and media; for a group, its frames as images."""
    kind = ITEM_TYPES[item.item_type]
    if kind.data_type is None:
        raise invalid(f"storage item {item.uuid} is a {item.item_type}: link the item it belongs to")
    children = [child for uuid in item.child_uuids if (child := store.get(Item, uuid)) is not None]
    images = [
        {"image_hash": child.uuid, "title": child.name, "file_link": child.url, "data_sequence": index}
        for index, child in enumerate(children)
    ]
    at = now()
    row = DataRow(
        data_hash=new_hash(),
        dataset_hash=dataset.hash,
        title=item.name,
        data_type=kind.data_type,
        created_at=at,
        last_edited_at=at,
        file_link=item.url,
        file_type=item.mime_type or (children[0].mime_type if children else None) or "application/octet-stream",
        file_size=item.file_size or sum(child.file_size or 0 for child in children),
        width=item.width,
        height=item.height,
        frames=item.frame_count or len(children) or 1,
        fps=item.fps,
        duration=item.duration,
        images=images if kind.child_type is not None else [],
        client_metadata=dict(item.client_metadata),
        backing_item_uuid=item.uuid,
        storage_location=ITEM_LOCATIONS.get(item.storage_location, 0),
        is_optimised_image_group={"imageGroup": False, "imageSequence": True}.get(item.item_type),
    )
    dataset.touch()
    store.put(dataset)
    return store.put(row)


def add_data_unit(store: Store, dataset: Dataset, spec: dict[str, Any]) -> DataRow:
    """One data unit as an upload would leave it (the control API seeds them until uploads exist). A dataset with
    a backing folder gets the storage item behind the unit there, as Encord's uploads make one."""
    data_type = spec.get("data_type", "IMAGE")
    if data_type not in DATA_TYPES:
        raise invalid(f"data_type must be one of {', '.join(DATA_TYPES)}")
    title = payloads.text(spec, "title", non_empty=True)
    folder = backing_folder_of(store, dataset)
    if folder is not None:
        item_spec: dict[str, Any] = {
            "name": title,
            "item_type": SEEDED_ITEM_TYPES[data_type],
            "children": spec.get("images"),
            **{key: spec[key] for key in ("frames", "width", "height", "file_size", "client_metadata") if key in spec},
        }
        return link_item(store, dataset, add_item(store, folder, folder.owner, item_spec))
    data_hash = new_hash()
    file_type = _file_type(data_type)
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
        file_type=file_type,
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
    assert row.file_link is not None
    put_blob(store, row.file_link, file_type, row.file_size)
    for image in images:
        put_blob(store, image["file_link"], file_type, max(1, row.file_size // len(images)))
    dataset.touch()
    store.put(dataset)
    return store.put(row)


def mirror_items(store: Store, folder: Folder, items: list[Item]) -> list[DataRow]:
    """Items that arrived in a dataset's backing folder become its data units (those that can be linked)."""
    if folder.synced_dataset_hash is None:
        return []
    dataset = store.get(Dataset, folder.synced_dataset_hash)
    if dataset is None:
        return []
    return [link_item(store, dataset, item) for item in items if ITEM_TYPES[item.item_type].data_type is not None]


def link_items(store: Store, user: User, dataset: Dataset, uuids: list[str], duplicates: str) -> list[DataRow]:
    """D-12: new data units for the items; items already in the dataset as `duplicates` says."""
    if duplicates not in DUPLICATES_BEHAVIOURS:
        raise invalid(f"duplicates_behavior must be one of {', '.join(DUPLICATES_BEHAVIOURS)}")
    items = [visible_item(store, uuid, user) for uuid in uuids]
    linked = {row.backing_item_uuid for row in data_rows_of(store, dataset)}
    if duplicates == "FAIL" and (twice := [i.uuid for i in items if i.uuid in linked]):
        raise ApiError("RESOURCE_EXISTS_ERROR", f"already in the dataset: {', '.join(twice)}")
    rows = []
    for item in items:
        if duplicates == "SKIP" and item.uuid in linked:
            continue
        rows.append(link_item(store, dataset, item))
        linked.add(item.uuid)
    return rows


def data_rows_of(store: Store, dataset: Dataset) -> list[DataRow]:
    return store.children(DataRow, dataset.hash)


def row_of(store: Store, dataset: Dataset, data_hash: Any) -> DataRow:
    row = store.get(DataRow, data_hash) if isinstance(data_hash, str) else None
    if row is None or row.dataset_hash != dataset.hash:
        raise not_found("data unit", data_hash)
    return row


def delete_rows(store: Store, dataset: Dataset, data_hashes: list[str]) -> None:
    """D-10, D-11. In a mirror dataset the items behind the units (in its backing folder) go too."""
    for row in [r for r in data_rows_of(store, dataset) if r.data_hash in data_hashes]:
        store.delete(DataRow, row.data_hash)
        item = store.get(Item, row.backing_item_uuid) if row.backing_item_uuid is not None else None
        if item is not None and item.parent == dataset.backing_folder_uuid:
            delete_item(store, item, remove_unused_frames=True)
    dataset.touch()
    store.put(dataset)


def rename_row(store: Store, row: DataRow, title: str | None, metadata: dict[str, Any] | None) -> DataRow:
    """D-04, D-05: through the storage item when there is one, so that it and every unit it backs agree."""
    item = store.get(Item, row.backing_item_uuid) if row.backing_item_uuid is not None else None
    if item is not None:
        update_item(store, item, {"name": title, "clientMetadata": metadata})
        found = store.get(DataRow, row.data_hash)
        assert found is not None
        return found
    if title is not None:
        if not title.strip():
            raise invalid("'data_title' must not be empty")
        row.title = title
    if metadata is not None:
        row.client_metadata = metadata
    row.last_edited_at = now()
    return store.put(row)


def matches_row_filters(row: DataRow, fields: dict[str, Any]) -> bool:
    """D-02's filters; the ones sent as null do not filter."""
    before, after = fields.get("created_before"), fields.get("created_after")
    return (
        (fields.get("title_eq") is None or row.title == fields["title_eq"])
        and (fields.get("title_like") is None or sql_like(row.title, fields["title_like"]))
        and (before is None or row.created_at < parse_datetime("created_before", before))
        and (after is None or row.created_at > parse_datetime("created_after", after))
        and (fields.get("data_types") is None or row.data_type in fields["data_types"])
        and (fields.get("data_hashes") is None or row.data_hash in fields["data_hashes"])
    )


def hash_list(uid: Any, what: str) -> list[str]:
    """A v1 uid naming one or several records (a single string is wrapped into a list, §5.7)."""
    hashes = uid if isinstance(uid, list) else [uid]
    if not all(isinstance(h, str) for h in hashes):
        raise invalid(f"uid must be a list of {what} hashes")
    return hashes


def start_reencode(store: Store, dataset: Dataset, data_hashes: list[str]) -> ReencodeJob:
    if not data_hashes:
        raise invalid("'data_hash' must name at least one video")
    for data_hash in data_hashes:
        if row_of(store, dataset, data_hash).data_type != "VIDEO":
            raise invalid(f"data unit {data_hash} is not a video")
    job_id = str(random.randrange(1, 2**31))
    while store.get(ReencodeJob, job_id) is not None:
        job_id = str(random.randrange(1, 2**31))
    return store.put(ReencodeJob(job_id=job_id, dataset_hash=dataset.hash, data_hashes=data_hashes, created_at=now()))


def poll_reencode(store: Store, dataset: Dataset, job_id: Any) -> dict[str, Any]:
    """D-15: SUBMITTED until the job has been checked REENCODE_POLLS times, then DONE with where each video is."""
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise invalid("uid must be the integer id of a re-encoding job")
    job = store.get(ReencodeJob, str(job_id))
    if job is None or job.dataset_hash != dataset.hash:
        raise not_found("re-encoding job", job_id)
    job.polls += 1
    store.put(job)
    if job.polls < REENCODE_POLLS:
        return {"status": "SUBMITTED", "result": None}
    result = []
    for data_hash in job.data_hashes:
        row = store.get(DataRow, data_hash)
        if row is None:
            continue
        path = f"cord-reencoded/{dataset.hash}/{data_hash}.mp4"
        put_blob(store, path, "video/mp4", row.file_size)
        signed = blob_link(store, path) if dataset.storage_location == 0 else None
        result.append({"data_hash": data_hash, "signed_url": signed, "bucket_path": path})
    return {"status": "DONE", "result": result}


def ocr_texts(store: Store, dataset: Dataset, data_hash: Any) -> list[dict[str, Any]]:
    """D-16 (legacy): per image of an image group, the text the sandbox 'reads' (its title) and where."""
    row = row_of(store, dataset, data_hash)
    if row.data_type != "IMG_GROUP":
        raise invalid(f"data unit {row.data_hash} is not an image group")
    return [
        {
            "processed_texts": {
                "image_hash": image["image_hash"],
                "frame": index,
                "texts": [{"text": image["title"], "boundingBox": {"x": 0.1, "y": 0.1, "w": 0.8, "h": 0.1}}],
            }
        }
        for index, image in enumerate(row.images)
    ]


# ---- wire shapes -------------------------------------------------------------------------------


def dataset_in_project_v1(dataset: Dataset) -> dict[str, Any]:
    return {
        "dataset_hash": dataset.hash,
        "title": dataset.title,
        "description": dataset.description,
        "dataset_type": STORAGE_LOCATION_NAMES.get(dataset.storage_location, "NEW_STORAGE"),
    }


def data_row_v1(
    row: DataRow,
    *,
    client_metadata: bool = False,
    images_data: bool = True,
    signed: Store | None = None,
    signed_images: Store | None = None,
) -> dict[str, Any]:
    """§7.5 data row: every required key present, nullable ones as null. `signed` (the store holding the blobs)
    adds the unit's signed URL, `signed_images` its images'."""
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
        "is_optimised_image_group": row.is_optimised_image_group,
    }
    if client_metadata:
        record["client_metadata"] = row.client_metadata
    if signed is not None:
        record["signed_url"] = blob_link(signed, row.file_link)
    if row.images and images_data:
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
                **({"signed_url": blob_link(signed_images, image["file_link"])} if signed_images is not None else {}),
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


def data_unit_v1(store: Store, row: DataRow, *, sign: bool) -> dict[str, Any]:
    """P-16: a video, or the images of an image, image group or DICOM series; links signed when asked."""

    def link(key: str | None) -> str | None:
        return blob_link(store, key) if sign else key

    video, images = None, None
    if row.images:
        images = [
            {"data_hash": row.data_hash, "image_hash": i["image_hash"], "title": i["title"], "file_link": link(i["file_link"])}
            for i in row.images
        ]  # fmt: skip
    elif row.data_type == "IMAGE":
        images = [{"data_hash": row.data_hash, "image_hash": row.data_hash, "title": row.title,
                   "file_link": link(row.file_link)}]  # fmt: skip
    else:
        video = {"data_hash": row.data_hash, "title": row.title, "file_link": link(row.file_link),
                 "backing_item_uuid": row.backing_item_uuid}  # fmt: skip
    return {"data_hash": row.data_hash, "video": video, "images": images}


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
    f = call.fields
    for key in ("title_eq", "title_like", "created_before", "created_after"):
        payloads.optional_text(f, key)
    if f.get("data_types") is not None:
        if unknown := [t for t in payloads.text_list(f, "data_types") if t not in DATA_ROW_TYPES]:
            raise invalid(f"data_types: unknown data type {unknown[0]!r}")
    if f.get("data_hashes") is not None:
        payloads.text_list(f, "data_hashes")
    settings = payloads.as_object(f.get("dataset_access_settings"), "dataset_access_settings")
    metadata = payloads.flag(settings, "fetch_client_metadata", default=False)
    rows = data_rows_of(call.store, call.resource_as(Dataset))
    return [data_row_v1(r, client_metadata=metadata) for r in rows if matches_row_filters(r, f)]


def v1_get_data_row(call: V1Call) -> dict[str, Any]:
    row = row_of(call.store, call.resource_as(Dataset), call.uid)
    extra = payloads.as_object(call.fields.get("additional_data"), "additional_data")
    images = extra.get("images_data_fetch_options")
    image_links = payloads.flag(
        payloads.as_object(images, "images_data_fetch_options"), "fetch_signed_urls", default=False
    )
    return data_row_v1(
        row,
        client_metadata=payloads.flag(extra, "client_metadata", default=False),
        images_data=images is not None,
        signed=call.store if payloads.flag(extra, "signed_url", default=False) else None,
        signed_images=call.store if image_links else None,
    )


def v1_update_data_row(call: V1Call) -> dict[str, Any]:
    """D-04: answers which fields changed; the SDK checks they are the ones it sent."""
    row = row_of(call.store, call.resource_as(Dataset), call.uid)
    f = call.fields
    title = payloads.optional_text(f, "data_title")
    metadata = payloads.as_object(f["client_metadata"], "client_metadata") if "client_metadata" in f else None
    row = rename_row(call.store, row, title, metadata)
    return {"updated_fields": [k for k in f if k in ("data_title", "client_metadata")], "data_row": data_row_v1(row, client_metadata=True)}  # fmt: skip


def v1_rename_data_units(call: V1Call) -> dict[str, Any]:
    """D-05: uid is the dataset's hash, the payload a list of `{video_hash, title}`."""
    dataset = call.resource_as(Dataset)
    if call.uid != dataset.hash:
        raise invalid("uid must be the dataset's hash")
    if not isinstance(call.payload, list) or not call.payload:
        raise invalid("the payload must be a non-empty list of {video_hash, title}")
    for index, entry in enumerate(call.payload):
        change = payloads.as_object(entry, f"payload[{index}]")
        row = row_of(call.store, dataset, payloads.text(change, "video_hash"))
        rename_row(call.store, row, payloads.text(change, "title", non_empty=True), None)
    return {"success": True}


def v1_list_datasets_with_role(call: V1Call) -> list[dict[str, Any]]:
    flt = ListFilter.from_fields(payloads.as_object(call.fields.get("filter"), "filter"), V1_NAMES)
    rows = []
    for d in listing(call.store, Dataset, call.user, flt):
        owner = call.store.get(User, d.owner)
        info = dataset_info_v1(d, owner.user_hash if owner is not None else "")
        rows.append({"user_role": d.role_of(call.user.email), "dataset": info})
    return rows


def v1_link_storage_items(call: V1Call) -> list[dict[str, Any]]:
    dataset = call.resource_as(Dataset)
    if call.uid != dataset.hash:
        raise invalid("uid must be the dataset's hash")
    f = call.fields
    duplicates = payloads.text(f, "duplicates_behavior", default="SKIP")
    rows = link_items(call.store, call.user, dataset, payloads.text_list(f, "item_uuids"), duplicates)
    return [data_row_v1(r, client_metadata=True) for r in rows]


def v1_delete_data_rows(call: V1Call) -> bool:
    delete_rows(call.store, call.resource_as(Dataset), hash_list(call.uid, "data"))
    return True


def v1_delete_image_group(call: V1Call) -> bool:
    """D-11 (legacy): one image group, by its data hash."""
    dataset = call.resource_as(Dataset)
    row = row_of(call.store, dataset, call.uid)
    if row.data_type != "IMG_GROUP":
        raise invalid(f"data unit {row.data_hash} is not an image group")
    delete_rows(call.store, dataset, [row.data_hash])
    return True


def v1_start_reencode(call: V1Call) -> int:
    job = start_reencode(call.store, call.resource_as(Dataset), payloads.text_list(call.fields, "data_hash"))
    return int(job.job_id)


def v1_reencode_status(call: V1Call) -> dict[str, Any]:
    return poll_reencode(call.store, call.resource_as(Dataset), call.uid)


def v1_run_ocr(call: V1Call) -> list[dict[str, Any]]:
    data_hash = payloads.text(call.fields, "image_group_data_hash")
    return ocr_texts(call.store, call.resource_as(Dataset), data_hash)


def v1_get_project_data_unit(call: V1Call) -> dict[str, Any]:
    """P-16: a data unit of a dataset attached to the project (ResourceID); uid is `{data_hash, get_signed_url}`."""
    uid = payloads.as_object(call.uid, "uid")
    data_hash = payloads.text(uid, "data_hash", non_empty=True)
    sign = payloads.flag(uid, "get_signed_url", default=False)
    project = call.resource_as(kind_named("project").cls)
    row = call.store.get(DataRow, data_hash)
    if row is None or row.dataset_hash not in project.dataset_hashes:
        raise not_found("data unit", data_hash)
    return data_unit_v1(call.store, row, sign=sign)


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
    ("dataset", "datarow", "GET"): V1Operation(v1_get_data_row, key=needs("dataset.read")),  # D-03
    ("dataset", "datarow", "POST"): V1Operation(v1_update_data_row, key=needs("dataset.write")),  # D-04
    ("dataset", "video", "POST"): V1Operation(v1_rename_data_units, key=needs("dataset.write")),  # D-05
    ("dataset", "datasetusers", "POST"): V1Operation(v1_add_dataset_users, admin=True),  # D-06
    ("dataset", "video", "DELETE"): V1Operation(v1_delete_data_rows, key=needs("dataset.write")),  # D-10
    ("dataset", "imagegroup", "DELETE"): V1Operation(v1_delete_image_group, key=needs("dataset.write")),  # D-11
    ("dataset", "datasetlinkitems", "POST"): V1Operation(v1_link_storage_items, key=needs("dataset.write")),  # D-12
    ("dataset", "reencodevideotask", "PUT"): V1Operation(v1_start_reencode, key=needs("dataset.write")),  # D-14
    ("dataset", "reencodevideotask", "GET"): V1Operation(v1_reencode_status, key=needs("dataset.read")),  # D-15
    ("dataset", "imagegroupocr", "GET"): V1Operation(v1_run_ocr, key=needs("dataset.read")),  # D-16
    ("project", "datasetdata", "GET"): V1Operation(v1_get_project_data_unit, key=needs("label.read")),  # P-16
}

V2: tuple[V2Route, ...] = (
    V2Route("POST", "datasets", v2_create_dataset),  # U-05
    V2Route("GET", "datasets/list", v2_list_datasets),  # U-06
)
