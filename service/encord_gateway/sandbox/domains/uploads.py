"""Uploads and ingestion (§5.7.1..§5.7.3, S-20..S-24, S-27, E-10): signed upload URLs, registration jobs, cloud imports.

Getting data in takes a signed URL (presigned-urls, S-20, or the seed-era signed*url calls), a PUT of the bytes to
it (blobs.py: the sandbox's own bucket, with expiry and content checks), then a registration. A registration is a
job (upload_job) that belongs to a storage folder and, when it came through a dataset, to that dataset: its units
(a video, an image, an image group, a DICOM series, a scene, ...) become storage items of the folder and, for a
dataset, data units backed by them. A unit whose file was never uploaded, or whose cloud object the integration
cannot read, fails alone, with a per-unit error.

Like the jobs domain's, a job works only while someone looks at it: every look (a poll, or another glance while a
long poll is held, v1 or v2) registers up to UNITS_PER_LOOK of its pending units, so tests never wait on a clock and
a job can be cancelled half-way (S-23) with what it did so far kept. Registering the same thing again answers the
same job unless that one failed or was cancelled (§4.4: creations may be made idempotent); it also gives the SDK
and the gateway the same job in the wire-equality suite.

Private-cloud data comes through a cloud integration (organisation.py): any object URL of a bucket resolves into an
item, except those the control API marked as failing (`cloud_bucket`); a cloud-synced folder (S-01 with
cloudSyncedFolderParams) mirrors the objects seeded into its integration's bucket under its remote URL (S-24).
"""

from __future__ import annotations

import json
import posixpath
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import payloads
from ..blobs import UPLOAD_HEADERS, signed_upload_url
from ..errors import ApiError, forbidden, invalid, not_found
from ..operations import Held, V1Call, V1Key, V1Operation, V2Call, V2Route, needs
from ..records import new_hash, now
from ..store import Store, register_kind
from .datasets import MIME_TYPES, DataRow, Dataset, backing_folder_of, link_item, mirror_items
from .jobs import is_uuid, job_uuid, long_poll
from .organisation import CloudIntegration, integrations
from .storage import ITEM_TYPES, Blob, Folder, Item, blob_link, visible_folder, visible_item, writable_folder
from .users import User

# ---- records -----------------------------------------------------------------------------------

PENDING, DONE, ERROR, CANCELLED = "PENDING", "DONE", "ERROR", "CANCELLED"  # §6.8
UNITS_PER_LOOK = 10
"""Units one look at a job registers: a job of many units is seen PENDING part-way (and can be cancelled there)."""
MAX_URLS_PER_CALL = 1000
"""Signed URLs one call hands out (the SDK asks for at most 200 at a time)."""
LEGACY_PREFIX = "cord-legacy"
STORAGE_PREFIX = "cord-storage"
UPLOAD_PREFIX = "cord-uploads"

# The structured registration lists (§7.11) and the item each entry becomes.
SINGLE_FILE_LISTS: dict[str, str] = {
    "videos": "video",
    "images": "image",
    "audio": "audio",
    "text": "plainText",
    "pdf": "pdf",
    "nifti": "nifti",
    "timeSeries": "timeseries",
}
# The same in a private-cloud JSON specification (`files` / `externalFiles`), which Encord documents in snake_case.
SPEC_LISTS: dict[str, str] = {**SINGLE_FILE_LISTS, "time_series": "timeseries"}
SPEC_GROUP_LISTS: dict[str, str] = {"image_groups": "imageGroup", "imageGroups": "imageGroup",
                                    "dicom_series": "dicomSeries", "dicomSeries": "dicomSeries"}  # fmt: skip
UPLOAD_ITEM_TYPES = tuple(t for t in ITEM_TYPES if t != "group")
"""What presigned-urls and S-20 hand URLs out for (the SDK's StorageItemType, §6.6)."""
ACTIONS: dict[str, str] = {
    "video": "Uploading video",
    "image": "Uploading image",
    "imageGroup": "Creating image group",
    "imageSequence": "Creating image sequence",
    "dicomSeries": "Uploading DICOM series",
    "scene": "Registering scene",
}
# Where a cloud object lives (§6.1, v2 spelling), by URL.
CLOUD_LOCATIONS = (("s3://", "s3"), ("gs://", "gcp"), ("az://", "azure"), (".blob.core.windows.net", "azure"),
                   ("storage.googleapis.com", "gcp"), (".amazonaws.com", "s3"), ("https://", "s3Compatible"),
                   ("http://", "s3Compatible"))  # fmt: skip
REENCODE_LOOKS = 2
"""Status checks a storage re-encoding takes to finish (S-27), as the dataset one (D-15)."""


@register_kind("upload_slot", id="item_uuid", keys=("object_key",))
@dataclass(kw_only=True)
class UploadSlot:
    """A signed upload URL handed out: where its bytes go (`object_key`) and the item they will become."""

    item_uuid: str
    object_key: str
    item_type: str
    owner: str
    created_at: datetime
    folder_uuid: str | None = None  # S-20's folder; presigned-urls are not tied to one


@register_kind("upload_job", id="uuid", parent="folder_uuid", parent_kinds=("storage_folder",))
@dataclass(kw_only=True)
class UploadJob:
    """A registration (§4.5): units to turn into items of `folder_uuid` (and data units of `dataset_hash`).

    Each unit is a dict: `kind` (an item type), `title`, `client_metadata`, `urls` (object keys or cloud URLs, a
    group's in order), `placeholders` (item uuids, per URL), `create_video`, `scene`, `item_uuids` (groups made of
    existing items), and its outcome: `state`, `error`, `item_uuid`, `name`, `data_hash`, `subtask_uuid`.
    """

    uuid: str
    owner: str
    folder_uuid: str
    dataset_hash: str | None
    integration_uuid: str | None
    ignore_errors: bool
    units: list[dict[str, Any]]
    created_at: datetime
    file_name: str | None = None
    skip_duplicate_urls: bool = False
    status: str = PENDING


@register_kind("upload_settings", id="key")
@dataclass(kw_only=True)
class UploadSettings:
    """What the control API set: how many of the next signed upload URLs are handed out already expired."""

    key: str
    expired_urls_left: int
    created_at: datetime


@register_kind("cloud_bucket", id="integration_uuid")
@dataclass(kw_only=True)
class CloudBucket:
    """The fake bucket behind a cloud integration: objects a cloud-synced folder finds, and URLs that fail."""

    integration_uuid: str
    objects: list[str]
    failures: dict[str, str]
    created_at: datetime


