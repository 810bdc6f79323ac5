"""Wire-equality cases of storage (S-01..S-28 but uploads and groups), data units (D-02..D-16) and P-16.

Resources are made in the setup through the SDK; items and data units are seeded through the sandbox's control
API (reached through the recorder, unrecorded like the rest of the setup). Where the SDK's call would change what
the gateway's identical call then finds (deleting, moving items away), the setup registers a one-shot sandbox fault
that answers the SDK's request as Encord would without carrying it out: both requests are still recorded and
compared, and the gateway's is the one that takes effect.
"""

from __future__ import annotations

import json
import urllib.request
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from encord.constants.enums import DataType
from encord.http.bundle import Bundle
from encord.orm.dataset import DataLinkDuplicatesBehavior, ImagesDataFetchOptions
from encord.orm.project import OrganisationTag
from encord.orm.storage import (
    DataGroupCustom,
    DataGroupGrid,
    FoldersSortBy,
    MoveFoldersPayload,
    SidecarMatcherSuffix,
    StorageItemType,
)
from encord.storage import StorageFolder, StorageItem
from encord.utilities.storage.cloud_data_migration import update_storage_item_cloud_info
from encord_gateway._generated.encord.gateway.v1 import datasets_pb2, projects_pb2, storage_pb2
from google.protobuf import struct_pb2, timestamp_pb2
from wire_harness import Given, WireCase, WireSides
from wire_legacy import legacy_v1_call

# Text the signatures must cover exactly: non-ASCII (\uXXXX in bodies, UTF-8 escapes in queries) and reserved characters.
AWKWARD_TEXT = "Straße — 東京 50% a b&c+d/e?f=g"
LONG_AGO = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
TAGS = [OrganisationTag(uuid="00000000-0000-0000-0000-0000000000aa", name="site A"), OrganisationTag(uuid="00000000-0000-0000-0000-0000000000bb", name=AWKWARD_TEXT)]  # fmt: skip


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def value(raw: Any) -> struct_pb2.Value:
    message = struct_pb2.Value()
    if raw is None:
        message.null_value = struct_pb2.NULL_VALUE
    elif isinstance(raw, str):
        message.string_value = raw
    elif isinstance(raw, list):
        message.list_value.extend(raw)
    else:
        message.struct_value.update(raw)
    return message


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


# ---- setup helpers ----------------------------------------------------------------------------


