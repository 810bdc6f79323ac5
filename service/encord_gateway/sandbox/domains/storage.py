"""Encord storage (S-01..S-18, S-25, S-26, S-28): a tree of folders, the items in them, and the blobs behind both.

Access follows the tree: a member of a folder (admin or user) reaches everything below it with the strongest role it
holds on the way up, and writes need an admin. A folder's members are kept as a project's are (`resources.py`): the
users given a role on it and those a group granted one (S-19, in the groups domain). Encord answers a folder or item
that does not exist and one that is not the caller's alike, with an authorisation error. Data units backed by an item are the data rows whose `backing_item_uuid` names it; the datasets domain comes
later in DOMAINS, so its records are read (and, when items go, deleted) by kind name here. A folder synced to a
dataset mirrors it: the datasets domain adds the data rows of what arrives, and what leaves takes its rows along.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..blobs import signed_url
from ..errors import ApiError, forbidden, invalid
from ..operations import NO_CONTENT, NoContent, V1Key, V1Operation, V2Call, V2Route
from ..paging import page_size
from ..records import new_hash, now, v2_time
from ..resources import add_members, strongest
from ..store import Store, kind_named, register_kind
from .users import User

# ---- records -----------------------------------------------------------------------------------

ADMIN_ROLE, USER_ROLE = "admin", "user"


@dataclass(frozen=True)
class ItemType:
    """What the sandbox knows of one storage item type (§6.6)."""

    mime_type: str | None
    """The MIME type of its file; None for items that are made of others and have no file of their own."""
    data_type: str | None
    """The data-row type it becomes when linked into a dataset; None when it cannot be linked on its own."""
    child_type: str | None = None
    """The type of the frames or files a composite item is made of."""
    summary: str | None = None
    """Its counter in a folder summary (S-13)."""


ITEM_TYPES: dict[str, ItemType] = {
    "video": ItemType("video/mp4", "VIDEO", summary="videos"),
    "image": ItemType("image/jpeg", "IMAGE", summary="images"),
    "imageGroup": ItemType(None, "IMG_GROUP", child_type="image", summary="imageGroups"),
    "imageSequence": ItemType("video/mp4", "IMG_GROUP", child_type="image", summary="imageSequences"),
    "dicomFile": ItemType("application/dicom", None, summary="dicomFiles"),
    "dicomSeries": ItemType(None, "DICOM", child_type="dicomFile", summary="dicomSeries"),
    "audio": ItemType("audio/mpeg", "AUDIO", summary="audios"),
    "timeseries": ItemType("text/csv", "TIME_SERIES"),
    "nifti": ItemType("application/octet-stream", "NIFTI", summary="niftis"),
    "plainText": ItemType("text/plain", "PLAIN_TEXT", summary="plainTexts"),
    "pdf": ItemType("application/pdf", "PDF", summary="pdfs"),
    "scene": ItemType("application/json", "SCENE"),
    "group": ItemType(None, "GROUP"),  # a data group: made by S-26, never uploaded
}
SEEDABLE_TYPES = tuple(t for t in ITEM_TYPES if t != "group")
ORDERS = ("name", "createdAt")
LAYOUT_TYPES = ("default-grid", "default-list", "custom")
MAX_MIGRATIONS = 1000  # entries per S-28 call, as the SDK batches them
MAX_SEEDED_BYTES = 16 * 1024 * 1024
CLOUD_URL_SCHEMES = ("s3://", "gs://", "https://", "http://", "az://")
"""What a cloud bucket URL starts with (S3, GCS, Azure, S3-compatible endpoints)."""
UNIT_SIZE = range(1, 2**31)


@register_kind(
    "storage_folder",
    id="uuid",
    parent="parent",
    parent_kinds=("storage_folder",),
    keys=("members", "synced_dataset_hash"),
)
@dataclass(kw_only=True)
class Folder:
    """A storage folder. `members` (email → admin or user) reach it and everything below it."""

    uuid: str
    parent: str | None
    name: str
    description: str
    client_metadata: dict[str, Any] | None
    owner: str
    members: dict[str, str]
    """Everyone given a role on this folder, directly or through a group, with the stronger of the two."""
    created_at: datetime
    last_edited_at: datetime
    synced_dataset_hash: str | None = None
    organisation_tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    direct_members: dict[str, str] | None = None
    """Users given a role on the folder itself (its creator; who moved it to the top level); None for records from
    before groups, whose members all are."""
    group_members: dict[str, str] = field(default_factory=dict)
    """Users reaching the folder through groups (S-19), with the strongest role their groups were granted."""
    integration_hash: str | None = None
    """A cloud-synced folder's integration and the bucket prefix it mirrors (S-01's cloudSyncedFolderParams, S-24)."""
    remote_url: str | None = None

    def direct(self) -> dict[str, str]:
        return dict(self.members if self.direct_members is None else self.direct_members)

    def touch(self) -> None:
        self.last_edited_at = now()


@register_kind(
    "storage_item", id="uuid", parent="parent", parent_kinds=("storage_folder",), keys=("child_uuids", "url")
)
@dataclass(kw_only=True)
class Item:
    """A storage item. `url` is its file's object key (Encord storage) or cloud URL; `child_uuids` are the frames
    of an image group or sequence, the files of a DICOM series, or the members of a data group, in order."""

    uuid: str
    parent: str
    item_type: str
    name: str
    owner: str
    created_at: datetime
    last_edited_at: datetime
    description: str = ""
    client_metadata: dict[str, Any] = field(default_factory=dict)
    url: str | None = None
    storage_location: str = "encord"
    integration_hash: str | None = None
    mime_type: str | None = None
    file_size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    fps: float | None = None
    frame_count: int | None = None
    dicom_instance_uid: str | None = None
    dicom_study_uid: str | None = None
    dicom_series_uid: str | None = None
    audio_sample_rate: int | None = None
    audio_bit_depth: int | None = None
    audio_codec: str | None = None
    audio_num_channels: int | None = None
    child_uuids: list[str] = field(default_factory=list)
    layout: dict[str, Any] | None = None
    timeseries_settings: dict[str, Any] | None = None
    is_tombstone: bool = False

    def touch(self) -> None:
        self.last_edited_at = now()


@register_kind("blob", id="key")
@dataclass(kw_only=True)
class Blob:
    """The bytes behind an object key: given ones (base64 `content`), or `size` bytes made from the key."""

    key: str
    mime_type: str
    size: int
    created_at: datetime
    content: str | None = None

    def chunks(self, chunk_bytes: int) -> Iterator[bytes]:
        if self.content is not None:
            data = base64.b64decode(self.content)
            for start in range(0, len(data), chunk_bytes):
                yield data[start : start + chunk_bytes]
            return
        pattern = hashlib.sha256(self.key.encode("utf-8")).digest()
        block = pattern * (chunk_bytes // len(pattern) + 1)
        for start in range(0, self.size, chunk_bytes):
            yield block[: min(chunk_bytes, self.size - start)]


# ---- rules: folders ----------------------------------------------------------------------------


def _no_access(kind: str, uuid: Any) -> ApiError:
    return forbidden(f"storage {kind} {uuid} does not exist or you have no access to it")


def path_to_root(store: Store, folder: Folder) -> list[Folder]:
    """The folder, its parent, and so on up to the top level."""
    path = [folder]
    while path[-1].parent is not None and len(path) <= 1000:
        parent = store.get(Folder, path[-1].parent)
        if parent is None:
            break
        path.append(parent)
    return path


def folder_role(store: Store, folder: Folder, email: str) -> str | None:
    """The caller's role: the strongest it holds on the folder or on any folder above it (a role reaches everything
    below; one granted lower down never weakens it)."""
    roles = [f.members[email] for f in path_to_root(store, folder) if email in f.members]
    return str(strongest("storage_folder", roles)) if roles else None


def visible_folder(store: Store, uuid: Any, user: User) -> Folder:
    folder = store.get(Folder, uuid) if isinstance(uuid, str) else None
    if folder is None or folder_role(store, folder, user.email) is None:
        raise _no_access("folder", uuid)
    return folder


def writable_folder(store: Store, uuid: Any, user: User) -> Folder:
    folder = visible_folder(store, uuid, user)
    if folder_role(store, folder, user.email) != ADMIN_ROLE:
        raise forbidden(f"only an admin of storage folder {folder.uuid} may change it")
    return folder


def create_folder(
    store: Store,
    user: User,
    *,
    name: str,
    description: str = "",
    parent: str | None = None,
    client_metadata: dict[str, Any] | None = None,
    synced_dataset_hash: str | None = None,
) -> Folder:
    """S-01; a dataset's backing folder too. A top-level folder's creator is its admin; a subfolder inherits."""
    if not name.strip():
        raise invalid("'name' must not be empty")
    if parent is not None:
        writable_folder(store, parent, user)
    at = now()
    members = {} if parent is not None else {user.email: ADMIN_ROLE}
    return store.put(
        Folder(
            uuid=new_hash(),
            parent=parent,
            name=name,
            description=description,
            client_metadata=client_metadata,
            owner=user.email,
            members=members,
            direct_members=dict(members),
            created_at=at,
            last_edited_at=at,
            synced_dataset_hash=synced_dataset_hash,
        )
    )


def subfolders(store: Store, folder: Folder, *, recursive: bool) -> list[Folder]:
    found, frontier = [], store.children(Folder, folder.uuid)
    while frontier:
        found.extend(frontier)
        frontier = [child for f in frontier for child in store.children(Folder, f.uuid)] if recursive else []
    return found


def top_level_folders(store: Store, user: User) -> list[Folder]:
    """The tops of what the user sees: folders it holds a role on whose parent it cannot see. A subfolder granted
    to one of its groups is one of them; the folders above it stay out of its sight."""

    def on_top(folder: Folder) -> bool:
        parent = store.get(Folder, folder.parent) if folder.parent is not None else None
        return parent is None or folder_role(store, parent, user.email) is None

    return [f for f in store.find(Folder, "members", user.email) if on_top(f)]


def every_visible_folder(store: Store, user: User) -> list[Folder]:
    tops = top_level_folders(store, user)
    return tops + [f for top in tops for f in subfolders(store, top, recursive=True)]


def data_rows_backed_by(store: Store, item_uuid: str) -> list[Any]:
    return store.find(kind_named("data_row").cls, "backing_item_uuid", item_uuid)


def groups_holding(store: Store, item_uuid: str) -> list[Item]:
    return store.find(Item, "child_uuids", item_uuid)


def delete_item(store: Store, item: Item, *, remove_unused_frames: bool) -> int:
    """An item, its blob, the data units it backs and, optionally, frames nothing else uses; the count of items."""
    for row in data_rows_backed_by(store, item.uuid):
        store.delete(kind_named("data_row").cls, row.data_hash)
    for group in groups_holding(store, item.uuid):
        group.child_uuids = [u for u in group.child_uuids if u != item.uuid]
        store.put(group)
    if item.url is not None and not store.find(Item, "url", item.url)[1:]:
        store.delete(Blob, item.url)
    store.delete(Blob, client_metadata_key(item))
    store.delete(Item, item.uuid)
    removed = 1
    if remove_unused_frames and ITEM_TYPES[item.item_type].child_type is not None:
        for child_uuid in item.child_uuids:
            child = store.get(Item, child_uuid)
            if (
                child is not None
                and not groups_holding(store, child.uuid)
                and not data_rows_backed_by(store, child.uuid)
            ):
                removed += delete_item(store, child, remove_unused_frames=False)
    return removed


def delete_folder(store: Store, folder: Folder) -> tuple[int, int]:
    """The folder and everything below it, and the grants groups held on them (the groups domain comes later, so its
    records are read by kind name): (items removed, folders removed). A dataset's mirror stays."""
    below = [folder, *subfolders(store, folder, recursive=True)]
    if synced := next((f for f in below if f.synced_dataset_hash is not None), None):
        raise invalid(f"storage folder {synced.uuid} mirrors dataset {synced.synced_dataset_hash}: delete the dataset")
    grants = kind_named("group_grant")
    items = 0
    for each in reversed(below):
        for item in store.children(Item, each.uuid):
            if store.get(Item, item.uuid) is not None:  # not already gone as an unused frame
                items += delete_item(store, item, remove_unused_frames=True)
        for held in store.find(grants.cls, "resource_hash", each.uuid):
            store.delete(grants.cls, getattr(held, grants.id))
        store.delete(Folder, each.uuid)
    return items, len(below)


