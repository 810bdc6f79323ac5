"""Index and Active curation (E-04..E-08): collections of items, filter presets, and projects imported into Active.

Index collections and presets belong to a top-level storage folder and hold storage items: adding an item that
does not exist fails it; listings show the items the caller may open in full and, among all items, the others as
inaccessible stubs (`{uuid}`); a Data Title matches the caller's items of that name.

Project collections hold frames (FRAME) or annotations (LABEL) of the project's data units, which the sandbox has,
so they are checked: the unit must belong to one of the project's datasets and the frame to the unit.

The sandbox keeps filter definitions but does not evaluate them: a preset matches no items, so adding or removing
a preset's items checks the preset and changes nothing.

Deleting a collection or a preset deletes it "if it exists" (the SDK's words): deleting one that is gone, or that
the caller cannot see, changes nothing and succeeds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from .. import payloads
from ..errors import ApiError, invalid, not_found
from ..operations import NO_CONTENT, NoContent, V1Key, V1Operation, V2Call, V2Route
from ..paging import page, page_size
from ..records import new_hash, now, v2_time
from ..resources import require_admin, visible
from ..store import Store, register_kind
from .datasets import DataRow, Dataset
from .jobs import is_uuid
from .projects import Project
from .storage import Folder, Item, item_v2, path_to_root, visible_item
from .users import User

IndexRecord = TypeVar("IndexRecord", "IndexCollection", "IndexFilterPreset")
ProjectRecord = TypeVar("ProjectRecord", "ProjectCollection", "ProjectFilterPreset")

# ---- records -----------------------------------------------------------------------------------

COLLECTION_TYPES = ("FRAME", "LABEL")  # §6.9 project collection type
PROJECT_MODES = ("data", "label", "metric", "advanced")  # §6.9 Active import mode
MAX_TITLES_PER_REQUEST = 1000  # add-data-title-items (E-05); the SDK batches below both limits
MAX_TITLE_BYTES_PER_REQUEST = 200_000
STORAGE_ITEM_KIND = "storage_item"


@register_kind("index_collection", id="uuid", keys=("owner",))
@dataclass(kw_only=True)
class IndexCollection:
    """E-05: storage items of one top-level folder, in the order they were added."""

    uuid: str
    owner: str
    top_level_folder_uuid: str
    name: str
    description: str | None
    created_at: datetime
    last_edited_at: datetime
    item_uuids: list[str] = field(default_factory=list)


@register_kind("index_filter_preset", id="uuid", keys=("owner",))
@dataclass(kw_only=True)
class IndexFilterPreset:
    """E-07: a saved filter definition (snake_case `local_filters` / `global_filters`, kept as sent)."""

    uuid: str
    owner: str
    top_level_folder_uuid: str
    name: str
    description: str | None
    definition: dict[str, Any]
    created_at: datetime
    last_updated_at: datetime


@register_kind("project_collection", id="uuid", parent="project_hash", parent_kinds=("project",))
@dataclass(kw_only=True)
class ProjectCollection:
    """E-06: frames or annotations of a project's data units; items are `{dataUuid, frame, annotationId?}`."""

    uuid: str
    project_hash: str
    name: str
    description: str | None
    collection_type: str
    created_at: datetime
    last_edited_at: datetime
    items: list[dict[str, Any]] = field(default_factory=list)


@register_kind("project_filter_preset", id="uuid", parent="project_hash", parent_kinds=("project",))
@dataclass(kw_only=True)
class ProjectFilterPreset:
    """E-08: a saved Project Explorer filter definition (camelCase `localFilters` / `globalFilters`)."""

    uuid: str
    project_hash: str
    name: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@register_kind("active_project", id="project_hash", parent="project_hash", parent_kinds=("project",))
@dataclass(kw_only=True)
class ActiveProject:
    """E-04: a project imported into Active (Project Explorer), and how often it was synced since."""

    project_hash: str
    project_mode: str
    video_sampling_rate: float | None
    created_at: datetime
    syncs: int = 0
    last_synced_at: datetime | None = None