def control(sides: WireSides, method: str, path: str, body: Any = None) -> Any:
    """The sandbox's control API, through the recorder (which forwards everything)."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(sides.recorder.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def answer_the_sdk_only(sides: WireSides, match: dict[str, str], status: int, body: str | None = None) -> None:
    """The next request matching `match` (the SDK's) is answered as given, without reaching a handler."""
    fault: dict[str, Any] = {"match": match, "times": 1, "status": status}
    if body is not None:
        fault["body"] = body
    control(sides, "POST", "/sandbox/v1/faults", fault)


V1_DONE = '{"status": 200, "response": true}'


def then_answer_the_sdk(
    setup: Callable[[WireSides], Given],
    match: Callable[[Given], dict[str, str]],
    status: int = 204,
    body: str | None = None,
) -> Callable[[WireSides], Given]:
    """`setup`, then a one-shot fault answering the SDK's request (matched from what the setup made)."""

    def prepare(sides: WireSides) -> Given:
        given = setup(sides)
        answer_the_sdk_only(sides, match(given), status, body)
        return given

    return prepare


def new_folder(sides: WireSides, parent: StorageFolder | None = None, **options: Any) -> StorageFolder:
    return sides.sdk.create_storage_folder(sides.unique("folder"), parent_folder=parent, **options)


def seed_items(sides: WireSides, folder: StorageFolder, specs: list[dict[str, Any]]) -> list[StorageItem]:
    seeded = control(sides, "POST", f"/sandbox/v1/storage/folders/{folder.uuid}/items", {"items": specs})
    return [sides.sdk.get_storage_item(item["uuid"]) for item in seeded["items"]]


THREE_TYPES = [StorageItemType.VIDEO, StorageItemType.PLAIN_TEXT, StorageItemType.IMAGE_GROUP]
ITEMS = [
    {"name": "clip.mp4", "item_type": "video", "client_metadata": {"camera": "front"}},
    {"name": "street", "item_type": "imageGroup", "children": ["a.jpg", "b.jpg"]},
    {"name": "notes.txt", "item_type": "plainText", "content_base64": "aGVsbG8="},
]


def with_folder(sides: WireSides) -> Given:
    return {"folder": new_folder(sides, description="scans")}


def with_two_folders(sides: WireSides) -> Given:
    """Two top-level folders whose names share a prefix, for a listing of two pages."""
    prefix = sides.unique("paged")
    return {"prefix": prefix, "folders": [sides.sdk.create_storage_folder(f"{prefix} {i}") for i in range(2)]}


def with_subfolder(sides: WireSides) -> Given:
    folder = new_folder(sides)
    return {"folder": folder, "child": new_folder(sides, parent=folder)}


def with_items(sides: WireSides) -> Given:
    folder = new_folder(sides)
    video, group, text = seed_items(sides, folder, ITEMS)
    return {"folder": folder, "video": video, "group": group, "text": text}


def with_rows(sides: WireSides) -> Given:
    """A mirror dataset with a video, an image group and an image (items in its backing folder), in a project."""
    dataset_hash = sides.new_dataset(sides.unique("dataset"))
    units = [
        {"title": "clip.mp4", "data_type": "VIDEO", "client_metadata": {"camera": "rear"}},
        {"title": "street", "data_type": "IMG_GROUP", "images": ["a.jpg", "b.jpg"]},
        {"title": "one.jpg", "data_type": "IMAGE"},
    ]
    control(sides, "POST", f"/sandbox/v1/datasets/{dataset_hash}/data-units", {"data_units": units})
    dataset = sides.sdk.get_dataset(dataset_hash)
    video, group, image = dataset.data_rows
    return {"dataset": dataset, "hash": dataset_hash, "video": video, "group": group, "image": image}


def with_items_and_dataset(sides: WireSides) -> Given:
    dataset_hash = sides.new_dataset(sides.unique("dataset"))
    return {**with_items(sides), "dataset": sides.sdk.get_dataset(dataset_hash), "hash": dataset_hash}


def with_project_rows(sides: WireSides) -> Given:
    given = with_rows(sides)
    project_hash = sides.sdk.create_project(sides.unique("project"), [given["hash"]])
    return {**given, "project": sides.sdk.get_project(project_hash)}


def with_reencode_job(sides: WireSides) -> Given:
    given = with_rows(sides)
    return {**given, "job": given["dataset"].re_encode_data([given["video"].uid])}


def deprecated(action: Any) -> Any:
    """Run an SDK call the SDK marks deprecated (it warns; the call itself is the reference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return action()


def bundled(action: Any) -> None:
    with Bundle() as bundle:
        action(bundle)


# ---- folders ----------------------------------------------------------------------------------


def _folder_listing_request(kind: type, given: Given) -> Any:
    return kind(
        search=AWKWARD_TEXT,
        dataset_synced=True,
        include_org_access=False,
        organisation_tag_names_allof=[t.name for t in TAGS],
        order=storage_pb2.FOLDER_ORDER_CREATED_AT,
        desc=True,
        page_size=50,
    )


FOLDER_CASES = [
    WireCase(
        name="CreateStorageFolder with a description and client metadata",
        rpc="StorageService.CreateStorageFolder",
        proves=("S-01",),
        setup=lambda sides: {"name": sides.unique("folder")},
        sdk=lambda sides, given: sides.sdk.create_storage_folder(
            given["name"], "scans", client_metadata={"shelf": 3, "site": "A"}
        ),
        request=lambda given: storage_pb2.CreateStorageFolderRequest(
            name=given["name"], description="scans", client_metadata=struct({"shelf": 3, "site": "A"})
        ),
    ),
    WireCase(
        name="CreateStorageFolder as StorageFolder.create_subfolder",
        rpc="StorageService.CreateStorageFolder",
        proves=("S-01",),
        setup=lambda sides: {"folder": new_folder(sides)},
        sdk=lambda sides, given: given["folder"].create_subfolder(AWKWARD_TEXT),
        request=lambda given: storage_pb2.CreateStorageFolderRequest(
            name=AWKWARD_TEXT, parent=str(given["folder"].uuid)
        ),
    ),
    WireCase(
        name="GetStorageFolder as get_storage_folder",
        rpc="StorageService.GetStorageFolder",
        proves=("S-02",),
        setup=with_folder,
        sdk=lambda sides, given: sides.sdk.get_storage_folder(given["folder"].uuid),
        request=lambda given: storage_pb2.GetStorageFolderRequest(folder_uuid=str(given["folder"].uuid)),
    ),
    WireCase(
        name="ListStorageFolders with the SDK's defaults",
        rpc="StorageService.ListStorageFolders",
        proves=("S-03",),
        setup=with_folder,
        sdk=lambda sides, given: list(sides.sdk.list_storage_folders(search=given["folder"].name)),
        request=lambda given: storage_pb2.ListStorageFoldersRequest(search=given["folder"].name),
    ),
    WireCase(
        name="ListStorageFolders by awkward search, sync, tags, creation time, descending, 50 a page",
        rpc="StorageService.ListStorageFolders",
        proves=("S-03",),
        sdk=lambda sides, given: list(
            sides.sdk.list_storage_folders(
                search=AWKWARD_TEXT,
                dataset_synced=True,
                org_access=False,
                organisation_tags_allof=TAGS,
                order=FoldersSortBy.CREATED_AT,
                desc=True,
                page_size=50,
            )
        ),
        request=lambda given: _folder_listing_request(storage_pb2.ListStorageFoldersRequest, given),
    ),
    WireCase(
        name="StreamStorageFolders over two pages of one folder each",
        rpc="StorageService.StreamStorageFolders",
        proves=("S-03",),
        setup=with_two_folders,
        sdk=lambda sides, given: list(sides.sdk.list_storage_folders(search=given["prefix"], page_size=1)),
        request=lambda given: storage_pb2.ListStorageFoldersRequest(search=given["prefix"], page_size=1),
    ),
    WireCase(
        name="SearchStorageFolders as find_storage_folders",
        rpc="StorageService.SearchStorageFolders",
        proves=("S-04",),
        setup=with_subfolder,
        sdk=lambda sides, given: list(sides.sdk.find_storage_folders(search=given["child"].name)),
        request=lambda given: storage_pb2.SearchStorageFoldersRequest(search=given["child"].name),
    ),
    WireCase(
        name="SearchStorageFolders with every filter",
        rpc="StorageService.SearchStorageFolders",
        proves=("S-04",),
        sdk=lambda sides, given: list(
            sides.sdk.find_storage_folders(
                search=AWKWARD_TEXT,
                dataset_synced=True,
                org_access=False,
                organisation_tags_allof=TAGS,
                order=FoldersSortBy.CREATED_AT,
                desc=True,
                page_size=50,
            )
        ),
        request=lambda given: _folder_listing_request(storage_pb2.SearchStorageFoldersRequest, given),
    ),
    WireCase(
        name="StreamSearchStorageFolders as find_storage_folders",
        rpc="StorageService.StreamSearchStorageFolders",
        proves=("S-04",),
        setup=with_subfolder,
        sdk=lambda sides, given: list(sides.sdk.find_storage_folders(search=given["child"].name)),
        request=lambda given: storage_pb2.SearchStorageFoldersRequest(search=given["child"].name),
    ),
    WireCase(
        name="ListStorageSubfolders as StorageFolder.list_subfolders",
        rpc="StorageService.ListStorageSubfolders",
        proves=("S-05",),
        setup=with_subfolder,
        sdk=lambda sides, given: list(given["folder"].list_subfolders()),
        request=lambda given: storage_pb2.ListStorageSubfoldersRequest(folder_uuid=str(given["folder"].uuid)),
    ),
    WireCase(
        name="ListStorageSubfolders as StorageFolder.find_subfolders with filters",
        rpc="StorageService.ListStorageSubfolders",
        proves=("S-05",),
        setup=with_subfolder,
        sdk=lambda sides, given: list(
            given["folder"].find_subfolders(
                search=AWKWARD_TEXT, dataset_synced=False, organisation_tags_allof=TAGS[:1], desc=True, page_size=7
            )
        ),
        request=lambda given: storage_pb2.ListStorageSubfoldersRequest(
            folder_uuid=str(given["folder"].uuid),
            search=AWKWARD_TEXT,
            is_recursive=True,
            dataset_synced=False,
            organisation_tag_names_allof=[TAGS[0].name],
            desc=True,
            page_size=7,
        ),
    ),
    WireCase(
        name="StreamStorageSubfolders as StorageFolder.find_subfolders",
        rpc="StorageService.StreamStorageSubfolders",
        proves=("S-05",),
        setup=with_subfolder,
        sdk=lambda sides, given: list(given["folder"].find_subfolders()),
        request=lambda given: storage_pb2.ListStorageSubfoldersRequest(
            folder_uuid=str(given["folder"].uuid), is_recursive=True
        ),
    ),
    WireCase(
        name="UpdateStorageFolder as StorageFolder.update",
        rpc="StorageService.UpdateStorageFolder",
        proves=("S-08",),
        setup=with_folder,
        sdk=lambda sides, given: given["folder"].update(
            name=AWKWARD_TEXT, description="moved", client_metadata={"site": "B", "shelf": None}
        ),
        request=lambda given: storage_pb2.UpdateStorageFolderRequest(
            folder_uuid=str(given["folder"].uuid),
            name=AWKWARD_TEXT,
            description="moved",
            client_metadata=struct({"site": "B", "shelf": None}),
        ),
        free_form=True,
    ),
    WireCase(
        name="UpdateStorageFolders as a bundle of StorageFolder.update",
        rpc="StorageService.UpdateStorageFolders",
        proves=("S-08",),
        setup=with_folder,
        sdk=lambda sides, given: bundled(lambda b: given["folder"].update(name="renamed", bundle=b)),
        request=lambda given: storage_pb2.UpdateStorageFoldersRequest(
            folder_patches={str(given["folder"].uuid): storage_pb2.StorageFolderPatch(name="renamed")}
        ),
    ),
    WireCase(
        name="DeleteStorageFolder as StorageFolder.delete",
        rpc="StorageService.DeleteStorageFolder",
        proves=("S-09",),
        setup=then_answer_the_sdk(
            with_folder,
            lambda given: {"method": "DELETE", "path_prefix": f"/v2/public/storage/folders/{given['folder'].uuid}"},
        ),
        sdk=lambda sides, given: given["folder"].delete(),
        request=lambda given: storage_pb2.DeleteStorageFolderRequest(folder_uuid=str(given["folder"].uuid)),
    ),
    WireCase(
        # The SDK's move_to_folder also refetches the folder (S-02), a call of its own.
        name="MoveStorageFolders as StorageFolder.move_to_folder's move",
        rpc="StorageService.MoveStorageFolders",
        proves=("S-10",),
        setup=lambda sides: {"folder": new_folder(sides), "target": new_folder(sides)},
        sdk=lambda sides, given: sides.sdk._api_client.post(
            "storage/folders/move",
            params=None,
            payload=MoveFoldersPayload(folder_uuids=[given["folder"].uuid], new_parent_uuid=given["target"].uuid),
            result_type=None,
        ),
        request=lambda given: storage_pb2.MoveStorageFoldersRequest(
            folder_uuids=[str(given["folder"].uuid)], new_parent_uuid=str(given["target"].uuid)
        ),
    ),
    WireCase(
        name="GetStorageFolderSummary as StorageFolder.get_summary",
        rpc="StorageService.GetStorageFolderSummary",
        proves=("S-13",),
        setup=with_items,
        sdk=lambda sides, given: given["folder"].get_summary(),
        request=lambda given: storage_pb2.GetStorageFolderSummaryRequest(folder_uuid=str(given["folder"].uuid)),
    ),
    WireCase(
        name="GetStorageFolderConfig as StorageFolder.get_folder_config",
        rpc="StorageService.GetStorageFolderConfig",
        proves=("S-25",),
        setup=with_folder,
        sdk=lambda sides, given: given["folder"].get_folder_config(),
        request=lambda given: storage_pb2.GetStorageFolderConfigRequest(folder_uuid=str(given["folder"].uuid)),
    ),
    WireCase(
        name="EnableStorageFolderMetadataIngestion with the SDK's defaults",
        rpc="StorageService.EnableStorageFolderMetadataIngestion",
        proves=("S-25",),
        setup=with_folder,
        sdk=lambda sides, given: given["folder"].enable_metadata_ingestion(),
        request=lambda given: storage_pb2.EnableStorageFolderMetadataIngestionRequest(
            folder_uuid=str(given["folder"].uuid)
        ),
    ),
    WireCase(
        name="EnableStorageFolderMetadataIngestion paused, with a suffix of its own",
        rpc="StorageService.EnableStorageFolderMetadataIngestion",
        proves=("S-25",),
        setup=with_folder,
        sdk=lambda sides, given: given["folder"].enable_metadata_ingestion(
            SidecarMatcherSuffix(suffix=".sidecar.json"), paused=True
        ),
        request=lambda given: storage_pb2.EnableStorageFolderMetadataIngestionRequest(
            folder_uuid=str(given["folder"].uuid), suffix=".sidecar.json", paused=True
        ),
    ),
]


# ---- items ------------------------------------------------------------------------------------


ITEM_CASES = [
    WireCase(
        name="ListStorageItems as StorageFolder.list_items with its defaults",
        rpc="StorageService.ListStorageItems",
        proves=("S-06",),
        setup=with_items,
        sdk=lambda sides, given: list(given["folder"].list_items()),
        request=lambda given: storage_pb2.ListStorageItemsRequest(
            folder_uuid=str(given["folder"].uuid), include_client_metadata=True, client_metadata_as_signed_url=False
        ),
    ),
    WireCase(
        name="ListStorageItems by name, types and dataset use, newest first, signed",
        rpc="StorageService.ListStorageItems",
        proves=("S-06",),
        setup=with_items,
        sdk=lambda sides, given: list(
            given["folder"].list_items(
                search=AWKWARD_TEXT,
                is_in_dataset=False,
                item_types=[StorageItemType.VIDEO, StorageItemType.IMAGE_GROUP],
                order=FoldersSortBy.CREATED_AT,
                get_signed_urls=True,
                include_client_metadata=False,
                desc=True,
                page_size=10,
            )
        ),
        request=lambda given: storage_pb2.ListStorageItemsRequest(
            folder_uuid=str(given["folder"].uuid),
            search=AWKWARD_TEXT,
            is_in_dataset=False,
            item_types=[storage_pb2.STORAGE_ITEM_TYPE_VIDEO, storage_pb2.STORAGE_ITEM_TYPE_IMAGE_GROUP],
            order=storage_pb2.FOLDER_ORDER_CREATED_AT,
            desc=True,
            page_size=10,
            sign_urls=True,
            include_client_metadata=False,
            client_metadata_as_signed_url=False,
        ),
    ),
    WireCase(
        name="ListStorageItems as StorageFolder.find_items",
        rpc="StorageService.ListStorageItems",
        proves=("S-07",),
        setup=with_items,
        sdk=lambda sides, given: list(
            given["folder"].find_items(search="clip", item_types=[StorageItemType.VIDEO], get_signed_urls=True)
        ),
        request=lambda given: storage_pb2.ListStorageItemsRequest(
            folder_uuid=str(given["folder"].uuid),
            search="clip",
            is_recursive=True,
            item_types=[storage_pb2.STORAGE_ITEM_TYPE_VIDEO],
            sign_urls=True,
        ),
    ),
    WireCase(
        name="StreamStorageItems as list_items over three pages of one item each",
        rpc="StorageService.StreamStorageItems",
        proves=("S-06",),
        setup=with_items,
        sdk=lambda sides, given: list(given["folder"].list_items(page_size=1, item_types=THREE_TYPES)),
        request=lambda given: storage_pb2.ListStorageItemsRequest(
            folder_uuid=str(given["folder"].uuid),
            item_types=[
                storage_pb2.STORAGE_ITEM_TYPE_VIDEO,
                storage_pb2.STORAGE_ITEM_TYPE_PLAIN_TEXT,
                storage_pb2.STORAGE_ITEM_TYPE_IMAGE_GROUP,
            ],
            page_size=1,
            include_client_metadata=True,
            client_metadata_as_signed_url=False,
        ),
    ),
    WireCase(
        name="StreamStorageItems as StorageFolder.find_items",
        rpc="StorageService.StreamStorageItems",
        proves=("S-07",),
        setup=with_items,
        sdk=lambda sides, given: list(given["folder"].find_items(search="a")),
        request=lambda given: storage_pb2.ListStorageItemsRequest(
            folder_uuid=str(given["folder"].uuid), search="a", is_recursive=True
        ),
    ),
    WireCase(
        name="SearchStorageItems as the deprecated find_storage_items",
        rpc="StorageService.SearchStorageItems",
        proves=("S-07",),
        setup=with_items,
        sdk=lambda sides, given: deprecated(
            lambda: list(
                sides.sdk.find_storage_items(
                    search=given["video"].name, item_types=[StorageItemType.VIDEO], org_access=False
                )
            )
        ),
        request=lambda given: storage_pb2.SearchStorageItemsRequest(
            search=given["video"].name, item_types=[storage_pb2.STORAGE_ITEM_TYPE_VIDEO], include_org_access=False
        ),
    ),
    WireCase(
        name="StreamSearchStorageItems as find_storage_items, signed, by creation time",
        rpc="StorageService.StreamSearchStorageItems",
        proves=("S-07",),
        setup=with_items,
        sdk=lambda sides, given: deprecated(
            lambda: list(
                sides.sdk.find_storage_items(
                    search=AWKWARD_TEXT, is_in_dataset=True, order=FoldersSortBy.CREATED_AT, get_signed_urls=True
                )
            )
        ),
        request=lambda given: storage_pb2.SearchStorageItemsRequest(
            search=AWKWARD_TEXT, is_in_dataset=True, order=storage_pb2.FOLDER_ORDER_CREATED_AT, sign_urls=True
        ),
    ),
    WireCase(
        name="MoveStorageItems as StorageFolder.move_items_to_folder",
        rpc="StorageService.MoveStorageItems",
        proves=("S-11",),
        setup=then_answer_the_sdk(
            lambda sides: {**with_items(sides), "target": new_folder(sides)},
            lambda given: {
                "method": "POST",
                "path_prefix": f"/v2/public/storage/folders/{given['folder'].uuid}/items/move",
            },
        ),
        sdk=lambda sides, given: given["folder"].move_items_to_folder(given["target"], [given["video"].uuid]),
        request=lambda given: storage_pb2.MoveStorageItemsRequest(
            folder_uuid=str(given["folder"].uuid),
            item_uuids=[str(given["video"].uuid)],
            new_parent_uuid=str(given["target"].uuid),
        ),
    ),
    WireCase(
        name="DeleteStorageItems as StorageFolder.delete_storage_items",
        rpc="StorageService.DeleteStorageItems",
        proves=("S-12",),
        setup=then_answer_the_sdk(
            with_items,
            lambda given: {
                "method": "POST",
                "path_prefix": f"/v2/public/storage/folders/{given['folder'].uuid}/items/delete",
            },
        ),
        sdk=lambda sides, given: given["folder"].delete_storage_items([given["video"].uuid, given["text"].uuid]),
        request=lambda given: storage_pb2.DeleteStorageItemsRequest(
            folder_uuid=str(given["folder"].uuid), child_uuids=[str(given["video"].uuid), str(given["text"].uuid)]
        ),
    ),
    WireCase(
        name="DeleteStorageItems as StorageItem.delete keeping unused frames",
        rpc="StorageService.DeleteStorageItems",
        proves=("S-12",),
        setup=then_answer_the_sdk(
            with_items,
            lambda given: {
                "method": "POST",
                "path_prefix": f"/v2/public/storage/folders/{given['folder'].uuid}/items/delete",
            },
        ),
        sdk=lambda sides, given: given["group"].delete(remove_unused_frames=False),
        request=lambda given: storage_pb2.DeleteStorageItemsRequest(
            folder_uuid=str(given["folder"].uuid), child_uuids=[str(given["group"].uuid)], remove_unused_frames=False
        ),
    ),
    WireCase(
        name="GetStorageItem as get_storage_item with a signed URL",
        rpc="StorageService.GetStorageItem",
        proves=("S-14",),
        setup=with_items,
        sdk=lambda sides, given: sides.sdk.get_storage_item(given["video"].uuid, sign_url=True),
        request=lambda given: storage_pb2.GetStorageItemRequest(item_uuid=str(given["video"].uuid), sign_url=True),
    ),
    WireCase(
        name="GetStorageItem as StorageItem.refetch_data",
        rpc="StorageService.GetStorageItem",
        proves=("S-14",),
        setup=with_items,
        sdk=lambda sides, given: given["text"].refetch_data(),
        request=lambda given: storage_pb2.GetStorageItemRequest(item_uuid=str(given["text"].uuid)),
    ),
    WireCase(
        name="BatchGetStorageItems as get_storage_items",
        rpc="StorageService.BatchGetStorageItems",
        proves=("S-15",),
        setup=with_items,
        sdk=lambda sides, given: sides.sdk.get_storage_items([given["text"].uuid, given["video"].uuid], sign_url=True),
        request=lambda given: storage_pb2.BatchGetStorageItemsRequest(
            item_uuids=[str(given["text"].uuid), str(given["video"].uuid)], sign_urls=True
        ),
    ),
    WireCase(
        name="UpdateStorageItem as StorageItem.update",
        rpc="StorageService.UpdateStorageItem",
        proves=("S-16",),
        setup=with_items,
        sdk=lambda sides, given: given["video"].update(
            name=AWKWARD_TEXT, description="front camera", client_metadata={"camera": "front", "lens": None}
        ),
        request=lambda given: storage_pb2.UpdateStorageItemRequest(
            folder_uuid=str(given["folder"].uuid),
            item_uuid=str(given["video"].uuid),
            name=AWKWARD_TEXT,
            description="front camera",
            client_metadata=struct({"camera": "front", "lens": None}),
        ),
        free_form=True,
    ),
    WireCase(
        name="UpdateStorageItem restoring default time-series settings with an explicit null",
        rpc="StorageService.UpdateStorageItem",
        proves=("S-16",),
        setup=with_items,
        sdk=lambda sides, given: given["text"].update(name="notes-2.txt", timeseries_settings=None),
        request=lambda given: storage_pb2.UpdateStorageItemRequest(
            folder_uuid=str(given["folder"].uuid),
            item_uuid=str(given["text"].uuid),
            name="notes-2.txt",
            timeseries_settings=value(None),
        ),
    ),
    WireCase(
        name="UpdateStorageItems as a bundle of StorageItem.update, explicit nulls kept",
        rpc="StorageService.UpdateStorageItems",
        proves=("S-16",),
        setup=with_items,
        sdk=lambda sides, given: bundled(
            lambda b: given["video"].update(
                name="clip-2.mp4", client_metadata={"camera": None}, timeseries_settings=None, bundle=b
            )
        ),
        request=lambda given: storage_pb2.UpdateStorageItemsRequest(
            item_patches={
                str(given["video"].uuid): storage_pb2.StorageItemPatch(
                    name="clip-2.mp4", client_metadata=struct({"camera": None}), timeseries_settings=value(None)
                )
            }
        ),
        free_form=True,
    ),
    WireCase(
        name="GetStorageItemSummary as StorageItem.get_summary",
        rpc="StorageService.GetStorageItemSummary",
        proves=("S-17",),
        setup=with_items,
        sdk=lambda sides, given: given["video"].get_summary(),
        request=lambda given: storage_pb2.GetStorageItemSummaryRequest(
            folder_uuid=str(given["folder"].uuid), item_uuid=str(given["video"].uuid)
        ),
    ),
    WireCase(
        name="ListStorageItemChildren as StorageItem.get_child_items with signed URLs",
        rpc="StorageService.ListStorageItemChildren",
        proves=("S-18",),
        setup=with_items,
        sdk=lambda sides, given: given["group"].get_child_items(get_signed_urls=True),
        request=lambda given: storage_pb2.ListStorageItemChildrenRequest(
            folder_uuid=str(given["folder"].uuid), item_uuid=str(given["group"].uuid), sign_urls=True
        ),
    ),
    WireCase(
        name="CreateStorageDataGroups as StorageFolder.create_data_groups, a grid and a custom layout",
        rpc="StorageService.CreateStorageDataGroups",
        proves=("S-26",),
        setup=with_items,
        sdk=lambda sides, given: given["folder"].create_data_groups(
            [
                DataGroupGrid(layout_contents=[given["video"].uuid, given["text"].uuid], name="pair"),
                DataGroupCustom(
                    layout_contents={"left": given["video"].uuid, "right": given["text"].uuid},
                    timeline=["left"],
                    client_metadata={"kind": "side by side"},
                ),
            ]
        ),
        request=lambda given: storage_pb2.CreateStorageDataGroupsRequest(
            folder_uuid=str(given["folder"].uuid),
            groups=[
                storage_pb2.StorageDataGroup(
                    layout_type=storage_pb2.DATA_GROUP_LAYOUT_TYPE_GRID,
                    layout_contents=value([str(given["video"].uuid), str(given["text"].uuid)]),
                    name="pair",
                ),
                storage_pb2.StorageDataGroup(
                    layout_type=storage_pb2.DATA_GROUP_LAYOUT_TYPE_CUSTOM,
                    layout_contents=value({"left": str(given["video"].uuid), "right": str(given["text"].uuid)}),
                    timeline=struct_pb2.ListValue(values=[value("left")]),
                    client_metadata=struct({"kind": "side by side"}),
                ),
            ],
        ),
        free_form=True,
    ),
    WireCase(
        name="CreateStorageDataGroups as StorageFolder.create_data_group from a list of items",
        rpc="StorageService.CreateStorageDataGroups",
        proves=("S-26",),
        setup=with_items,
        sdk=lambda sides, given: given["folder"].create_data_group([given["text"].uuid]),
        request=lambda given: storage_pb2.CreateStorageDataGroupsRequest(
            folder_uuid=str(given["folder"].uuid),
            groups=[
                storage_pb2.StorageDataGroup(
                    layout_type=storage_pb2.DATA_GROUP_LAYOUT_TYPE_LIST,
                    layout_contents=value([str(given["text"].uuid)]),
                )
            ],
        ),
    ),
    WireCase(
        name="MigrateStorageItems as update_storage_item_cloud_info by UUID",
        rpc="StorageService.MigrateStorageItems",
        proves=("S-28",),
        setup=with_items,
        sdk=lambda sides, given: update_storage_item_cloud_info(
            sides.sdk, str(given["video"].uuid), new_url="s3://bucket/clip.mp4", verify_access=False, skip_missing=True
        ),
        request=lambda given: storage_pb2.MigrateStorageItemsRequest(
            items_map={str(given["video"].uuid): value("s3://bucket/clip.mp4")}, skip_missing=True
        ),
    ),
    WireCase(
        name="MigrateStorageItems as update_storage_item_cloud_info by URL",
        rpc="StorageService.MigrateStorageItems",
        proves=("S-28",),
        setup=with_items,
        sdk=lambda sides, given: update_storage_item_cloud_info(
            sides.sdk, given["text"].url, new_url="gs://bucket/notes.txt", verify_access=True, skip_missing=True
        ),
        # The SDK's call moves the item to its new URL first; the gateway's then finds the old one no more.
        request=lambda given: storage_pb2.MigrateStorageItemsRequest(
            urls_map={given["text"].url: value("gs://bucket/notes.txt")}, validate_access=True, skip_missing=True
        ),
    ),
]


# ---- data units -------------------------------------------------------------------------------


DATA_UNIT_CASES = [
    WireCase(
        name="ListDataRows as Dataset.list_data_rows with its defaults",
        rpc="DatasetService.ListDataRows",
        proves=("D-02",),
        setup=with_rows,
        sdk=lambda sides, given: given["dataset"].list_data_rows(),
        request=lambda given: datasets_pb2.ListDataRowsRequest(dataset_hash=given["hash"]),
    ),
    WireCase(
        name="ListDataRows by title, creation time, types and hashes",
        rpc="DatasetService.ListDataRows",
        proves=("D-02",),
        setup=with_rows,
        sdk=lambda sides, given: given["dataset"].list_data_rows(
            title_like=AWKWARD_TEXT,
            created_after=LONG_AGO,
            data_types=[DataType.VIDEO, DataType.IMG_GROUP],
            data_hashes=[given["video"].uid],
        ),
        request=lambda given: datasets_pb2.ListDataRowsRequest(
            dataset_hash=given["hash"],
            title_like=AWKWARD_TEXT,
            created_after=timestamp(LONG_AGO),
            data_types=[datasets_pb2.DATA_ROW_TYPE_VIDEO, datasets_pb2.DATA_ROW_TYPE_IMG_GROUP],
            data_hashes=[given["video"].uid],
        ),
    ),
    WireCase(
        name="GetDataRow as DataRow.refetch_data with its defaults",
        rpc="DatasetService.GetDataRow",
        proves=("D-03",),
        setup=with_rows,
        sdk=lambda sides, given: given["video"].refetch_data(),
        request=lambda given: datasets_pb2.GetDataRowRequest(dataset_hash=given["hash"], data_hash=given["video"].uid),
    ),
    WireCase(
        name="GetDataRow as DataRow.refetch_data with a signed URL, images and client metadata",
        rpc="DatasetService.GetDataRow",
        proves=("D-03",),
        setup=with_rows,
        sdk=lambda sides, given: given["group"].refetch_data(
            signed_url=True,
            images_data_fetch_options=ImagesDataFetchOptions(fetch_signed_urls=True),
            client_metadata=True,
        ),
        request=lambda given: datasets_pb2.GetDataRowRequest(
            dataset_hash=given["hash"],
            data_hash=given["group"].uid,
            signed_url=True,
            images_data_fetch_options=datasets_pb2.ImagesDataFetchOptions(fetch_signed_urls=True),
            client_metadata=True,
        ),
    ),
    WireCase(
        name="UpdateDataRow as the deprecated DataRow.save of a title and client metadata",
        rpc="DatasetService.UpdateDataRow",
        proves=("D-04",),
        setup=with_rows,
        sdk=lambda sides, given: deprecated(
            lambda: (
                setattr(given["video"], "title", AWKWARD_TEXT),
                setattr(given["video"], "client_metadata", {"camera": "rear", "night": True}),
                given["video"].save(),
            )
        ),
        request=lambda given: datasets_pb2.UpdateDataRowRequest(
            dataset_hash=given["hash"],
            data_hash=given["video"].uid,
            data_title=AWKWARD_TEXT,
            client_metadata=struct({"camera": "rear", "night": True}),
        ),
        free_form=True,
    ),
    WireCase(
        name="UpdateDataRowTitles as the deprecated Dataset.update_data_item",
        rpc="DatasetService.UpdateDataRowTitles",
        proves=("D-05",),
        setup=with_rows,
        sdk=lambda sides, given: given["dataset"].update_data_item(given["image"].uid, AWKWARD_TEXT),
        request=lambda given: datasets_pb2.UpdateDataRowTitlesRequest(
            dataset_hash=given["hash"],
            titles=[datasets_pb2.DataRowTitle(data_hash=given["image"].uid, title=AWKWARD_TEXT)],
        ),
    ),
    WireCase(
        name="DeleteDataRows as Dataset.delete_data",
        rpc="DatasetService.DeleteDataRows",
        proves=("D-10",),
        setup=then_answer_the_sdk(
            with_rows, lambda given: {"api": "v1", "query_type": "video", "query_method": "DELETE"}, 200, V1_DONE
        ),
        sdk=lambda sides, given: given["dataset"].delete_data([given["video"].uid, given["image"].uid]),
        request=lambda given: datasets_pb2.DeleteDataRowsRequest(
            dataset_hash=given["hash"], data_hashes=[given["video"].uid, given["image"].uid]
        ),
    ),
    WireCase(
        name="DeleteImageGroup as the legacy Dataset.delete_image_group",
        rpc="DatasetService.DeleteImageGroup",
        proves=("D-11",),
        setup=then_answer_the_sdk(
            with_rows, lambda given: {"api": "v1", "query_type": "imagegroup", "query_method": "DELETE"}, 200, V1_DONE
        ),
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk, "imagegroup", "DELETE", uid=given["group"].uid, resource=("dataset", given["hash"])
        ),
        request=lambda given: datasets_pb2.DeleteImageGroupRequest(
            dataset_hash=given["hash"], data_hash=given["group"].uid
        ),
    ),
    WireCase(
        name="LinkStorageItems as Dataset.link_items",
        rpc="DatasetService.LinkStorageItems",
        proves=("D-12",),
        setup=with_items_and_dataset,
        sdk=lambda sides, given: given["dataset"].link_items([given["video"].uuid, given["group"].uuid]),
        request=lambda given: datasets_pb2.LinkStorageItemsRequest(
            dataset_hash=given["hash"], item_uuids=[str(given["video"].uuid), str(given["group"].uuid)]
        ),
    ),
    WireCase(
        name="LinkStorageItems allowing duplicates",
        rpc="DatasetService.LinkStorageItems",
        proves=("D-12",),
        setup=with_items_and_dataset,
        sdk=lambda sides, given: given["dataset"].link_items(
            [given["text"].uuid],
            duplicates_behavior=DataLinkDuplicatesBehavior.DUPLICATE,
        ),
        request=lambda given: datasets_pb2.LinkStorageItemsRequest(
            dataset_hash=given["hash"],
            item_uuids=[str(given["text"].uuid)],
            duplicates_behavior=datasets_pb2.DATA_LINK_DUPLICATES_BEHAVIOR_DUPLICATE,
        ),
    ),
    WireCase(
        name="ReencodeDataRows as Dataset.re_encode_data",
        rpc="DatasetService.ReencodeDataRows",
        proves=("D-14",),
        setup=with_rows,
        sdk=lambda sides, given: given["dataset"].re_encode_data([given["video"].uid]),
        request=lambda given: datasets_pb2.ReencodeDataRowsRequest(
            dataset_hash=given["hash"], data_hashes=[given["video"].uid]
        ),
    ),
    WireCase(
        name="GetReencodeJob as Dataset.re_encode_data_status",
        rpc="DatasetService.GetReencodeJob",
        proves=("D-15",),
        setup=with_reencode_job,
        sdk=lambda sides, given: given["dataset"].re_encode_data_status(given["job"]),
        request=lambda given: datasets_pb2.GetReencodeJobRequest(dataset_hash=given["hash"], job_id=given["job"]),
    ),
    WireCase(
        name="RunImageGroupOcr as the legacy Dataset.run_ocr",
        rpc="DatasetService.RunImageGroupOcr",
        proves=("D-16",),
        setup=with_rows,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "imagegroupocr",
            "GET",
            payload={"image_group_data_hash": given["group"].uid},
            resource=("dataset", given["hash"]),
        ),
        request=lambda given: datasets_pb2.RunImageGroupOcrRequest(
            dataset_hash=given["hash"], image_group_data_hash=given["group"].uid
        ),
    ),
    WireCase(
        name="GetProjectDataUnit as Project.get_data with signed links",
        rpc="ProjectService.GetProjectDataUnit",
        proves=("P-16",),
        setup=with_project_rows,
        sdk=lambda sides, given: given["project"].get_data(given["group"].uid, get_signed_url=True),
        request=lambda given: projects_pb2.GetProjectDataUnitRequest(
            project_hash=given["project"].project_hash,
            data_unit=projects_pb2.DataUnitRef(data_hash=given["group"].uid, get_signed_url=True),
        ),
    ),
    WireCase(
        name="GetProjectDataUnit as Project.get_data of a video",
        rpc="ProjectService.GetProjectDataUnit",
        proves=("P-16",),
        setup=with_project_rows,
        sdk=lambda sides, given: given["project"].get_data(given["video"].uid),
        request=lambda given: projects_pb2.GetProjectDataUnitRequest(
            project_hash=given["project"].project_hash, data_unit=projects_pb2.DataUnitRef(data_hash=given["video"].uid)
        ),
    ),
]

CASES = [*FOLDER_CASES, *ITEM_CASES, *DATA_UNIT_CASES]