def move_folders(store: Store, user: User, uuids: list[str], new_parent: str | None) -> None:
    """S-10: into `new_parent`, or to the top level (the mover then becomes the moved folder's admin)."""
    target = writable_folder(store, new_parent, user) if new_parent is not None else None
    for uuid in uuids:
        folder = writable_folder(store, uuid, user)
        if target is not None and folder.uuid in {f.uuid for f in path_to_root(store, target)}:
            raise invalid(f"storage folder {folder.uuid} cannot move into itself or a folder below it")
        if target is None:
            add_members(store, folder, [user.email], ADMIN_ROLE)
        folder.parent = target.uuid if target is not None else None
        folder.touch()
        store.put(folder)


# ---- rules: items ------------------------------------------------------------------------------


def visible_item(store: Store, uuid: Any, user: User) -> Item:
    item = store.get(Item, uuid) if isinstance(uuid, str) else None
    if item is None:
        raise _no_access("item", uuid)
    parent = store.get(Folder, item.parent)
    if parent is None or folder_role(store, parent, user.email) is None:
        raise _no_access("item", uuid)
    return item


def item_of(store: Store, folder: Folder, uuid: Any) -> Item:
    """An item of this folder (the paths of S-11, S-12, S-16..S-18 name both)."""
    item = store.get(Item, uuid) if isinstance(uuid, str) else None
    if item is None or item.parent != folder.uuid:
        raise _no_access("item", uuid)
    return item