@register_kind("legacy_upload", id="data_hash", parent="dataset_hash", parent_kinds=("dataset",), keys=("file_link",))
@dataclass(kw_only=True)
class LegacyUpload:
    """A seed-era upload (X-01, X-04, X-09): a data hash and object handed out with a signed URL, then registered."""

    data_hash: str
    dataset_hash: str
    kind: str  # video, image, dicomFile
    title: str
    file_link: str
    signed_url: str
    created_at: datetime
    registered: bool = False  # an image registered for an image group, not yet grouped


@register_kind("folder_sync", id="uuid", parent="folder_uuid", parent_kinds=("storage_folder",))
@dataclass(kw_only=True)
class FolderSync:
    """A cloud-synced folder's synchronisation (S-24); done by the first look."""

    uuid: str
    folder_uuid: str
    owner: str
    created_at: datetime
    status: str = "pending"
    created: int = 0
    tombstoned: int = 0
    failed: int = 0


@register_kind("item_reencode", id="uuid")
@dataclass(kw_only=True)
class ItemReencode:
    """Re-encoding of storage videos (S-27): `submitted` until checked REENCODE_LOOKS times."""

    uuid: str
    owner: str
    item_uuids: list[str]
    process_title: str
    force_full_reencoding: bool
    created_at: datetime
    looks: int = 0


@register_kind("scene_document", id="item_uuid")
@dataclass(kw_only=True)
class SceneDocument:
    """The scene a scene item was registered with (E-10 reads it back)."""

    item_uuid: str
    scene: dict[str, Any]
    created_at: datetime


# ---- rules: signed upload URLs -----------------------------------------------------------------


def _url_lifetime(store: Store) -> int | None:
    """None for a normal lifetime, or -1 while the control API asked for expired URLs."""
    settings = store.get(UploadSettings, "settings")
    if settings is None or settings.expired_urls_left <= 0:
        return None
    settings.expired_urls_left -= 1
    store.put(settings)
    return -1


def _signed(store: Store, key: str, *, with_headers: bool = True) -> str:
    lifetime = _url_lifetime(store)
    if lifetime is None:
        return signed_upload_url(key, with_headers=with_headers)
    return signed_upload_url(key, lifetime, with_headers=with_headers)


def expire_next_urls(store: Store, count: int) -> None:
    """Control API: the next `count` upload URLs are handed out expired, as if they had expired in transit."""
    store.put(UploadSettings(key="settings", expired_urls_left=count, created_at=now()))


def issue_upload_urls(
    store: Store, user: User, item_type: str, count: int, folder: Folder | None
) -> list[dict[str, Any]]:
    """presigned-urls and S-20: `count` slots, each a placeholder item uuid, an object key and its signed URL."""
    if item_type not in UPLOAD_ITEM_TYPES:
        raise invalid(f"the item type must be one of {', '.join(UPLOAD_ITEM_TYPES)}")
    if not 1 <= count <= MAX_URLS_PER_CALL:
        raise invalid(f"count must be between 1 and {MAX_URLS_PER_CALL}")
    answers = []
    for _ in range(count):
        item_uuid = new_hash()
        key = (
            f"{STORAGE_PREFIX}/{folder.uuid}/{item_uuid}" if folder else f"{UPLOAD_PREFIX}/{user.user_hash}/{item_uuid}"
        )
        store.put(UploadSlot(item_uuid=item_uuid, object_key=key, item_type=item_type, owner=user.email,
                             created_at=now(), folder_uuid=folder.uuid if folder else None))  # fmt: skip
        answers.append(
            {"itemUuid": item_uuid, "objectKey": key, "signedUrl": _signed(store, key), "uploadHeaders": UPLOAD_HEADERS}
        )
    return answers


# ---- rules: what a registration asks for -------------------------------------------------------


def _unit(
    kind: str, title: Any, metadata: Any, urls: list[str], placeholders: list[Any], **more: Any
) -> dict[str, Any]:
    if title is not None and not isinstance(title, str):
        raise invalid("a title must be a string")
    return {
        "kind": kind,
        "title": title,
        "client_metadata": payloads.as_object(metadata, "clientMetadata"),
        "urls": urls,
        "placeholders": [p if isinstance(p, str) else None for p in placeholders],
        "state": PENDING,
        "error": None,
        "item_uuid": None,
        "name": None,
        "data_hash": None,
        "subtask_uuid": new_hash(),
        **more,
    }


def _entries(items: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = items.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"'{key}' must be a list")
    return [payloads.as_object(entry, f"{key}[{index}]") for index, entry in enumerate(value)]


def units_from_data_items(items: dict[str, Any]) -> list[dict[str, Any]]:
    """The units of a structured registration (DataUploadItems, §7.11; camelCase)."""
    units = []
    for key, kind in SINGLE_FILE_LISTS.items():
        for entry in _entries(items, key):
            url = payloads.text(entry, "objectUrl", non_empty=True)
            units.append(_unit(kind, entry.get("title"), entry.get("clientMetadata"), [url],
                               [entry.get("placeholderItemUuid")]))  # fmt: skip
    for entry in _entries(items, "imageGroups"):
        images = _entries(entry, "images")
        if not images:
            raise invalid("an image group needs at least one image")
        kind = "imageSequence" if payloads.flag(entry, "createVideo", default=False) else "imageGroup"
        units.append(_unit(kind, entry.get("title"), entry.get("clientMetadata"),
                           [payloads.text(i, "url", non_empty=True) for i in images],
                           [i.get("placeholderItemUuid") for i in images],
                           frame_titles=[i.get("title") for i in images]))  # fmt: skip
    for entry in _entries(items, "dicomSeries"):
        files = _entries(entry, "dicomFiles")
        if not files:
            raise invalid("a DICOM series needs at least one file")
        units.append(_unit("dicomSeries", entry.get("title"), entry.get("clientMetadata"),
                           [payloads.text(f, "url", non_empty=True) for f in files],
                           [f.get("placeholderItemUuid") for f in files],
                           frame_titles=[f.get("title") for f in files]))  # fmt: skip
    for entry in _entries(items, "imageGroupsFromItems"):
        kind = "imageSequence" if payloads.flag(entry, "createVideo", default=False) else "imageGroup"
        units.append(_unit(kind, entry.get("title"), entry.get("clientMetadata"), [], [],
                           item_uuids=payloads.text_list(entry, "imageItems")))  # fmt: skip
    for entry in _entries(items, "scenes"):
        scene = payloads.as_object(entry.get("scene"), "scene")
        scene_url = scene.get("url")
        urls = [scene_url] if isinstance(scene_url, str) and scene_url else []
        units.append(_unit("scene", payloads.text(entry, "title", non_empty=True), entry.get("clientMetadata"),
                           urls, [entry.get("placeholderItemUuid")], scene=scene))  # fmt: skip
    return units