# ---- rules -------------------------------------------------------------------------------------


def _uuid(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_uuid(value):
        raise invalid(f"{what} must be a UUID")
    return value.lower()


def _uuid_list(values: Sequence[Any], what: str) -> list[str]:
    return [_uuid(v, what) for v in values]


def _known_item(store: Store, item_uuid: str) -> bool:
    return store.get(Item, item_uuid) is not None


def _accessible(store: Store, item_uuid: str, user: User) -> Item | None:
    """The storage item if the caller may open it (its folder is theirs), else None."""
    try:
        return visible_item(store, item_uuid, user)
    except ApiError:
        return None


def _owned(store: Store, cls: type[IndexRecord], record_uuid: str, user: User, what: str) -> IndexRecord:
    """An Index record of the caller's, or RESOURCE_NOT_FOUND_ERROR whether missing or someone else's."""
    record = store.get(cls, record_uuid)
    if record is None or record.owner != user.email:
        raise not_found(what, record_uuid)
    return record


def _project(call: V2Call, *, write: bool) -> Project:
    """The path's project: visible to read its curation, administered to change it."""
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    if write:
        require_admin(project, call.user)
    return project


def _of_project(store: Store, cls: type[ProjectRecord], record_uuid: str, project: Project, what: str) -> ProjectRecord:
    record = store.get(cls, record_uuid)
    if record is None or record.project_hash != project.hash:
        raise not_found(what, record_uuid)
    return record


def _definition(value: Any, local_key: str, global_key: str) -> dict[str, Any]:
    """A filter definition: `{local_key: {<uuid>: {"filters": [...]}}, global_key: {"filters": [...]}}`."""
    definition = payloads.as_object(value, "the filter preset")
    if local_key not in definition and global_key not in definition:
        raise invalid(f"a filter preset needs '{local_key}' or '{global_key}'")
    locals_ = payloads.as_object(definition.get(local_key), local_key)
    for scope in [*locals_.values(), definition.get(global_key)]:
        filters = payloads.as_object(scope, "a filter definition").get("filters", [])
        if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
            raise invalid("'filters' must be a list of objects")
    return definition


def _named(body: dict[str, Any], key: str = "name") -> str:
    return payloads.text(body, key, non_empty=True)


def add_index_items(store: Store, collection: IndexCollection, item_uuids: list[str]) -> list[str]:
    """Add items (each once); the failed ones are those the sandbox knows are not storage items."""
    failed = [u for u in item_uuids if not _known_item(store, u)]
    for item in item_uuids:
        if item not in failed and item not in collection.item_uuids:
            collection.item_uuids.append(item)
    collection.last_edited_at = now()
    store.put(collection)
    return failed


def remove_index_items(store: Store, collection: IndexCollection, item_uuids: list[str]) -> list[str]:
    """Remove items; the failed ones are those the collection did not hold."""
    failed = [u for u in item_uuids if u not in collection.item_uuids]
    collection.item_uuids = [u for u in collection.item_uuids if u not in item_uuids]
    collection.last_edited_at = now()
    store.put(collection)
    return failed


def titles_to_items(store: Store, user: User, top_level_folder: str, titles: list[str]) -> dict[str, list[str]]:
    """Each Data Title's storage items under the collection's top-level folder that the caller may open."""
    found: dict[str, list[str]] = {title: [] for title in titles}
    for item in store.all(Item):
        if item.name not in found or _accessible(store, item.uuid, user) is None:
            continue
        parent = store.get(Folder, item.parent)
        if parent is not None and top_level_folder in {f.uuid for f in path_to_root(store, parent)}:
            found[item.name].append(item.uuid)
    return found


def _project_item(value: Any) -> dict[str, Any]:
    item = payloads.as_object(value, "an item")
    frame = item.get("frame")
    if isinstance(frame, bool) or not isinstance(frame, int):
        raise invalid("an item's 'frame' must be an integer")
    checked: dict[str, Any] = {"dataUuid": payloads.text(item, "dataUuid", non_empty=True), "frame": frame}
    annotation = payloads.optional_text(item, "annotationId")
    if annotation is not None:
        checked["annotationId"] = annotation
    return checked


def _fits(store: Store, project: Project, collection: ProjectCollection, item: dict[str, Any]) -> bool:
    """A frame of a data unit of the project; for a LABEL collection, with the annotation it names."""
    if ("annotationId" in item) != (collection.collection_type == "LABEL"):
        return False
    row = store.get(DataRow, item["dataUuid"])
    return row is not None and row.dataset_hash in project.dataset_hashes and 0 <= item["frame"] < row.frames


def edit_project_items(
    store: Store, project: Project, collection: ProjectCollection, items: list[dict[str, Any]], *, add: bool
) -> list[dict[str, Any]]:
    """Add (each once) or remove items; failed: items that do not fit the collection, or removed ones it lacked."""
    failed = []
    for item in items:
        held = item in collection.items
        if add and _fits(store, project, collection, item):
            if not held:
                collection.items.append(item)
        elif not add and held:
            collection.items.remove(item)
        else:
            failed.append(item)
    collection.last_edited_at = now()
    store.put(collection)
    return failed


# ---- wire shapes -------------------------------------------------------------------------------


def index_collection_v2(collection: IndexCollection) -> dict[str, Any]:
    return {
        "uuid": collection.uuid,
        "topLevelFolderUuid": collection.top_level_folder_uuid,
        "name": collection.name,
        "description": collection.description,
        "createdAt": v2_time(collection.created_at),
        "lastEditedAt": v2_time(collection.last_edited_at),
    }


def index_preset_v2(preset: IndexFilterPreset) -> dict[str, Any]:
    return {
        "uuid": preset.uuid,
        "name": preset.name,
        "description": preset.description,
        "createdAt": v2_time(preset.created_at),
        "lastUpdatedAt": v2_time(preset.last_updated_at),
    }


def project_collection_v2(collection: ProjectCollection) -> dict[str, Any]:
    return {
        "collectionUuid": collection.uuid,
        "name": collection.name,
        "description": collection.description,
        "createdAt": v2_time(collection.created_at),
        "lastEditedAt": v2_time(collection.last_edited_at),
        "projectUuid": collection.project_hash,
        "collectionType": collection.collection_type,
    }


def project_preset_v2(preset: ProjectFilterPreset) -> dict[str, Any]:
    return {
        "presetUuid": preset.uuid,
        "name": preset.name,
        "createdAt": v2_time(preset.created_at),
        "updatedAt": v2_time(preset.updated_at),
    }


def label_row_metadata_v2(store: Store, row: DataRow) -> dict[str, Any]:
    """The metadata of a data unit's label row in a collection listing (the SDK's LabelRowMetadataDTO, whose keys
    for hashes are `*_uuid`); label rows are not modelled, so the row is never started."""
    dataset = store.get(Dataset, row.dataset_hash)
    return {
        "label_uuid": None,
        "branch_name": "main",
        "data_uuid": row.data_hash,
        "dataset_uuid": row.dataset_hash,
        "dataset_title": dataset.title if dataset is not None else "",
        "data_title": row.title,
        "data_type": row.data_type,
        "data_link": row.file_link,
        "label_status": "NOT_LABELLED",
        "frames_per_second": row.fps,
        "number_of_frames": row.frames,
        "duration": row.duration,
        "height": row.height,
        "width": row.width,
        "audio_sample_rate": None,
        "audio_codec": None,
        "audio_bit_depth": None,
        "audio_num_channels": None,
        "file_type": row.file_type,
        "backing_item_uuid": row.backing_item_uuid,
    }


def _offset_page(call: V2Call, values: list[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """A page of a list held inside one record (items are no records of their own): the token is an offset."""
    token = call.query.get("pageToken")
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii"))
        except (binascii.Error, UnicodeError, ValueError):
            raise invalid("pageToken is not a token this server issued") from None
    size = page_size(call)
    end = start + size
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=") if end < len(values) else None
    return {"results": [render(v) for v in values[start:end]], "nextPageToken": next_token}


# ---- v2 handlers: Active import (E-04) --------------------------------------------------------


def v2_import_into_active(call: V2Call) -> NoContent:
    project = _project(call, write=True)
    body = call.json_object()
    mode = payloads.text(body, "projectMode")
    if mode not in PROJECT_MODES:
        raise invalid(f"'projectMode' must be one of {', '.join(PROJECT_MODES)}")
    rate = body.get("videoSamplingRate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0):
        raise invalid("'videoSamplingRate' must be a positive number")
    call.store.put(
        ActiveProject(project_hash=project.hash, project_mode=mode, video_sampling_rate=rate, created_at=now())
    )
    return NO_CONTENT


def v2_sync_with_active(call: V2Call) -> NoContent:
    project = _project(call, write=True)
    imported = call.store.get(ActiveProject, project.hash)
    if imported is None:
        raise invalid("the project is not in Active: import it first")
    imported.syncs += 1
    imported.last_synced_at = now()
    call.store.put(imported)
    return NO_CONTENT


# ---- v2 handlers: Index collections (E-05) ----------------------------------------------------


def v2_list_index_collections(call: V2Call) -> dict[str, Any]:
    folder = call.query.get("topLevelFolderUuid")
    wanted = set(_uuid_list(call.query_lists.get("uuids", []), "uuids"))
    rows = [
        c
        for c in call.store.find(IndexCollection, "owner", call.user.email)
        if (folder is None or c.top_level_folder_uuid == folder.lower()) and (not wanted or c.uuid in wanted)
    ]
    return page(call, rows, index_collection_v2)


def v2_create_index_collection(call: V2Call) -> str:
    folder = _uuid(call.query.get("topLevelFolderUuid"), "topLevelFolderUuid")
    body = call.json_object()
    at = now()
    collection = IndexCollection(
        uuid=new_hash(),
        owner=call.user.email,
        top_level_folder_uuid=folder,
        name=_named(body),
        description=payloads.text(body, "description", default=""),
        created_at=at,
        last_edited_at=at,
    )
    return call.store.put(collection).uuid


def _index_collection(call: V2Call) -> IndexCollection:
    return _owned(call.store, IndexCollection, call.params["collection_uuid"], call.user, "collection")


def v2_update_index_collection(call: V2Call) -> NoContent:
    collection, body = _index_collection(call), call.json_object()
    if body.get("name") is not None:
        collection.name = _named(body)
    if "description" in body:
        collection.description = payloads.optional_text(body, "description")
    collection.last_edited_at = now()
    call.store.put(collection)
    return NO_CONTENT


def _delete_owned(store: Store, cls: type[IndexRecord], record_uuid: str, user: User) -> NoContent:
    """Delete an Index record of the caller's if it exists (see the module doc)."""
    record = store.get(cls, record_uuid)
    if record is not None and record.owner == user.email:
        store.delete(cls, record_uuid)
    return NO_CONTENT


def v2_delete_index_collection(call: V2Call) -> NoContent:
    return _delete_owned(call.store, IndexCollection, call.params["collection_uuid"], call.user)


def v2_list_accessible_items(call: V2Call) -> dict[str, Any]:
    """Only storage items the caller may open are listed, in full (§7.10)."""
    collection = _index_collection(call)
    metadata = call.flag("includeClientMetadata", False)
    items = [item for u in collection.item_uuids if (item := _accessible(call.store, u, call.user)) is not None]
    return _offset_page(call, items, lambda item: item_v2(call.store, item, client_metadata=metadata))


def v2_list_all_items(call: V2Call) -> dict[str, Any]:
    """Every item: those the caller may open in full, the others as `{uuid}` stubs (StorageItemInaccessible)."""
    collection = _index_collection(call)
    metadata = call.flag("includeClientMetadata", False)

    def render(item_uuid: str) -> dict[str, Any]:
        item = _accessible(call.store, item_uuid, call.user)
        return item_v2(call.store, item, client_metadata=metadata) if item is not None else {"uuid": item_uuid}

    return _offset_page(call, collection.item_uuids, render)


def _item_uuids(call: V2Call) -> list[str]:
    return _uuid_list(payloads.text_list(call.json_object(), "itemUuids"), "itemUuids")


def v2_add_index_items(call: V2Call) -> dict[str, Any]:
    collection = _index_collection(call)
    return {"failedItems": add_index_items(call.store, collection, _item_uuids(call))}


def v2_remove_index_items(call: V2Call) -> dict[str, Any]:
    collection = _index_collection(call)
    return {"failedItems": remove_index_items(call.store, collection, _item_uuids(call))}


def v2_add_items_by_title(call: V2Call) -> dict[str, Any]:
    """Titles matching exactly one item add it; ambiguous and unmatched titles are reported back."""
    collection = _index_collection(call)
    titles = list(dict.fromkeys(payloads.text_list(call.json_object(), "dataTitles")))
    if len(titles) > MAX_TITLES_PER_REQUEST:
        raise invalid(f"at most {MAX_TITLES_PER_REQUEST} Data Titles per request")
    if sum(len(t.encode("utf-8")) for t in titles) > MAX_TITLE_BYTES_PER_REQUEST:
        raise invalid(f"at most {MAX_TITLE_BYTES_PER_REQUEST} bytes of Data Titles per request")
    found = titles_to_items(call.store, call.user, collection.top_level_folder_uuid, titles)
    matched = [items[0] for items in found.values() if len(items) == 1]
    failed = add_index_items(call.store, collection, matched)
    return {
        "requested": len(titles),
        "matchedTitles": len(matched),
        "itemsAdded": len(matched) - len(failed),
        "ambiguousTitles": [t for t, items in found.items() if len(items) > 1],
        "unmatchedTitles": [t for t, items in found.items() if not items],
        "failedItems": failed,
    }


def _index_preset_for(call: V2Call, preset_uuid: Any) -> IndexFilterPreset:
    return _owned(call.store, IndexFilterPreset, _uuid(preset_uuid, "presetUuid"), call.user, "filter preset")


def v2_add_index_preset_items(call: V2Call) -> NoContent:
    _index_collection(call)
    _index_preset_for(call, call.json_object().get("presetUuid"))
    return NO_CONTENT  # a preset matches no items in the sandbox (see the module doc)


def v2_remove_index_preset_items(call: V2Call) -> NoContent:
    _index_collection(call)
    _index_preset_for(call, call.json_object().get("presetUuid"))
    return NO_CONTENT


# ---- v2 handlers: project collections (E-06) --------------------------------------------------


def v2_list_project_collections(call: V2Call) -> dict[str, Any]:
    project = _project(call, write=False)
    named = call.query.get("projectHash")
    if named is not None and named.lower() != project.hash:
        raise invalid("projectHash must be the project of the path")
    wanted = set(_uuid_list(call.query_lists.get("uuids", []), "uuids"))
    rows = [c for c in call.store.children(ProjectCollection, project.hash) if not wanted or c.uuid in wanted]
    return page(call, rows, project_collection_v2)


def v2_create_project_collection(call: V2Call) -> str:
    project = _project(call, write=True)
    named = call.query.get("projectHash")
    if named is not None and named.lower() != project.hash:
        raise invalid("projectHash must be the project of the path")
    body = call.json_object()
    kind = payloads.text(body, "collectionType")
    if kind not in COLLECTION_TYPES:
        raise invalid(f"'collectionType' must be one of {', '.join(COLLECTION_TYPES)}")
    at = now()
    collection = ProjectCollection(
        uuid=new_hash(),
        project_hash=project.hash,
        name=_named(body),
        description=payloads.text(body, "description", default=""),
        collection_type=kind,
        created_at=at,
        last_edited_at=at,
    )
    return call.store.put(collection).uuid


def _project_collection(call: V2Call, *, write: bool) -> tuple[Project, ProjectCollection]:
    project = _project(call, write=write)
    collection = _of_project(call.store, ProjectCollection, call.params["collection_uuid"], project, "collection")
    return project, collection


def v2_update_project_collection(call: V2Call) -> NoContent:
    _, collection = _project_collection(call, write=True)
    body = call.json_object()
    if body.get("name") is not None:
        collection.name = _named(body)
    if "description" in body:
        collection.description = payloads.optional_text(body, "description")
    collection.last_edited_at = now()
    call.store.put(collection)
    return NO_CONTENT


def _delete_of_project(call: V2Call, cls: type[ProjectRecord], record_uuid: str) -> NoContent:
    """Delete a record of the path's project if it exists (see the module doc); the project must be the caller's
    to administer."""
    project = _project(call, write=True)
    record = call.store.get(cls, record_uuid)
    if record is not None and record.project_hash == project.hash:
        call.store.delete(cls, record_uuid)
    return NO_CONTENT


def v2_delete_project_collection(call: V2Call) -> NoContent:
    return _delete_of_project(call, ProjectCollection, call.params["collection_uuid"])


def v2_list_project_collection_items(call: V2Call) -> dict[str, Any]:
    """One entry per data unit: its label row's metadata and the collection's frames (or annotations) of it.
    `getLabels=true` asks for a LABEL collection's annotations; a FRAME collection answers frames."""
    _, collection = _project_collection(call, write=False)
    labels = call.flag("getLabels", False)
    if labels != (collection.collection_type == "LABEL"):
        wanted = "annotations (getLabels=true)" if collection.collection_type == "LABEL" else "frames (no getLabels)"
        raise invalid(f"a {collection.collection_type} collection lists its {wanted}")
    units: dict[str, list[dict[str, Any]]] = {}
    for item in collection.items:
        instance = {"frame": item["frame"]} | ({"annotationId": item["annotationId"]} if labels else {})
        units.setdefault(item["dataUuid"], []).append(instance)
    rows = {u: call.store.get(DataRow, u) for u in units}
    present = [u for u, row in rows.items() if row is not None]  # a unit deleted since drops out

    def render(unit: str) -> dict[str, Any]:
        row = rows[unit]
        assert row is not None
        return {"labelRowMetadata": label_row_metadata_v2(call.store, row), "instances": units[unit]}

    return _offset_page(call, present, render)


def _project_items(call: V2Call) -> list[dict[str, Any]]:
    items = call.json_object().get("items")
    if not isinstance(items, list):
        raise invalid("'items' must be a list")
    return [_project_item(item) for item in items]


def v2_add_project_collection_items(call: V2Call) -> dict[str, Any]:
    project, collection = _project_collection(call, write=True)
    failed = edit_project_items(call.store, project, collection, _project_items(call), add=True)
    return {"failedItems": failed}


def v2_remove_project_collection_items(call: V2Call) -> dict[str, Any]:
    project, collection = _project_collection(call, write=True)
    failed = edit_project_items(call.store, project, collection, _project_items(call), add=False)
    return {"failedItems": failed}


def _project_preset_for(call: V2Call, project: Project, preset_uuid: Any) -> ProjectFilterPreset:
    return _of_project(call.store, ProjectFilterPreset, _uuid(preset_uuid, "presetUuid"), project, "filter preset")


def v2_add_project_preset_items(call: V2Call) -> NoContent:
    project, _ = _project_collection(call, write=True)
    _project_preset_for(call, project, call.json_object().get("presetUuid"))
    return NO_CONTENT  # a preset matches no items in the sandbox (see the module doc)


def v2_remove_project_preset_items(call: V2Call) -> NoContent:
    project, _ = _project_collection(call, write=True)
    _project_preset_for(call, project, call.json_object().get("presetUuid"))
    return NO_CONTENT


# ---- v2 handlers: Index filter presets (E-07) -------------------------------------------------


def v2_list_index_presets(call: V2Call) -> dict[str, Any]:
    folder = call.query.get("topLevelFolderUuid")
    wanted = set(_uuid_list(call.query_lists.get("uuids", []), "uuids"))
    rows = [
        p
        for p in call.store.find(IndexFilterPreset, "owner", call.user.email)
        if (folder is None or p.top_level_folder_uuid == folder.lower()) and (not wanted or p.uuid in wanted)
    ]
    return page(call, rows, index_preset_v2)


def v2_create_index_preset(call: V2Call) -> str:
    folder = _uuid(call.query.get("topLevelFolderUuid", "00000000-0000-0000-0000-000000000000"), "topLevelFolderUuid")
    body = call.json_object()
    at = now()
    preset = IndexFilterPreset(
        uuid=new_hash(),
        owner=call.user.email,
        top_level_folder_uuid=folder,
        name=_named(body),
        description=payloads.text(body, "description", default=""),
        definition=_definition(body.get("filterPresetJson"), "local_filters", "global_filters"),
        created_at=at,
        last_updated_at=at,
    )
    return call.store.put(preset).uuid


def _index_preset(call: V2Call) -> IndexFilterPreset:
    return _index_preset_for(call, call.params["preset_uuid"])


def v2_get_index_preset_definition(call: V2Call) -> dict[str, Any]:
    return _index_preset(call).definition


def v2_update_index_preset(call: V2Call) -> NoContent:
    preset, body = _index_preset(call), call.json_object()
    if body.get("name") is not None:
        preset.name = _named(body)
    if body.get("description") is not None:
        preset.description = payloads.text(body, "description")
    if body.get("filterPreset") is not None:
        preset.definition = _definition(body["filterPreset"], "local_filters", "global_filters")
    preset.last_updated_at = now()
    call.store.put(preset)
    return NO_CONTENT


def v2_delete_index_preset(call: V2Call) -> NoContent:
    return _delete_owned(call.store, IndexFilterPreset, call.params["preset_uuid"], call.user)


# ---- v2 handlers: project filter presets (E-08) -----------------------------------------------


def v2_list_project_presets(call: V2Call) -> dict[str, Any]:
    project = _project(call, write=False)
    wanted = set(_uuid_list(call.query_lists.get("presetUuids", []), "presetUuids"))
    rows = [p for p in call.store.children(ProjectFilterPreset, project.hash) if not wanted or p.uuid in wanted]
    return page(call, rows, project_preset_v2)


def v2_create_project_preset(call: V2Call) -> str:
    project = _project(call, write=True)
    body = call.json_object()
    at = now()
    preset = ProjectFilterPreset(
        uuid=new_hash(),
        project_hash=project.hash,
        name=_named(body),
        definition=_definition(body.get("filterPresetJson"), "localFilters", "globalFilters"),
        created_at=at,
        updated_at=at,
    )
    return call.store.put(preset).uuid


def _project_preset(call: V2Call, *, write: bool) -> ProjectFilterPreset:
    project = _project(call, write=write)
    return _project_preset_for(call, project, call.params["preset_uuid"])


def v2_get_project_preset_definition(call: V2Call) -> dict[str, Any]:
    return _project_preset(call, write=False).definition


def v2_update_project_preset(call: V2Call) -> NoContent:
    preset, body = _project_preset(call, write=True), call.json_object()
    if body.get("name") is not None:
        preset.name = _named(body)
    if body.get("filterPreset") is not None:
        preset.definition = _definition(body["filterPreset"], "localFilters", "globalFilters")
    preset.updated_at = now()
    call.store.put(preset)
    return NO_CONTENT


def v2_delete_project_preset(call: V2Call) -> NoContent:
    return _delete_of_project(call, ProjectFilterPreset, call.params["preset_uuid"])


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {}

INDEX_COLLECTION = "index/collections/{collection_uuid}"
PROJECT_COLLECTION = "active/{project_hash}/collections/{collection_uuid}"

V2: tuple[V2Route, ...] = (
    V2Route("POST", "active/{project_hash}/import", v2_import_into_active),  # E-04
    V2Route("POST", "active/{project_hash}/sync", v2_sync_with_active),  # E-04
    V2Route("GET", "index/collections", v2_list_index_collections),  # E-05
    V2Route("POST", "index/collections", v2_create_index_collection),  # E-05
    V2Route("PATCH", INDEX_COLLECTION, v2_update_index_collection),  # E-05
    V2Route("DELETE", INDEX_COLLECTION, v2_delete_index_collection),  # E-05
    V2Route("GET", f"{INDEX_COLLECTION}/accessible-items", v2_list_accessible_items),  # E-05
    V2Route("GET", f"{INDEX_COLLECTION}/all-items", v2_list_all_items),  # E-05
    V2Route("POST", f"{INDEX_COLLECTION}/add-items", v2_add_index_items),  # E-05
    V2Route("POST", f"{INDEX_COLLECTION}/remove-items", v2_remove_index_items),  # E-05
    V2Route("POST", f"{INDEX_COLLECTION}/add-data-title-items", v2_add_items_by_title),  # E-05
    V2Route("POST", f"{INDEX_COLLECTION}/add-preset-items", v2_add_index_preset_items),  # E-05
    V2Route("POST", f"{INDEX_COLLECTION}/remove-preset-items", v2_remove_index_preset_items),  # E-05
    V2Route("GET", "active/{project_hash}/collections", v2_list_project_collections),  # E-06
    V2Route("POST", "active/{project_hash}/collections", v2_create_project_collection),  # E-06
    V2Route("PATCH", PROJECT_COLLECTION, v2_update_project_collection),  # E-06
    V2Route("DELETE", PROJECT_COLLECTION, v2_delete_project_collection),  # E-06
    V2Route("GET", f"{PROJECT_COLLECTION}/items", v2_list_project_collection_items),  # E-06
    V2Route("POST", f"{PROJECT_COLLECTION}/add-items", v2_add_project_collection_items),  # E-06
    V2Route("POST", f"{PROJECT_COLLECTION}/remove-items", v2_remove_project_collection_items),  # E-06
    V2Route("POST", f"{PROJECT_COLLECTION}/add-preset-items", v2_add_project_preset_items),  # E-06
    V2Route("POST", f"{PROJECT_COLLECTION}/remove-preset-items", v2_remove_project_preset_items),  # E-06
    V2Route("GET", "index/presets", v2_list_index_presets),  # E-07
    V2Route("POST", "index/presets", v2_create_index_preset),  # E-07
    V2Route("GET", "index/presets/{preset_uuid}", v2_get_index_preset_definition),  # E-07
    V2Route("PATCH", "index/presets/{preset_uuid}", v2_update_index_preset),  # E-07
    V2Route("DELETE", "index/presets/{preset_uuid}", v2_delete_index_preset),  # E-07
    V2Route("GET", "active/{project_hash}/presets", v2_list_project_presets),  # E-08
    V2Route("POST", "active/{project_hash}/presets", v2_create_project_preset),  # E-08
    V2Route("GET", "active/{project_hash}/presets/{preset_uuid}/raw", v2_get_project_preset_definition),  # E-08
    V2Route("PATCH", "active/{project_hash}/presets/{preset_uuid}", v2_update_project_preset),  # E-08
    V2Route("DELETE", "active/{project_hash}/presets/{preset_uuid}", v2_delete_project_preset),  # E-08
)