def put_blob(store: Store, key: str, mime_type: str, size: int, content: bytes | None = None) -> Blob:
    encoded = base64.b64encode(content).decode("ascii") if content is not None else None
    return store.put(
        Blob(key=key, mime_type=mime_type, size=len(content) if content is not None else size, created_at=now(),
             content=encoded)
    )  # fmt: skip


def blob_link(store: Store, key: str | None) -> str | None:
    """A signed URL of the blob at `key`, or None when there is none (composite items, cloud files)."""
    return signed_url(key) if key is not None and store.get(Blob, key) is not None else None


def _seeded_content(spec: dict[str, Any]) -> bytes | None:
    raw = payloads.optional_text(spec, "content_base64")
    if raw is None:
        return None
    try:
        content = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise invalid("'content_base64' must be base64") from None
    if len(content) > MAX_SEEDED_BYTES:
        raise invalid(f"'content_base64' holds more than {MAX_SEEDED_BYTES} bytes")
    return content


def _new_item(folder: Folder, owner: str, item_type: str, name: str, **media: Any) -> Item:
    at = now()
    return Item(
        uuid=new_hash(),
        parent=folder.uuid,
        item_type=item_type,
        name=name,
        owner=owner,
        created_at=at,
        last_edited_at=at,
        mime_type=ITEM_TYPES[item_type].mime_type,
        **media,
    )


def _with_file(store: Store, item: Item, size: int, content: bytes | None) -> Item:
    """Give a single-file item its object key and blob."""
    mime_type = item.mime_type or "application/octet-stream"
    item.url = f"cord-storage/{item.parent}/{item.uuid}"
    item.file_size = put_blob(store, item.url, mime_type, size, content).size
    return store.put(item)


def add_item(store: Store, folder: Folder, owner: str, spec: dict[str, Any]) -> Item:
    """One item as an upload would leave it (the control API seeds them until uploads exist). A composite item's
    frames or files become items of the folder too, made first, as uploads make them."""
    item_type = payloads.text(spec, "item_type")
    if item_type not in SEEDABLE_TYPES:
        raise invalid(f"item_type must be one of {', '.join(SEEDABLE_TYPES)}")
    name = payloads.text(spec, "name", non_empty=True)
    width = payloads.integer(spec, "width", choices=UNIT_SIZE, default=640)
    height = payloads.integer(spec, "height", choices=UNIT_SIZE, default=480)
    kind = ITEM_TYPES[item_type]
    metadata = payloads.as_object(spec.get("client_metadata"), "client_metadata")
    description = payloads.text(spec, "description", default="")
    if kind.child_type is not None:
        names = payloads.text_list(spec, "children", default=[f"{name}-{i}" for i in range(3)])
        if not names:
            raise invalid("an image group, image sequence or DICOM series needs at least one frame")
        series = {"dicom_study_uid": new_hash(), "dicom_series_uid": new_hash()} if item_type == "dicomSeries" else {}
        children = []
        for child_name in names:
            dicom = {**series, "dicom_instance_uid": new_hash()} if item_type == "dicomSeries" else {}
            child = _new_item(folder, owner, kind.child_type, child_name, width=width, height=height, **dicom)
            children.append(_with_file(store, child, 1024, None))
        item = _new_item(
            folder, owner, item_type, name, width=width, height=height, frame_count=len(children),
            child_uuids=[c.uuid for c in children], client_metadata=metadata, description=description, **series,
        )  # fmt: skip
        if kind.mime_type is None:
            return store.put(item)
        return _with_file(store, item, 1024 * len(children), _seeded_content(spec))
    media: dict[str, Any] = {}
    if item_type in ("video", "image", "dicomFile", "scene"):
        media.update(width=width, height=height)
    if item_type == "video":
        frames = payloads.integer(spec, "frames", choices=UNIT_SIZE, default=30)
        media.update(fps=25.0, frame_count=frames, duration=frames / 25.0)
    if item_type == "audio":
        media.update(duration=10.0, audio_sample_rate=44100, audio_bit_depth=16, audio_codec="mp3",
                     audio_num_channels=2)  # fmt: skip
    if item_type == "dicomFile":
        media.update(dicom_instance_uid=new_hash(), dicom_study_uid=new_hash(), dicom_series_uid=new_hash())
    item = _new_item(folder, owner, item_type, name, client_metadata=metadata, description=description, **media)
    size = payloads.integer(spec, "file_size", choices=UNIT_SIZE, default=1024 * (media.get("frame_count") or 1))
    return _with_file(store, item, size, _seeded_content(spec))