def units_from_spec(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The units of a private-cloud JSON specification (`files`, `externalFiles`): lists of `{objectUrl, title?,
    clientMetadata?}`, and groups whose frames are `objectUrl_0`, `objectUrl_1`, ..."""
    units = []
    for key, kind in SPEC_LISTS.items():
        for entry in _entries(spec, key):
            url = payloads.text(entry, "objectUrl", non_empty=True)
            units.append(_unit(kind, entry.get("title"), entry.get("clientMetadata"), [url], [None]))
    for key, kind in SPEC_GROUP_LISTS.items():
        for entry in _entries(spec, key):
            frames = sorted((int(k.rpartition("_")[2]), v) for k, v in entry.items()
                            if k.startswith("objectUrl_") and k.rpartition("_")[2].isdigit())  # fmt: skip
            if not frames or not all(isinstance(url, str) for _, url in frames):
                raise invalid(f"each of '{key}' needs objectUrl_0, objectUrl_1, ...")
            if kind == "imageGroup" and payloads.flag(entry, "createVideo", default=False):
                kind = "imageSequence"
            units.append(_unit(kind, entry.get("title"), entry.get("clientMetadata"), [u for _, u in frames],
                               [None] * len(frames)))  # fmt: skip
    return units


# ---- rules: starting, looking at and cancelling a job ------------------------------------------


def _usable_integration(store: Store, user: User, integration_uuid: str) -> CloudIntegration:
    if not is_uuid(integration_uuid):
        raise invalid("the integration must be a UUID")
    found = next((i for i in integrations(store, user, include_org_access=True) if i.uuid == integration_uuid), None)
    if found is None:
        raise forbidden(f"cloud integration {integration_uuid} does not exist or you have no access to it")
    return found


def start_job(
    store: Store,
    user: User,
    folder: Folder,
    dataset: Dataset | None,
    *,
    data_items: Any,
    spec: Any,
    integration_uuid: str | None,
    ignore_errors: bool,
    file_name: str | None,
) -> UploadJob:
    """A registration of structured items (Encord storage, or cloud URLs with an integration) or of a cloud JSON
    specification; the same request again answers the same job while it has not failed."""
    if (data_items is None) == (spec is None):
        raise invalid("give either the items to register or a JSON specification of cloud files, not both")
    if spec is not None and integration_uuid is None:
        raise invalid("a JSON specification of cloud files needs the integration that reads them")
    if integration_uuid is not None:
        _usable_integration(store, user, integration_uuid)
    items = payloads.as_object(data_items, "dataItems") if data_items is not None else None
    spec_object = payloads.as_object(spec, "files") if spec is not None else None
    units = units_from_data_items(items) if items is not None else units_from_spec(spec_object or {})
    if not units:
        raise invalid("the registration names no files")
    request = [folder.uuid, dataset.hash if dataset else None, items, spec_object, integration_uuid, ignore_errors]
    job_id = job_uuid("upload_job", user, request)
    existing = store.get(UploadJob, job_id)
    if existing is not None and existing.status in (PENDING, DONE):
        return existing
    if existing is not None:
        job_id = new_hash()  # the earlier one failed or was cancelled: this is a new attempt
    return store.put(
        UploadJob(
            uuid=job_id,
            owner=user.email,
            folder_uuid=folder.uuid,
            dataset_hash=dataset.hash if dataset else None,
            integration_uuid=integration_uuid,
            ignore_errors=ignore_errors,
            units=units,
            created_at=now(),
            file_name=file_name,
            skip_duplicate_urls=bool(items and payloads.flag(items, "skipDuplicateUrls", default=False)),
        )
    )


def own_job(
    store: Store, user: User, job_uuid_: Any, *, folder: Folder | None = None, dataset: Dataset | None = None
) -> UploadJob:
    job = store.get(UploadJob, job_uuid_) if isinstance(job_uuid_, str) else None
    if job is None or job.owner != user.email:
        raise not_found("upload job", job_uuid_)
    if (folder is not None and job.folder_uuid != folder.uuid) or (
        dataset is not None and job.dataset_hash != dataset.hash
    ):
        raise not_found("upload job", job_uuid_)
    return job


def look(store: Store, user: User, job: UploadJob) -> bool:
    """One look: register up to UNITS_PER_LOOK pending units; True once the job has ended."""
    if job.status == PENDING:
        pending = [unit for unit in job.units if unit["state"] == PENDING]
        for unit in pending[:UNITS_PER_LOOK]:
            _register(store, user, job, unit)
        if all(unit["state"] != PENDING for unit in job.units):
            failed = any(unit["state"] == ERROR for unit in job.units)
            job.status = ERROR if failed and not job.ignore_errors else DONE
        store.put(job)
    return job.status != PENDING


def cancel(store: Store, job: UploadJob) -> int:
    """S-23: the units not yet registered are cancelled; those done stay done."""
    cancelled = 0
    if job.status == PENDING:
        for unit in job.units:
            if unit["state"] == PENDING:
                unit["state"] = CANCELLED
                cancelled += 1
        job.status = CANCELLED
        store.put(job)
    return cancelled


# ---- rules: registering one unit ---------------------------------------------------------------


class UnitFailed(Exception):
    """Why one unit could not be registered (its data-unit error); the job goes on."""


def _location(url: str) -> str:
    return next((where for marker, where in CLOUD_LOCATIONS if marker in url), "encord")


def _name_of(url: str) -> str:
    return posixpath.basename(urllib.parse.urlsplit(url).path) or url


def _stored_file(store: Store, user: User, job: UploadJob, key: str, placeholder: str | None) -> tuple[str, Blob]:
    """(item uuid, blob) of an object key handed out to this user and uploaded since."""
    slots = store.find(UploadSlot, "object_key", key)
    slot = slots[0] if slots else None
    if slot is None or slot.owner != user.email:
        raise UnitFailed(f"{key} is not an upload location handed out to you")
    if placeholder is not None and placeholder != slot.item_uuid:
        raise UnitFailed(f"placeholder item {placeholder} was not handed out with {key}")
    blob = store.get(Blob, key)
    if blob is None:
        raise UnitFailed(f"no file was uploaded to {key}")
    return slot.item_uuid, blob


def _cloud_file(store: Store, job: UploadJob, url: str) -> None:
    """Whether the integration reads `url`: a bucket URL, not one the control API marked as failing."""
    if "://" not in url or not urllib.parse.urlsplit(url).netloc or not _name_of(url):
        raise UnitFailed(f"{url} is not the URL of an object in a bucket")
    bucket = store.get(CloudBucket, job.integration_uuid or "")
    if bucket is not None and url in bucket.failures:
        raise UnitFailed(bucket.failures[url])


def _file_item(store: Store, user: User, job: UploadJob, folder: Folder, kind: str, url: str,
               placeholder: str | None, title: str | None, metadata: dict[str, Any]) -> Item:  # fmt: skip
    """An item for one file: Encord-hosted (an uploaded object key) or in a cloud bucket (through the integration)."""
    at = now()
    if job.integration_uuid is None:
        item_uuid, blob = _stored_file(store, user, job, url, placeholder)
        media: dict[str, Any] = {"mime_type": blob.mime_type, "file_size": blob.size, "storage_location": "encord"}
    else:
        _cloud_file(store, job, url)
        item_uuid = new_hash()
        media = {"mime_type": ITEM_TYPES[kind].mime_type, "file_size": None, "storage_location": _location(url),
                 "integration_hash": job.integration_uuid}  # fmt: skip
    if kind in ("image", "video"):
        media.update(width=640, height=480)
    if kind == "video":
        media.update(fps=25.0, frame_count=30, duration=1.2)
    return Item(uuid=item_uuid, parent=folder.uuid, item_type=kind, name=title or _name_of(url), owner=user.email,
                created_at=at, last_edited_at=at, client_metadata=metadata, url=url, **media)  # fmt: skip


def _duplicate(store: Store, folder: Folder, url: str) -> Item | None:
    return next((item for item in store.find(Item, "url", url) if item.parent == folder.uuid), None)


def _register(store: Store, user: User, job: UploadJob, unit: dict[str, Any]) -> None:
    folder = store.get(Folder, job.folder_uuid)
    try:
        if folder is None:
            raise UnitFailed("the folder was deleted")
        if job.skip_duplicate_urls and unit["urls"] and (found := _duplicate(store, folder, unit["urls"][0])):
            item = found
        else:
            item = _new_unit_item(store, user, job, folder, unit)
    except UnitFailed as failure:
        unit.update(state=ERROR, error=str(failure))
        return
    unit.update(state=DONE, item_uuid=item.uuid, name=item.name)
    if job.dataset_hash is not None:
        dataset = store.get(Dataset, job.dataset_hash)
        if dataset is not None and ITEM_TYPES[item.item_type].data_type is not None:
            unit["data_hash"] = link_item(store, dataset, item).data_hash
    elif folder is not None:
        rows = mirror_items(store, folder, [item])
        unit["data_hash"] = rows[0].data_hash if rows else None
    if folder is not None:
        folder.touch()
        store.put(folder)


def _new_unit_item(store: Store, user: User, job: UploadJob, folder: Folder, unit: dict[str, Any]) -> Item:
    kind, urls, metadata = unit["kind"], unit["urls"], unit["client_metadata"]
    if kind == "scene":
        return _scene_item(store, user, job, folder, unit)
    child_type = ITEM_TYPES[kind].child_type
    if child_type is None:
        item = _file_item(store, user, job, folder, kind, urls[0], unit["placeholders"][0], unit["title"], metadata)
        return store.put(item)
    if unit.get("item_uuids"):  # a group of items already in storage
        children = [visible_item(store, uuid, user) for uuid in unit["item_uuids"]]
    else:
        titles = unit.get("frame_titles") or [None] * len(urls)
        children = [
            store.put(_file_item(store, user, job, folder, child_type, url, placeholder, title, {}))
            for url, placeholder, title in zip(urls, unit["placeholders"], titles, strict=True)
        ]
    at = now()
    first = children[0]
    title = unit["title"] or f"{ITEM_TYPES[kind].data_type}-{new_hash()[:8]}"  # a server-made title (§5.7.1)
    group = Item(uuid=new_hash(), parent=folder.uuid, item_type=kind, name=title, owner=user.email, created_at=at,
                 last_edited_at=at, client_metadata=metadata, child_uuids=[c.uuid for c in children],
                 width=first.width, height=first.height, frame_count=len(children),
                 dicom_series_uid=new_hash() if kind == "dicomSeries" else None,
                 storage_location=first.storage_location, integration_hash=first.integration_hash)  # fmt: skip
    return store.put(group)


URI_STREAMS = ("point_cloud", "image", "model")
"""Scene streams whose events each name a file (the SDK's SceneBuilder: `{"type", "events": [{"uri", "timestamp"}]}`)."""


def read_scene(store: Store, job: UploadJob, uploaded: dict[str, Any]) -> dict[str, Any]:
    """A scene as registered (the SDK builder's form: streams by name) in the form E-10 reads it back: a
    self-contained file, or `{"type": "composite", "streams": {name: {"type": "event", "id", "stream":
    {"entityType", "events": [{"url", "timestamp"}]}}}}` with time series as self-contained streams. Every file a
    stream names must be readable through the integration."""
    if isinstance(uploaded.get("url"), str):
        return {"type": "self_contained", "url": uploaded["url"], "format": uploaded.get("format")}
    streams: dict[str, Any] = {}
    for name, stream in uploaded.items():
        if not isinstance(stream, dict) or not isinstance(stream.get("type"), str):
            continue  # conventions and settings, not streams
        kind = stream["type"]
        if kind == "time_series":
            _cloud_file(store, job, str(stream.get("uri")))
            streams[name] = {"type": "self_contained", "id": name, "entityType": kind, "url": stream["uri"]}
            continue
        given = stream.get("events")
        events: list[Any] = given if isinstance(given, list) else []
        if kind in URI_STREAMS:
            for event in events:
                _cloud_file(store, job, str(event.get("uri") if isinstance(event, dict) else None))
            events = [{"url": e["uri"], "timestamp": e.get("timestamp")} for e in events]
        inner: dict[str, Any] = {"entityType": kind, "events": events}
        if stream.get("frame_of_reference") is not None:
            inner["frameOfReferenceId"] = stream["frame_of_reference"]
        if kind == "image" and stream.get("camera") is not None:
            inner["cameraId"] = stream["camera"]
        streams[name] = {"type": "event", "id": name, "stream": inner}
    if not streams:
        raise UnitFailed("a scene needs at least one stream")
    return {"type": "composite", "streams": streams}


def _scene_item(store: Store, user: User, job: UploadJob, folder: Folder, unit: dict[str, Any]) -> Item:
    """A scene: a self-contained file (uploaded, or in a bucket) or a composition of streams of cloud objects."""
    if unit["urls"]:
        file = _file_item(store, user, job, folder, "scene", unit["urls"][0], unit["placeholders"][0], unit["title"],
                          unit["client_metadata"])  # fmt: skip
    else:
        if job.integration_uuid is None:
            raise UnitFailed("a composite scene's streams are read through a cloud integration")
        at = now()
        file = Item(uuid=new_hash(), parent=folder.uuid, item_type="scene", name=unit["title"], owner=user.email,
                    created_at=at, last_edited_at=at, client_metadata=unit["client_metadata"],
                    mime_type="application/json", integration_hash=job.integration_uuid)  # fmt: skip
    scene = read_scene(store, job, unit["scene"])
    store.put(SceneDocument(item_uuid=file.uuid, scene=scene, created_at=now()))
    return store.put(file)


# ---- rules: legacy uploads, cloud-synced folders, re-encoding ---------------------------------


def issue_legacy_urls(store: Store, dataset: Dataset, kind: str, names: list[str]) -> list[dict[str, Any]]:
    """X-01, X-04, X-09: a data hash, an object and a signed URL per file name."""
    if not names or not all(isinstance(name, str) and name for name in names):
        raise invalid("uid must name the files (file names)")
    answers = []
    for name in names:
        data_hash = new_hash()
        key = f"{LEGACY_PREFIX}/{dataset.hash}/{data_hash}"
        url = _signed(store, key, with_headers=False)  # the seed-era answers carried no upload headers
        store.put(LegacyUpload(data_hash=data_hash, dataset_hash=dataset.hash, kind=kind, title=name, file_link=key,
                               signed_url=url, created_at=now()))  # fmt: skip
        answers.append({"signed_url": url, "data_hash": data_hash, "title": name, "file_link": key})
    return answers


def legacy_upload(store: Store, dataset: Dataset, data_hash: Any, kind: str) -> LegacyUpload:
    """A legacy upload of this dataset whose bytes arrived."""
    upload = store.get(LegacyUpload, data_hash) if isinstance(data_hash, str) else None
    if upload is None or upload.dataset_hash != dataset.hash or upload.kind != kind:
        raise not_found(f"uploaded {kind}", data_hash)
    if store.get(Blob, upload.file_link) is None:
        raise invalid(f"no file was uploaded for {data_hash}")
    return upload


LEGACY_DATA_TYPES = {"video": "VIDEO", "image": "IMAGE", "imageGroup": "IMG_GROUP", "dicomSeries": "DICOM"}


def register_legacy_unit(
    store: Store, user: User, dataset: Dataset, kind: str, title: str, uploads: list[LegacyUpload]
) -> DataRow:
    """A data unit of uploaded legacy files: in a mirror dataset through items of its folder, else on its own."""
    blobs = [store.get(Blob, upload.file_link) for upload in uploads]
    folder = backing_folder_of(store, dataset)
    if folder is not None:
        child_type = ITEM_TYPES[kind].child_type or kind
        items = []
        for upload, blob in zip(uploads, blobs, strict=True):
            at = now()
            assert blob is not None
            items.append(store.put(Item(uuid=upload.data_hash if kind in ("video", "image") else new_hash(),
                                        parent=folder.uuid, item_type=child_type, owner=user.email,
                                        name=upload.title if ITEM_TYPES[kind].child_type else title,
                                        created_at=at, last_edited_at=at, url=upload.file_link,
                                        mime_type=blob.mime_type, file_size=blob.size)))  # fmt: skip
        item = items[0]
        if ITEM_TYPES[kind].child_type is not None:
            at = now()
            item = store.put(Item(uuid=new_hash(), parent=folder.uuid, item_type=kind, name=title, owner=user.email,
                                  created_at=at, last_edited_at=at, child_uuids=[i.uuid for i in items],
                                  frame_count=len(items)))  # fmt: skip
        row = link_item(store, dataset, item)
        if ITEM_TYPES[kind].child_type is None:  # the unit keeps the data hash its signed URL came with
            store.delete(DataRow, row.data_hash)
            row.data_hash = uploads[0].data_hash
            store.put(row)
        return row
    at = now()
    images = []
    if ITEM_TYPES[kind].child_type is not None:
        images = [{"image_hash": u.data_hash, "title": u.title, "file_link": u.file_link, "data_sequence": index}
                  for index, u in enumerate(uploads)]  # fmt: skip
    size = sum(blob.size for blob in blobs if blob is not None)
    first = blobs[0]
    row = DataRow(
        data_hash=uploads[0].data_hash if not images else new_hash(),
        dataset_hash=dataset.hash,
        title=title,
        data_type=LEGACY_DATA_TYPES[kind],
        created_at=at,
        last_edited_at=at,
        file_link=uploads[0].file_link if not images else None,
        file_type=first.mime_type if first is not None else MIME_TYPES[LEGACY_DATA_TYPES[kind]],
        file_size=size,
        frames=len(images) or 1,
        images=images,
        storage_location=dataset.storage_location,
    )
    dataset.touch()
    store.put(dataset)
    return store.put(row)


def set_bucket(store: Store, integration_uuid: str, objects: list[str], failures: dict[str, str]) -> CloudBucket:
    """Control API: objects in the integration's bucket, and URLs whose reads fail with the given error."""
    bucket = store.get(CloudBucket, integration_uuid) or CloudBucket(
        integration_uuid=integration_uuid, objects=[], failures={}, created_at=now()
    )
    bucket.objects = list(dict.fromkeys([*bucket.objects, *objects]))
    bucket.failures.update(failures)
    return store.put(bucket)


def _cloud_folder(store: Store, user: User, folder_uuid: str) -> Folder:
    folder = writable_folder(store, folder_uuid, user)
    if folder.integration_hash is None or folder.remote_url is None:
        raise invalid(f"storage folder {folder.uuid} is not a cloud-synced folder")
    return folder


def sync_folder(store: Store, user: User, sync: FolderSync) -> None:
    """S-24: items for the bucket's objects under the folder's remote URL; those gone from the bucket tombstoned."""
    folder = _cloud_folder(store, user, sync.folder_uuid)
    assert folder.remote_url is not None and folder.integration_hash is not None
    bucket = store.get(CloudBucket, folder.integration_hash)
    objects = [url for url in (bucket.objects if bucket else []) if url.startswith(folder.remote_url)]
    existing = {item.url: item for item in store.children(Item, folder.uuid) if item.url is not None}
    job = UploadJob(uuid="", owner=user.email, folder_uuid=folder.uuid, dataset_hash=None,
                    integration_uuid=folder.integration_hash, ignore_errors=True, units=[], created_at=now())  # fmt: skip
    for url in objects:
        found = existing.get(url)
        if found is not None:
            if found.is_tombstone:
                found.is_tombstone = False
                store.put(found)
            continue
        kind = _kind_by_extension(url)
        try:
            store.put(_file_item(store, user, job, folder, kind, url, None, None, {}))
            sync.created += 1
        except UnitFailed:
            sync.failed += 1
    for url, item in existing.items():
        if url not in objects and not item.is_tombstone:
            item.is_tombstone = True
            store.put(item)
            sync.tombstoned += 1
    sync.status = "done"
    store.put(sync)


EXTENSION_KINDS = {".mp4": "video", ".webm": "video", ".mov": "video", ".dcm": "dicomFile", ".mp3": "audio",
                   ".wav": "audio", ".pdf": "pdf", ".txt": "plainText", ".json": "plainText", ".nii": "nifti"}  # fmt: skip


def _kind_by_extension(url: str) -> str:
    return EXTENSION_KINDS.get(posixpath.splitext(_name_of(url))[1].lower(), "image")


def start_reencode(store: Store, user: User, body: dict[str, Any]) -> ItemReencode:
    """S-27: videos the caller may change."""
    uuids = payloads.text_list(body, "storageItems")
    if not uuids:
        raise invalid("'storageItems' must name at least one video")
    for uuid in uuids:
        item = visible_item(store, uuid, user)
        writable_folder(store, item.parent, user)
        if item.item_type != "video":
            raise invalid(f"storage item {uuid} is not a video")
    return store.put(
        ItemReencode(
            uuid=new_hash(),
            owner=user.email,
            item_uuids=uuids,
            process_title=payloads.text(body, "processTitle", non_empty=True),
            force_full_reencoding=payloads.flag(body, "forceFullReencoding", default=False),
            created_at=now(),
        )
    )


def reencode_status(store: Store, user: User, job_uuid_: str) -> dict[str, Any]:
    job = store.get(ItemReencode, job_uuid_)
    if job is None or job.owner != user.email:
        raise not_found("re-encoding job", job_uuid_)
    job.looks += 1
    store.put(job)
    if job.looks < REENCODE_LOOKS:
        return {"status": "submitted", "result": None}
    result = []
    for uuid in job.item_uuids:
        item = store.get(Item, uuid)
        if item is not None:
            result.append({"itemUuid": uuid, "processTitle": job.process_title, "url": item.url})
    return {"status": "done", "result": result}


# ---- wire shapes -------------------------------------------------------------------------------


def _counts(job: UploadJob) -> dict[str, int]:
    return {
        state: sum(1 for unit in job.units if unit["state"] == state) for state in (PENDING, DONE, ERROR, CANCELLED)
    }


def _errors(job: UploadJob) -> list[dict[str, Any]]:
    return [unit for unit in job.units if unit["state"] == ERROR]


def job_v1(job: UploadJob) -> dict[str, Any]:
    """§7.8 DatasetDataLongPolling (D-21): every key required."""
    counts = _counts(job)
    return {
        "status": job.status,
        "data_hashes_with_titles": [
            {"data_hash": unit["data_hash"], "title": unit["name"], "backing_item_uuid": unit["item_uuid"]}
            for unit in job.units
            if unit["state"] == DONE and unit["data_hash"] is not None
        ],
        "errors": [unit["error"] for unit in _errors(job)],
        "data_unit_errors": [
            {
                "object_urls": unit["urls"],
                "error": unit["error"],
                "subtask_uuid": unit["subtask_uuid"],
                "action_description": ACTIONS.get(unit["kind"], f"Uploading {unit['kind']}"),
            }
            for unit in _errors(job)
        ],
        "units_pending_count": counts[PENDING],
        "units_done_count": counts[DONE],
        "units_error_count": counts[ERROR],
        "units_cancelled_count": counts[CANCELLED],
    }


def job_v2(job: UploadJob) -> dict[str, Any]:
    """S-22 UploadLongPollingState."""
    counts = _counts(job)
    return {
        "status": job.status,
        "itemsWithNames": [
            {"itemUuid": unit["item_uuid"], "name": unit["name"]} for unit in job.units if unit["state"] == DONE
        ],
        "errors": [unit["error"] for unit in _errors(job)],
        "unitsPendingCount": counts[PENDING],
        "unitsDoneCount": counts[DONE],
        "unitsErrorCount": counts[ERROR],
        "unitsCancelledCount": counts[CANCELLED],
        "unitErrors": [
            {
                "objectUrls": unit["urls"],
                "error": unit["error"],
                "subtaskUuid": unit["subtask_uuid"],
                "actionDescription": ACTIONS.get(unit["kind"], f"Uploading {unit['kind']}"),
            }
            for unit in _errors(job)
        ],
        "fileName": job.file_name,
    }


def sync_v2(sync: FolderSync) -> dict[str, Any]:
    """S-24 SyncPrivateDataWithCloudSyncedFolderGetResultResponse."""
    done = sync.status == "done"
    return {
        "status": sync.status,
        "scanPagesProcessingPending": 0 if done else 1,
        "scanPagesProcessingDone": 1 if done else 0,
        "scanPagesProcessingError": 0,
        "scanPagesProcessingCancelled": 0,
        "uploadJobsPending": 0,
        "uploadJobsDone": 1 if done and sync.created else 0,
        "uploadJobsError": 0,
        "uploadJobsUnitsPending": 0,
        "uploadJobsUnitsDone": sync.created,
        "uploadJobsUnitsError": sync.failed,
        "uploadJobsUnitsCancelled": 0,
    }


def scene_v2(store: Store, document: SceneDocument) -> dict[str, Any]:
    """E-10: the scene as registered, each file it names with a signed URL (a cloud object's own URL stands in)."""

    def signed(url: Any) -> Any:
        return blob_link(store, url) or url if isinstance(url, str) else url

    scene = json.loads(json.dumps(document.scene))
    if scene.get("type") == "self_contained":
        scene["signedUrl"] = signed(scene.get("url"))
    for stream in (scene.get("streams") or {}).values():
        inner = stream.get("stream") if isinstance(stream, dict) else None
        if isinstance(stream, dict) and stream.get("type") == "self_contained":
            stream["signedUrl"] = signed(stream.get("url"))
        for event in (inner or {}).get("events") or []:
            if isinstance(event, dict) and "url" in event:
                event["signedUrl"] = signed(event["url"])
    return scene


# ---- v1 handlers -------------------------------------------------------------------------------


def _first_present(fields: dict[str, Any], *keys: str) -> Any:
    return next((fields[key] for key in keys if fields.get(key) is not None), None)


def _dataset_job_folder(store: Store, user: User, dataset: Dataset, folder_uuid: str | None) -> Folder:
    """Where a dataset's upload goes: its backing folder (a mirror dataset), or the folder the caller names."""
    backing = backing_folder_of(store, dataset)
    if folder_uuid is not None:
        if backing is not None and folder_uuid != backing.uuid:
            raise invalid("a mirror dataset takes uploads into its own folder: give no folder")
        return writable_folder(store, folder_uuid, user)
    if backing is None:
        raise invalid("this dataset has no folder of its own: name the storage folder the files go into")
    return backing


def v1_start_dataset_job(call: V1Call) -> dict[str, Any]:
    """D-20 and the current upload flow's registration (§5.7.1): camelCase (old SDKs: snake_case)."""
    dataset = call.resource_as(Dataset)
    f = call.fields
    folder = _dataset_job_folder(call.store, call.user, dataset, payloads.optional_text(f, "folderUuid"))
    job = start_job(
        call.store,
        call.user,
        folder,
        dataset,
        data_items=f.get("dataItems"),
        spec=_first_present(f, "files"),
        integration_uuid=_first_present(f, "integrationId", "integration_id"),
        ignore_errors=bool(_first_present(f, "ignoreErrors", "ignore_errors")),
        file_name=payloads.optional_text(f, "fileName"),
    )
    return {"process_hash": job.uuid}


def v1_poll_dataset_job(call: V1Call) -> Any:
    """D-21, a long poll: held up to `timeout_seconds` while the job is pending, each glance a look."""
    dataset = call.resource_as(Dataset)
    f = call.fields
    job_id = payloads.text(f, "process_hash", non_empty=True)
    wait = payloads.integer(f, "timeout_seconds", choices=range(0, 7 * 24 * 3600 + 1), default=0)
    job = own_job(call.store, call.user, job_id, dataset=dataset)
    finished = look(call.store, call.user, job)
    return job_v1(job) if finished or wait == 0 else Held(job_v1(job), wait)


def v1_add_private_data_legacy(call: V1Call) -> dict[str, Any]:
    """D-23 (seed): the synchronous registration of cloud files, all at once."""
    dataset = call.resource_as(Dataset)
    if call.uid != dataset.hash:
        raise invalid("uid must be the dataset's hash")
    f = call.fields
    folder = _dataset_job_folder(call.store, call.user, dataset, None)
    job = start_job(call.store, call.user, folder, dataset, data_items=None, spec=f.get("files"),
                    integration_uuid=payloads.text(f, "integration_id", non_empty=True),
                    ignore_errors=f.get("ignore_errors") in (True, "true", "True"), file_name=None)  # fmt: skip
    while not look(call.store, call.user, job):
        pass
    if job.status == ERROR:
        raise ApiError("UNKNOWN_ERROR", "; ".join(unit["error"] for unit in _errors(job)))
    return {"dataset_data_info": job_v1(job)["data_hashes_with_titles"]}


def v1_signed_video_url(call: V1Call) -> dict[str, Any]:
    """X-01: uid is the file name."""
    if not isinstance(call.uid, str):
        raise invalid("uid must be the video's file name")
    return issue_legacy_urls(call.store, call.resource_as(Dataset), "video", [call.uid])[0]


def v1_register_video(call: V1Call) -> dict[str, Any]:
    """X-03: uid is the data hash X-01 gave; the payload its object (the old SDK adds `video_title`)."""
    dataset = call.resource_as(Dataset)
    upload = legacy_upload(call.store, dataset, call.uid, "video")
    title = _first_present(call.fields, "video_title", "title") or upload.title
    row = register_legacy_unit(call.store, call.user, dataset, "video", title, [upload])
    return {"data_hash": row.data_hash, "title": row.title, "file_link": row.file_link}


def v1_signed_images_url(call: V1Call) -> list[dict[str, Any]]:
    """X-04: uid is a file name (seed, one image) or a list of them."""
    names = [call.uid] if isinstance(call.uid, str) else call.uid
    if not isinstance(names, list):
        raise invalid("uid must be a file name or a list of file names")
    return issue_legacy_urls(call.store, call.resource_as(Dataset), "image", names)


def _legacy_image(call: V1Call, entry: Any) -> LegacyUpload:
    image = payloads.as_object(entry, "payload")
    return legacy_upload(call.store, call.resource_as(Dataset), image.get("data_hash"), "image")


def v1_register_single_image(call: V1Call) -> dict[str, Any]:
    """X-06: the X-04 object (its title may be changed); seed uid the data hash, old SDK uid null."""
    dataset = call.resource_as(Dataset)
    upload = _legacy_image(call, call.payload)
    if call.uid is not None and call.uid != upload.data_hash:
        raise invalid("uid must be the image's data hash, or null")
    title = payloads.optional_text(call.fields, "title") or upload.title
    register_legacy_unit(call.store, call.user, dataset, "image", title, [upload])
    return {"success": True}


def _mark_registered(call: V1Call, uploads: Iterable[LegacyUpload]) -> list[dict[str, Any]]:
    answers = []
    for upload in uploads:
        upload.registered = True
        call.store.put(upload)
        answers.append({"data_hash": upload.data_hash, "title": upload.title, "file_link": upload.file_link})
    return answers


def v1_register_image(call: V1Call) -> dict[str, Any]:
    """X-07 (seed): one uploaded image registered for an image group."""
    upload = _legacy_image(call, call.payload)
    if call.uid != upload.data_hash:
        raise invalid("uid must be the image's data hash")
    return _mark_registered(call, [upload])[0]


def v1_register_images(call: V1Call) -> list[dict[str, Any]]:
    """X-07 (old SDK): the uploaded images, registered at once (uid null, payload the X-04 objects)."""
    if not isinstance(call.payload, list) or not call.payload:
        raise invalid("the payload must be the list of uploaded images")
    return _mark_registered(call, [_legacy_image(call, entry) for entry in call.payload])


def v1_create_image_group(call: V1Call) -> list[dict[str, Any]]:
    """X-08: uid the data hashes of registered images; payload `{image_group_title, create_video}` (seed `{}`)."""
    dataset = call.resource_as(Dataset)
    if not isinstance(call.uid, list) or not call.uid:
        raise invalid("uid must list the images' data hashes")
    uploads = [legacy_upload(call.store, dataset, data_hash, "image") for data_hash in call.uid]
    if unregistered := [u.data_hash for u in uploads if not u.registered]:
        raise invalid(f"images not registered yet: {', '.join(unregistered)}")
    title = payloads.optional_text(call.fields, "image_group_title") or f"image-group-{new_hash()[:8]}"
    row = register_legacy_unit(call.store, call.user, dataset, "imageGroup", title, uploads)
    return [{"data_hash": row.data_hash, "title": row.title, "data_type": row.data_type}]


def v1_signed_dicom_urls(call: V1Call) -> list[dict[str, Any]]:
    """X-09: uid lists the file names."""
    if not isinstance(call.uid, list):
        raise invalid("uid must be a list of file names")
    return issue_legacy_urls(call.store, call.resource_as(Dataset), "dicomFile", call.uid)


def v1_create_dicom_series(call: V1Call) -> dict[str, Any]:
    """X-11: uid `[{id, uri, title}]` of uploaded DICOM files; payload `{title}`."""
    dataset = call.resource_as(Dataset)
    if not isinstance(call.uid, list) or not call.uid:
        raise invalid("uid must list the uploaded DICOM files")
    uploads = []
    for index, raw in enumerate(call.uid):
        entry = payloads.as_object(raw, f"uid[{index}]")
        upload = legacy_upload(call.store, dataset, entry.get("id"), "dicomFile")
        if entry.get("uri") != upload.file_link:
            raise invalid(f"uid[{index}].uri is not where {upload.data_hash} was uploaded")
        uploads.append(upload)
    title = payloads.optional_text(call.fields, "title") or f"dicom-series-{new_hash()[:8]}"
    row = register_legacy_unit(call.store, call.user, dataset, "dicomSeries", title, uploads)
    return {"data_hash": row.data_hash, "title": row.title}


# ---- v2 handlers -------------------------------------------------------------------------------


def _count(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise invalid("count must be a whole number")
    return int(raw)


def v2_presigned_urls(call: V2Call) -> dict[str, Any]:
    """The current flow's signed URLs (§5.7.1 step 1, J-04, E-10): not tied to a folder."""
    item_type = call.query.get("uploadItemType", "")
    urls = issue_upload_urls(call.store, call.user, item_type, _count(call.query.get("count")), None)
    return {"results": urls, "nextPageToken": None}


def v2_folder_upload_urls(call: V2Call) -> dict[str, Any]:
    """S-20."""
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    body = call.json_object()
    payloads.optional_text(body, "framesSubfolderName")
    urls = issue_upload_urls(call.store, call.user, payloads.text(body, "itemType"), _count(body.get("count")), folder)
    return {"results": urls, "nextPageToken": None}


def v2_start_folder_job(call: V2Call) -> str:
    """S-21: structured items or a cloud JSON specification (with its integration)."""
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    body = call.json_object()
    job = start_job(
        call.store,
        call.user,
        folder,
        None,
        data_items=body.get("dataItems"),
        spec=body.get("externalFiles"),
        integration_uuid=payloads.optional_text(body, "integrationHash"),
        ignore_errors=payloads.flag(body, "ignoreErrors", default=False),
        file_name=payloads.optional_text(body, "fileName"),
    )
    return job.uuid


def v2_poll_folder_job(call: V2Call) -> Any:
    """S-22, a long poll (the SDK sends its whole budget)."""
    folder = visible_folder(call.store, call.params["folder_uuid"], call.user)
    job = own_job(call.store, call.user, call.params["job_uuid"], folder=folder)
    return long_poll(call, lambda: (look(call.store, call.user, job), job_v2(job)))


def v2_cancel_folder_job(call: V2Call) -> dict[str, Any]:
    """S-23."""
    folder = writable_folder(call.store, call.params["folder_uuid"], call.user)
    job = own_job(call.store, call.user, call.params["job_uuid"], folder=folder)
    return {"unitsCancelledCount": cancel(call.store, job)}


def v2_start_folder_sync(call: V2Call) -> str:
    """S-24 start: no body."""
    folder = _cloud_folder(call.store, call.user, call.params["folder_uuid"])
    sync = FolderSync(uuid=new_hash(), folder_uuid=folder.uuid, owner=call.user.email, created_at=now())
    return call.store.put(sync).uuid


def v2_poll_folder_sync(call: V2Call) -> Any:
    """S-24 poll, held while pending; the first look synchronises."""
    folder = visible_folder(call.store, call.params["folder_uuid"], call.user)
    sync = call.store.get(FolderSync, call.params["sync_uuid"])
    if sync is None or sync.folder_uuid != folder.uuid or sync.owner != call.user.email:
        raise not_found("folder synchronisation", call.params["sync_uuid"])

    def look_once() -> tuple[bool, Any]:
        if sync.status == "pending":
            sync_folder(call.store, call.user, sync)
        return sync.status != "pending", sync_v2(sync)

    return long_poll(call, look_once)


def v2_start_reencode(call: V2Call) -> str:
    """S-27 start."""
    return start_reencode(call.store, call.user, call.json_object()).uuid


def v2_reencode_status(call: V2Call) -> dict[str, Any]:
    """S-27 status: one check, no wait."""
    return reencode_status(call.store, call.user, call.params["job_uuid"])


def v2_get_scene(call: V2Call) -> dict[str, Any]:
    """E-10."""
    item = visible_item(call.store, call.params["item_uuid"], call.user)
    document = call.store.get(SceneDocument, item.uuid)
    if item.item_type != "scene" or document is None:
        raise invalid(f"storage item {item.uuid} is not a scene")
    return scene_v2(call.store, document)


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("dataset", "datasetdatalongpolling", "POST"): V1Operation(
        v1_start_dataset_job, key=needs("dataset.write")
    ),  # D-20
    ("dataset", "datasetdatalongpolling", "GET"): V1Operation(v1_poll_dataset_job, key=needs("dataset.read")),  # D-21
    ("dataset", "datasetdata", "POST"): V1Operation(v1_add_private_data_legacy, key=needs("dataset.write")),  # D-23
    ("dataset", "signedvideourl", "GET"): V1Operation(v1_signed_video_url, key=needs("dataset.write")),
    ("dataset", "video", "PUT"): V1Operation(v1_register_video, key=needs("dataset.write")),
    ("dataset", "signedimagesurl", "GET"): V1Operation(v1_signed_images_url, key=needs("dataset.write")),
    ("dataset", "singleimage", "POST"): V1Operation(v1_register_single_image, key=needs("dataset.write")),
    ("dataset", "image", "PUT"): V1Operation(v1_register_image, key=needs("dataset.write")),
    ("dataset", "images", "PUT"): V1Operation(v1_register_images, key=needs("dataset.write")),
    ("dataset", "imagegroup", "POST"): V1Operation(v1_create_image_group, key=needs("dataset.write")),
    ("dataset", "signeddicomsurl", "GET"): V1Operation(v1_signed_dicom_urls, key=needs("dataset.write")),
    ("dataset", "dicomseries", "POST"): V1Operation(v1_create_dicom_series, key=needs("dataset.write")),
}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "presigned-urls", v2_presigned_urls),  # §5.7.1, J-04, E-10
    V2Route("POST", "storage/folders/{folder_uuid}/upload-signed-urls", v2_folder_upload_urls),  # S-20
    V2Route("POST", "storage/folders/{folder_uuid}/data-upload-jobs", v2_start_folder_job),  # S-21
    V2Route("GET", "storage/folders/{folder_uuid}/data-upload-jobs/{job_uuid}", v2_poll_folder_job),  # S-22
    V2Route("POST", "storage/folders/{folder_uuid}/data-upload-jobs/{job_uuid}/cancel", v2_cancel_folder_job),  # S-23
    V2Route("POST", "storage/folders/{folder_uuid}/cloud-synced-folder-syncs", v2_start_folder_sync),  # S-24
    V2Route(
        "GET", "storage/folders/{folder_uuid}/cloud-linked-folder-syncs/{sync_uuid}/long-polling", v2_poll_folder_sync
    ),
    V2Route("POST", "storage/items/reencode", v2_start_reencode),  # S-27
    V2Route("GET", "storage/items/reencode/{job_uuid}", v2_reencode_status),  # S-27
    V2Route("GET", "scene/{item_uuid}", v2_get_scene),  # E-10
)