def seed_items(store: Store, folder: Folder, specs: list[dict[str, Any]]) -> list[Item]:
    folder.touch()
    store.put(folder)
    return [add_item(store, folder, folder.owner, spec) for spec in specs]


def update_item(store: Store, item: Item, patch: dict[str, Any]) -> Item:
    """S-16: only the members present change (`timeseriesSettings: null` restores the defaults). Data units the
    item backs share its name and client metadata."""
    rows = data_rows_backed_by(store, item.uuid)
    if (name := payloads.optional_text(patch, "name")) is not None:
        if not name.strip():
            raise invalid("'name' must not be empty")
        item.name = name
        for row in rows:
            row.title = name
    if (description := payloads.optional_text(patch, "description")) is not None:
        item.description = description
    if patch.get("clientMetadata") is not None:
        item.client_metadata = payloads.as_object(patch["clientMetadata"], "clientMetadata")
        for row in rows:
            row.client_metadata = item.client_metadata
    if "timeseriesSettings" in patch:
        settings = patch["timeseriesSettings"]
        item.timeseries_settings = None if settings is None else payloads.as_object(settings, "timeseriesSettings")
    item.touch()
    for row in rows:
        row.last_edited_at = item.last_edited_at
        store.put(row)
    return store.put(item)


def move_items(
    store: Store, user: User, source: Folder, uuids: list[str], new_parent: str, *, allow_synced: bool
) -> None:
    """S-11. Items enter a mirror dataset's folder only by upload; those leaving one take their data units along,
    and only when the caller allows it."""
    target = writable_folder(store, new_parent, user)
    if target.synced_dataset_hash is not None:
        raise invalid(f"storage folder {target.uuid} mirrors a dataset: items enter it only by upload")
    for uuid in uuids:
        item = item_of(store, source, uuid)
        mirrored = [r for r in data_rows_backed_by(store, item.uuid) if r.dataset_hash == source.synced_dataset_hash]
        if mirrored and not allow_synced:
            raise invalid(f"storage item {item.uuid} backs data units of the dataset this folder mirrors")
        for row in mirrored:
            store.delete(kind_named("data_row").cls, row.data_hash)
        item.parent = target.uuid
        item.touch()
        store.put(item)
    for folder in (source, target):
        folder.touch()
        store.put(folder)


def migrate_items(store: Store, user: User, body: dict[str, Any]) -> None:
    """S-28: items found by URL or by UUID get a new URL (null: left alone) and, optionally, a new integration."""
    by_url = payloads.as_object(body.get("urlsMap"), "urlsMap")
    by_item = payloads.as_object(body.get("itemsMap"), "itemsMap")
    if len(by_url) + len(by_item) > MAX_MIGRATIONS:
        raise invalid(f"at most {MAX_MIGRATIONS} items may be migrated per call")
    from_integration = payloads.optional_text(body, "fromIntegrationHash")
    to_integration = payloads.optional_text(body, "toIntegrationHash")
    validate = payloads.flag(body, "validateAccess", default=False)
    skip_missing = payloads.flag(body, "skipMissing", default=False)
    changes: list[tuple[Item, str]] = []
    missing: list[str] = []
    for old_url, new_url in by_url.items():
        found = [i for i in store.find(Item, "url", old_url) if _changeable_by(store, i, user)]
        if not found:
            missing.append(old_url)
        changes += [(i, new_url) for i in found if new_url is not None]
    for uuid, new_url in by_item.items():
        item = store.get(Item, uuid)
        if item is None or not _changeable_by(store, item, user):
            missing.append(uuid)
        elif new_url is not None:
            changes.append((item, new_url))
    if missing and not skip_missing:
        raise invalid(f"not found: {', '.join(missing[:10])}")
    for item, new_url in changes:
        if not isinstance(new_url, str) or (validate and "://" not in new_url):
            raise invalid(f"{new_url!r} is not a URL Encord can read")
        if from_integration is not None and item.integration_hash != from_integration:
            continue
        item.url, item.storage_location = new_url, _location_of(new_url)
        item.integration_hash = to_integration or item.integration_hash
        item.touch()
        store.put(item)


def _changeable_by(store: Store, item: Item, user: User) -> bool:
    parent = store.get(Folder, item.parent)
    return parent is not None and folder_role(store, parent, user.email) == ADMIN_ROLE


# Where a cloud URL lives (§6.1, v2 spelling).
_LOCATIONS = (("s3://", "s3"), ("gs://", "gcp"), (".blob.core.windows.net", "azure"), ("https://", "s3Compatible"))


def _location_of(url: str) -> str:
    return next((location for marker, location in _LOCATIONS if marker in url), "encord")


def create_data_groups(store: Store, user: User, folder: Folder, specs: list[Any]) -> list[Item]:
    """S-26: each group an item laying out other items (a list for grid and list layouts, keys for custom ones)."""
    if not specs:
        raise invalid("the body must be a non-empty JSON array of data groups")
    groups = []
    for index, raw in enumerate(specs):
        spec = payloads.as_object(raw, f"[{index}]")
        layout_type = payloads.text(spec, "layoutType")
        if layout_type not in LAYOUT_TYPES:
            raise invalid(f"[{index}].layoutType must be one of {', '.join(LAYOUT_TYPES)}")
        contents = spec.get("layoutContents")
        if layout_type == "custom" and isinstance(contents, dict):
            keyed = contents
        elif layout_type != "custom" and isinstance(contents, list):
            keyed = {str(i): uuid for i, uuid in enumerate(contents)}
        else:
            shape = "an object of key → item UUID" if layout_type == "custom" else "a list of item UUIDs"
            raise invalid(f"[{index}].layoutContents must be {shape}")
        members = [visible_item(store, uuid, user) for uuid in keyed.values()]
        if not members:
            raise invalid(f"[{index}].layoutContents must name at least one item")
        timeline = payloads.text_list(spec, "timeline", default=[])
        if unknown := [key for key in timeline if key not in keyed]:
            raise invalid(f"[{index}].timeline names keys that are not in layoutContents: {', '.join(unknown)}")
        group = _new_item(
            folder,
            user.email,
            "group",
            payloads.optional_text(spec, "name") or f"Data group {index + 1}",
            client_metadata=payloads.as_object(spec.get("clientMetadata"), "clientMetadata"),
            child_uuids=[m.uuid for m in members],
            layout={
                "layoutContents": {key: {"uuid": uuid} for key, uuid in keyed.items()},
                "layout": payloads.as_object(spec.get("layout"), "layout") or None,
                "layoutSettings": {"fixedLayout": False, **payloads.as_object(spec.get("settings"), "settings")},
                "timeline": timeline,
            },
        )
        groups.append(store.put(group))
    folder.touch()
    store.put(folder)
    return groups


# ---- rules: listings ---------------------------------------------------------------------------


def _matches(name: str, search: str | None) -> bool:
    return search is None or search.casefold() in name.casefold()


def _folder_filter(call: V2Call) -> Callable[[Folder], bool]:
    """S-03..S-05 filters: name search, dataset sync, organisation tags (all of them)."""
    search = call.query.get("search")
    synced = call.flag("datasetSynced", False) if "datasetSynced" in call.query else None
    tags = set(call.query_lists.get("organisationTagNamesAllof", []))
    call.flag("includeOrgAccess", False)  # validated; the sandbox has no organisation admins

    def keep(folder: Folder) -> bool:
        return (
            _matches(folder.name, search)
            and (synced is None or (folder.synced_dataset_hash is not None) == synced)
            and tags <= set(folder.organisation_tags)
        )

    return keep


def _item_filter(call: V2Call) -> Callable[[Item], bool]:
    """S-06, S-07 filters: name search, item types, use in a dataset."""
    search = call.query.get("search")
    types = call.query_lists.get("itemTypes", [])
    if unknown := [t for t in types if t not in ITEM_TYPES]:
        raise invalid(f"itemTypes: unknown item type {unknown[0]!r}")
    in_dataset = call.flag("isInDataset", False) if "isInDataset" in call.query else None

    def keep(item: Item) -> bool:
        return (
            _matches(item.name, search)
            and (not types or item.item_type in types)
            and (in_dataset is None or bool(data_rows_backed_by(call.store, item.uuid)) == in_dataset)
        )

    return keep


def _token(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode("utf-8")).decode("ascii").rstrip("=")


def _position(token: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        values = None
    if not isinstance(values, list) or len(values) != 2:
        raise invalid("pageToken is not a token this server issued")
    return values


def sorted_page(call: V2Call, rows: Sequence[Folder | Item], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """One page of folders or items in the caller's order (`order`, `desc`), after its pageToken. Tokens are keyset
    positions (sort key, uuid), so what is created while a client pages never shifts what it sees."""
    order = call.query.get("order", "name")
    if order not in ORDERS:
        raise invalid(f"order must be one of {', '.join(ORDERS)}")
    desc = call.flag("desc", False)

    def key(row: Folder | Item) -> list[Any]:
        first: Any = row.name.casefold() if order == "name" else int(row.created_at.timestamp() * 1_000_000)
        return [first, row.uuid]

    ordered = sorted(rows, key=key, reverse=desc)
    if token := call.query.get("pageToken"):
        after = _position(token)
        ordered = [r for r in ordered if (key(r) < after if desc else key(r) > after)]
    size = page_size(call)
    chunk = ordered[:size]
    next_token = _token(key(chunk[-1])) if len(ordered) > size else None
    return {"results": [render(r) for r in chunk], "nextPageToken": next_token}


def folder_summary(store: Store, folder: Folder) -> dict[str, Any]:
    """S-13 over the folder and everything below it."""
    below = subfolders(store, folder, recursive=True)
    items = [item for f in (folder, *below) for item in store.children(Item, f.uuid)]
    counts = dict.fromkeys(
        ("videos", "images", "imageGroups", "imageSequences", "dicomFiles", "dicomSeries", "niftis", "audios", "pdfs",
         "plainTexts"), 0
    )  # fmt: skip
    for item in items:
        if (counter := ITEM_TYPES[item.item_type].summary) is not None:
            counts[counter] += 1
    return {
        "files": sum(1 for item in items if item.url is not None),
        "folders": len(below),
        **counts,
        "tombstones": sum(1 for item in items if item.is_tombstone),
        "uploadJobs": 0,
        "totalSize": float(sum(item.file_size or 0 for item in items)),
    }


def item_summary(store: Store, user: User, item: Item, *, group_layout: bool) -> dict[str, Any]:
    """S-17: the groups holding the item and the datasets using it (in full only those the caller may see)."""
    groups = groups_holding(store, item.uuid)
    visible_groups = [g for g in groups if (p := store.get(Folder, g.parent)) and folder_role(store, p, user.email)]
    rows = data_rows_backed_by(store, item.uuid)
    by_dataset: dict[str, list[Any]] = {}
    for row in rows:
        by_dataset.setdefault(row.dataset_hash, []).append(row)
    datasets = []
    for dataset_hash, its_rows in by_dataset.items():
        dataset = store.get(kind_named("dataset").cls, dataset_hash)
        if dataset is not None and dataset.readable_by(store, user.email):
            datasets.append(
                {
                    "datasetHash": dataset.hash,
                    "backingFolderUuid": dataset.backing_folder_uuid,
                    "title": dataset.title,
                    "dataHashes": [r.data_hash for r in its_rows],
                    "dataUnitsCreatedAt": v2_time(min(r.created_at for r in its_rows)),
                }
            )
    summary: dict[str, Any] = {
        "frameInGroups": len(groups),
        "accessibleGroupItems": [_short_info(store, g) for g in visible_groups],
        "usedInDatasets": len(by_dataset),
        "accessibleDatasets": datasets,
    }
    if group_layout and item.layout is not None:
        summary["groupLayout"] = item.layout
    return summary


def _short_info(store: Store, item: Item) -> dict[str, Any]:
    parent = store.get(Folder, item.parent)
    return {
        "uuid": item.uuid,
        "name": item.name,
        "parentUuid": item.parent,
        "parentName": parent.name if parent is not None else "",
        "itemType": item.item_type,
    }


# ---- wire shapes -------------------------------------------------------------------------------


def folder_v2(store: Store, folder: Folder, user: User) -> dict[str, Any]:
    """§7.10 StorageFolder: every required key, client metadata as JSON text."""
    return {
        "uuid": folder.uuid,
        "parent": folder.parent,
        "name": folder.name,
        "description": folder.description,
        "clientMetadata": json.dumps(folder.client_metadata) if folder.client_metadata is not None else None,
        "owner": folder.owner,
        "createdAt": v2_time(folder.created_at),
        "lastEditedAt": v2_time(folder.last_edited_at),
        "userRole": folder_role(store, folder, user.email) or USER_ROLE,
        "syncedDatasetHash": folder.synced_dataset_hash,
        "pathToRoot": [
            {"uuid": f.uuid, "parentUuid": f.parent, "name": f.name, "syncedDatasetHash": f.synced_dataset_hash}
            for f in path_to_root(store, folder)
        ],
        "folderType": "cloudLinked" if folder.integration_hash is not None else "generic",
        "integrationHash": folder.integration_hash,
        "remoteUrl": folder.remote_url,
    }


def client_metadata_key(item: Item) -> str:
    return f"client-metadata/{item.uuid}"


def client_metadata_link(store: Store, item: Item) -> str:
    """The item's client metadata as a blob of its own, behind a signed URL (S-06 `clientMetadataAsSignedUrl`)."""
    key = client_metadata_key(item)
    put_blob(store, key, "application/json", 0, json.dumps(item.client_metadata).encode("utf-8"))
    return signed_url(key)


def item_v2(
    store: Store, item: Item, *, sign_url: bool = False, client_metadata: bool = True, metadata_as_url: bool = False
) -> dict[str, Any]:
    """§7.10 StorageItem: every required key, the nullable media keys as null where they do not apply."""
    shape: dict[str, Any] = {
        "uuid": item.uuid,
        "parent": item.parent,
        "itemType": item.item_type,
        "name": item.name,
        "description": item.description,
        "clientMetadata": json.dumps(item.client_metadata) if client_metadata and not metadata_as_url else "{}",
        "owner": item.owner,
        "createdAt": v2_time(item.created_at),
        "lastEditedAt": v2_time(item.last_edited_at),
        "isTombstone": item.is_tombstone,
        "isPlaceholder": False,
        "backedDataUnitsCount": len(data_rows_backed_by(store, item.uuid)),
        "storageLocation": item.storage_location,
        "integrationHash": item.integration_hash,
        "url": item.url,
        "signedUrl": blob_link(store, item.url) if sign_url else None,
        "fileSize": item.file_size,
        "mimeType": item.mime_type,
        "duration": item.duration,
        "fps": item.fps,
        "height": item.height,
        "width": item.width,
        "dicomInstanceUid": item.dicom_instance_uid,
        "dicomStudyUid": item.dicom_study_uid,
        "dicomSeriesUid": item.dicom_series_uid,
        "frameCount": item.frame_count,
        "audioSampleRate": item.audio_sample_rate,
        "audioBitDepth": item.audio_bit_depth,
        "audioCodec": item.audio_codec,
        "audioNumChannels": item.audio_num_channels,
        "timeseriesSettings": item.timeseries_settings,
    }
    if client_metadata and metadata_as_url:
        shape["clientMetadataSignedUrl"] = client_metadata_link(store, item)
    return shape


def _one_page(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Answers the SDK reads only once (§3.5): everything in the first page."""
    return {"results": results, "nextPageToken": None}


# ---- v2 handlers: folders ----------------------------------------------------------------------


def _cloud_sync(call: V2Call, params: Any) -> tuple[str, str]:
    """(integration, remote URL) of a cloud-synced folder: an integration of the caller's organisation, a bucket URL."""
    params = payloads.as_object(params, "cloudSyncedFolderParams")
    integration = payloads.text(params, "integrationUuid", non_empty=True)
    remote_url = payloads.text(params, "remoteUrl", non_empty=True)
    found = call.store.get(kind_named("cloud_integration").cls, integration)
    if found is None or found.organisation_hash not in _organisations_of(call.store, call.user.email):
        raise forbidden(f"cloud integration {integration} does not exist or you have no access to it")
    if not remote_url.startswith(CLOUD_URL_SCHEMES):
        raise invalid("'remoteUrl' must be a bucket URL (s3://, gs://, https://...)")
    return integration, remote_url


def _organisations_of(store: Store, email: str) -> set[str]:
    return {member.organisation_hash for member in store.find(kind_named("organisation_member").cls, "email", email)}


def v2_create_folder(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    cloud_sync = None
    if body.get("cloudSyncedFolderParams") is not None:
        cloud_sync = _cloud_sync(call, body["cloudSyncedFolderParams"])
    metadata_text = payloads.optional_text(body, "clientMetadata")
    metadata = None
    if metadata_text is not None:
        try:
            metadata = payloads.as_object(json.loads(metadata_text), "clientMetadata")
        except ValueError:
            raise invalid("'clientMetadata' must be a JSON document (as text)") from None
    folder = create_folder(
        call.store,
        call.user,
        name=payloads.text(body, "name", non_empty=True),
        description=payloads.optional_text(body, "description") or "",
        parent=payloads.optional_text(body, "parent"),
        client_metadata=metadata,
    )
    if cloud_sync is not None:
        folder.integration_hash, folder.remote_url = cloud_sync
        call.store.put(folder)
    return folder_v2(call.store, folder, call.user)


def v2_get_folder(call: V2Call) -> dict[str, Any]:
    return folder_v2(call.store, visible_folder(call.store, call.params["folder_uuid"], call.user), call.user)


def v2_list_folders(call: V2Call) -> dict[str, Any]:
    everything = call.flag("isRecursive", False)
    rows = every_visible_folder(call.store, call.user) if everything else top_level_folders(call.store, call.user)
    keep = _folder_filter(call)
    return sorted_page(call, [f for f in rows if keep(f)], lambda f: folder_v2(call.store, f, call.user))


def v2_search_folders(call: V2Call) -> dict[str, Any]:
    call.flag("isRecursive", False)  # the SDK sends False; this search always goes to every depth
    keep = _folder_filter(call)
    rows = [f for f in every_visible_folder(call.store, call.user) if keep(f)]
    return sorted_page(call, rows, lambda f: folder_v2(call.store, f, call.user))


def v2_list_subfolders(call: V2Call) -> dict[str, Any]:
    folder = visible_folder(call.store, call.params["folder_uuid"], call.user)
    keep = _folder_filter(call)
    rows = [f for f in subfolders(call.store, folder, recursive=call.flag("isRecursive", False)) if keep(f)]
    return sorted_page(call, rows, lambda f: folder_v2(call.store, f, call.user))


def _patch_folder(store: Store, folder: Folder, patch: dict[str, Any]) -> Folder:
    if (name := payloads.optional_text(patch, "name")) is not None:
        if not name.strip():
            raise invalid("'name' must not be empty")
        folder.name = name
    if (description := payloads.optional_text(patch, "description")) is not None:
        folder.description = description
    if patch.get("clientMetadata") is not None:
        folder.client_metadata = payloads.as_object(patch["clientMetadata"], "clientMetadata")
    folder.touch()
    return store.put(folder)


def v2_update_folder(call: V2Call) -> dict[str, Any]:
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    return folder_v2(call.store, _patch_folder(call.store, folder, call.json_object()), call.user)


def v2_update_folders(call: V2Call) -> dict[str, Any]:
    patches = payloads.as_object(call.json_object().get("folderPatches"), "folderPatches")
    changed = [
        _patch_folder(call.store, writable_folder(call.store, uuid, call.user), payloads.as_object(patch, uuid))
        for uuid, patch in patches.items()
    ]
    return _one_page([folder_v2(call.store, f, call.user) for f in changed])


def v2_delete_folder(call: V2Call) -> NoContent:
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    delete_folder(call.store, folder)
    return NO_CONTENT


def v2_move_folders(call: V2Call) -> NoContent:
    body = call.json_object()
    uuids = payloads.text_list(body, "folderUuids")
    if not uuids:
        raise invalid("'folderUuids' must name at least one folder")
    move_folders(call.store, call.user, uuids, payloads.optional_text(body, "newParentUuid"))
    return NO_CONTENT


def v2_folder_summary(call: V2Call) -> dict[str, Any]:
    return folder_summary(call.store, visible_folder(call.store, call.params["folder_uuid"], call.user))


def v2_get_folder_config(call: V2Call) -> dict[str, Any]:
    folder = visible_folder(call.store, call.params["folder_uuid"], call.user)
    return {"metadataIngestion": folder.config.get("metadataIngestion"), **folder.config}


def _check_ingestion(value: Any) -> None:
    """The part of a folder config the sandbox understands (the SDK's MetadataIngestionConfig)."""
    if value is None:
        return
    ingestion = payloads.as_object(value, "metadataIngestion")
    matcher = payloads.as_object(ingestion.get("matcher"), "metadataIngestion.matcher")
    if matcher.get("mode", "suffix") != "suffix":
        raise invalid("metadataIngestion.matcher.mode must be 'suffix'")
    suffix = payloads.text(matcher, "suffix", default=".metadata.json", non_empty=True)
    if len(suffix) > 128:
        raise invalid("metadataIngestion.matcher.suffix is longer than 128 characters")
    payloads.flag(ingestion, "paused", default=False)


def v2_set_folder_config(call: V2Call) -> NoContent:
    """S-25: the whole configuration is replaced by what the caller sends (which it read first)."""
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    config = call.json_object()
    _check_ingestion(config.get("metadataIngestion"))
    folder.config = config
    folder.touch()
    call.store.put(folder)
    return NO_CONTENT


# ---- v2 handlers: items ------------------------------------------------------------------------


def _render_items(call: V2Call) -> Callable[[Item], dict[str, Any]]:
    sign = call.flag("signUrls", False)
    metadata = call.flag("includeClientMetadata", True)
    as_url = call.flag("clientMetadataAsSignedUrl", False)
    return lambda item: item_v2(call.store, item, sign_url=sign, client_metadata=metadata, metadata_as_url=as_url)


def v2_list_items(call: V2Call) -> dict[str, Any]:
    folder = visible_folder(call.store, call.params["folder_uuid"], call.user)
    folders = [folder, *subfolders(call.store, folder, recursive=True)] if call.flag("isRecursive", False) else [folder]
    keep = _item_filter(call)
    rows = [item for f in folders for item in call.store.children(Item, f.uuid) if keep(item)]
    return sorted_page(call, rows, _render_items(call))


def v2_search_items(call: V2Call) -> dict[str, Any]:
    call.flag("isRecursive", False)  # validated; this search always goes to every depth
    call.flag("includeOrgAccess", False)
    keep = _item_filter(call)
    folders = every_visible_folder(call.store, call.user)
    rows = [item for f in folders for item in call.store.children(Item, f.uuid) if keep(item)]
    return sorted_page(call, rows, _render_items(call))


def v2_move_items(call: V2Call) -> NoContent:
    source = writable_folder(call.store, call.params["folder_uuid"], call.user)
    body = call.json_object()
    move_items(
        call.store,
        call.user,
        source,
        payloads.text_list(body, "itemUuids"),
        payloads.text(body, "newParentUuid"),
        allow_synced=payloads.flag(body, "allowSyncedDatasetMove", default=False),
    )
    return NO_CONTENT


def v2_delete_items(call: V2Call) -> dict[str, Any]:
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    body = call.json_object()
    remove_frames = payloads.flag(body, "removeUnusedFrames", default=True)
    items = folders = 0
    for uuid in payloads.text_list(body, "childUuids"):
        subfolder = call.store.get(Folder, uuid)
        if subfolder is not None and subfolder.parent == folder.uuid:
            removed = delete_folder(call.store, subfolder)
            items, folders = items + removed[0], folders + removed[1]
        else:
            items += delete_item(call.store, item_of(call.store, folder, uuid), remove_unused_frames=remove_frames)
    folder.touch()
    call.store.put(folder)
    return {"removedItemsCount": items, "removedFoldersCount": folders}


def v2_get_item(call: V2Call) -> dict[str, Any]:
    item = visible_item(call.store, call.params["item_uuid"], call.user)
    return item_v2(call.store, item, sign_url=call.flag("signUrl", False))


def v2_get_items(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    sign = payloads.flag(body, "signUrls", default=False)
    items = [visible_item(call.store, uuid, call.user) for uuid in payloads.text_list(body, "itemUuids")]
    return _one_page([item_v2(call.store, item, sign_url=sign) for item in items])


def _writable_item(store: Store, uuid: str, user: User) -> Item:
    item = visible_item(store, uuid, user)
    writable_folder(store, item.parent, user)
    return item


def v2_update_item(call: V2Call) -> dict[str, Any]:
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    item = item_of(call.store, folder, call.params["item_uuid"])
    return item_v2(call.store, update_item(call.store, item, call.json_object()))


def v2_update_items(call: V2Call) -> dict[str, Any]:
    patches = payloads.as_object(call.json_object().get("itemPatches"), "itemPatches")
    changed = [
        update_item(call.store, _writable_item(call.store, uuid, call.user), payloads.as_object(patch, uuid))
        for uuid, patch in patches.items()
    ]
    return _one_page([item_v2(call.store, item) for item in changed])


def v2_item_summary(call: V2Call) -> dict[str, Any]:
    folder = visible_folder(call.store, call.params["folder_uuid"], call.user)
    item = item_of(call.store, folder, call.params["item_uuid"])
    return item_summary(call.store, call.user, item, group_layout=call.flag("includeGroupLayout", False))


def v2_child_items(call: V2Call) -> dict[str, Any]:
    folder = visible_folder(call.store, call.params["folder_uuid"], call.user)
    item = item_of(call.store, folder, call.params["item_uuid"])
    sign = call.flag("signUrls", False)
    children = [child for uuid in item.child_uuids if (child := call.store.get(Item, uuid)) is not None]
    return _one_page([item_v2(call.store, child, sign_url=sign) for child in children])


def v2_create_data_groups(call: V2Call) -> list[str]:
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    if not isinstance(call.body, list):
        raise invalid("the body must be a JSON array of data groups")
    return [group.uuid for group in create_data_groups(call.store, call.user, folder, call.body)]


def v2_migrate_items(call: V2Call) -> NoContent:
    migrate_items(call.store, call.user, call.json_object())
    return NO_CONTENT


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {}

V2: tuple[V2Route, ...] = (
    V2Route("POST", "storage/folders", v2_create_folder),  # S-01
    V2Route("GET", "storage/folders/{folder_uuid}", v2_get_folder),  # S-02
    V2Route("GET", "storage/folders", v2_list_folders),  # S-03
    V2Route("GET", "storage/search/folders", v2_search_folders),  # S-04
    V2Route("GET", "storage/folders/{folder_uuid}/folders", v2_list_subfolders),  # S-05
    V2Route("GET", "storage/folders/{folder_uuid}/items", v2_list_items),  # S-06, S-07
    V2Route("GET", "storage/search/items", v2_search_items),  # S-07
    V2Route("PATCH", "storage/folders/{folder_uuid}", v2_update_folder),  # S-08
    V2Route("PATCH", "storage/folders/patch-bulk", v2_update_folders),  # S-08
    V2Route("DELETE", "storage/folders/{folder_uuid}", v2_delete_folder),  # S-09
    V2Route("POST", "storage/folders/move", v2_move_folders),  # S-10
    V2Route("POST", "storage/folders/{folder_uuid}/items/move", v2_move_items),  # S-11
    V2Route("POST", "storage/folders/{folder_uuid}/items/delete", v2_delete_items),  # S-12
    V2Route("GET", "storage/folders/{folder_uuid}/summary", v2_folder_summary),  # S-13
    V2Route("GET", "storage/items/{item_uuid}", v2_get_item),  # S-14
    V2Route("POST", "storage/items/get-bulk", v2_get_items),  # S-15
    V2Route("PATCH", "storage/folders/{folder_uuid}/items/{item_uuid}", v2_update_item),  # S-16
    V2Route("PATCH", "storage/items/patch-bulk", v2_update_items),  # S-16
    V2Route("GET", "storage/folders/{folder_uuid}/items/{item_uuid}/summary", v2_item_summary),  # S-17
    V2Route("GET", "storage/folders/{folder_uuid}/items/{item_uuid}/child-items", v2_child_items),  # S-18
    V2Route("GET", "storage/folders/{folder_uuid}/folder-config", v2_get_folder_config),  # S-25
    V2Route("POST", "storage/folders/{folder_uuid}/folder-config", v2_set_folder_config),  # S-25
    V2Route("POST", "storage/folders/{folder_uuid}/create-group-items", v2_create_data_groups),  # S-26
    V2Route("POST", "storage/items/migrate-storage", v2_migrate_items),  # S-28
)
