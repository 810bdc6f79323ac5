"""Storage and data units through a real gateway, over gRPC and REST: folder trees, paged and streamed listings,
signed URLs a caller downloads, items linked into datasets that projects read, bad input, the cache, and a caller
whose policy grants one folder only."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import (
    datasets_pb2,
    datasets_pb2_grpc,
    projects_pb2,
    projects_pb2_grpc,
    storage_pb2,
    storage_pb2_grpc,
)
from encord_gateway.upstream.signing import encode_body, v2_signature_headers
from google.protobuf import json_format, struct_pb2

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox, SandboxUser


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def download(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def sandbox_v2(sandbox: Sandbox, user: SandboxUser, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A v2 call straight to the sandbox, signed with the organisation's key (what Encord's web app would do)."""
    target = "/v2/public/" + path
    data = encode_body(body) if body is not None else b""
    headers = v2_signature_headers(user.signer, method, target, data, int(time.time()))
    if data:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(sandbox.url + target, data=data or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def fails(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


class Storage:
    """The shared gateway's storage, dataset and project stubs with its caller's token, and seeding helpers."""

    def __init__(self, gateway: GatewayProcess, channel: grpc.Channel, sandbox: Sandbox) -> None:
        self.gateway = gateway
        self.sandbox = sandbox
        self.md = gateway.auth_metadata
        self.storage = storage_pb2_grpc.StorageServiceStub(channel)
        self.datasets = datasets_pb2_grpc.DatasetServiceStub(channel)
        self.projects = projects_pb2_grpc.ProjectServiceStub(channel)

    def folder(self, name: str, parent: str = "", **fields: Any) -> storage_pb2.StorageFolder:
        request = storage_pb2.CreateStorageFolderRequest(name=name, parent=parent, **fields)
        folder: storage_pb2.StorageFolder = self.storage.CreateStorageFolder(request, metadata=self.md)
        return folder

    def seed(self, folder_uuid: str, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.sandbox.seed_storage_items(folder_uuid, specs)

    def upstream_calls(self) -> int:
        return len(self.sandbox.requests_log())


@pytest.fixture(scope="module")
def shared(gateway: GatewayProcess, channel: grpc.Channel, sandbox: Sandbox) -> Storage:
    return Storage(gateway, channel, sandbox)


# ---- folders ----------------------------------------------------------------------------------


def test_a_folder_tree_pages_and_streams_over_grpc_and_rest(shared: Storage, make_title: Callable[[str], str]) -> None:
    prefix = make_title("tree")
    top = shared.folder(f"{prefix} top", description="root", client_metadata=struct({"site": "A", "floor": 2}))
    middle = shared.folder(f"{prefix} middle", parent=top.uuid)
    bottom = shared.folder(f"{prefix} bottom", parent=middle.uuid)
    shared.folder(f"{prefix} second")

    fetched = shared.storage.GetStorageFolder(
        storage_pb2.GetStorageFolderRequest(folder_uuid=bottom.uuid), metadata=shared.md
    )
    assert [p.name for p in fetched.path_to_root] == [f"{prefix} bottom", f"{prefix} middle", f"{prefix} top"]
    assert (fetched.parent, fetched.user_role) == (middle.uuid, storage_pb2.STORAGE_USER_ROLE_ADMIN)
    assert json_format.MessageToDict(top.client_metadata) == {"site": "A", "floor": 2}
    below = shared.storage.ListStorageSubfolders(
        storage_pb2.ListStorageSubfoldersRequest(folder_uuid=top.uuid, is_recursive=True), metadata=shared.md
    )
    assert [f.name for f in below.folders] == [f"{prefix} bottom", f"{prefix} middle"]

    listing = storage_pb2.ListStorageFoldersRequest(search=prefix, page_size=1, desc=True)
    first = shared.storage.ListStorageFolders(listing, metadata=shared.md)
    listing.page_token = first.next_page_token
    second = shared.storage.ListStorageFolders(listing, metadata=shared.md)
    assert [f.name for f in [*first.folders, *second.folders]] == [f"{prefix} top", f"{prefix} second"]
    assert first.next_page_token and not second.next_page_token
    streamed = shared.storage.StreamStorageFolders(storage_pb2.ListStorageFoldersRequest(search=prefix, page_size=1), metadata=shared.md)  # fmt: skip
    assert [f.name for f in streamed] == [f"{prefix} second", f"{prefix} top"]

    found = shared.gateway.rest("GET", "/v1/storage/folders:streamSearch?" + urllib.parse.urlencode({"search": prefix, "page_size": 2}))  # fmt: skip
    assert found.status == 200 and found.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in found.body.decode().splitlines()]
    assert [f["name"] for f in lines] == [f"{prefix} {n}" for n in ("bottom", "middle", "second", "top")]


def test_bad_input_never_reaches_encord_and_a_missing_folder_is_encords_refusal(
    shared: Storage, gateway_kit: GatewayKit
) -> None:
    before = shared.upstream_calls()
    bad = [
        (
            lambda: shared.storage.GetStorageFolder(
                storage_pb2.GetStorageFolderRequest(folder_uuid="nope"), metadata=shared.md
            ),
            "folder_uuid",
        ),
        (
            lambda: shared.storage.DeleteStorageItems(
                storage_pb2.DeleteStorageItemsRequest(folder_uuid=str(uuid.uuid4())), metadata=shared.md
            ),
            "child_uuids",
        ),
        (
            lambda: shared.storage.CreateStorageFolder(
                storage_pb2.CreateStorageFolderRequest(name=" "), metadata=shared.md
            ),
            "name",
        ),
        (
            lambda: shared.datasets.UpdateDataRowTitles(
                datasets_pb2.UpdateDataRowTitlesRequest(dataset_hash=str(uuid.uuid4())), metadata=shared.md
            ),
            "titles",
        ),
        (
            lambda: shared.storage.BatchGetStorageItems(
                storage_pb2.BatchGetStorageItemsRequest(item_uuids=["x"]), metadata=shared.md
            ),
            "item_uuids[0]",
        ),
    ]
    for call, field in bad:
        error = fails(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        assert field in (error.details() or ""), error.details()
    assert shared.upstream_calls() == before

    missing = fails(lambda: shared.storage.GetStorageFolder(storage_pb2.GetStorageFolderRequest(folder_uuid=str(uuid.uuid4())), metadata=shared.md))  # fmt: skip
    assert missing.code() == grpc.StatusCode.PERMISSION_DENIED  # Encord's answer for unknown and foreign folders alike
    assert shared.upstream_calls() == before + 1
    rest = shared.gateway.rest("GET", f"/v1/storage/items/{uuid.uuid4()}")
    assert rest.status == 403 and gateway_kit.rest_error(rest).reason != "POLICY_DENIED"  # Encord's, not the policy's


def test_a_cached_folder_read_is_dropped_by_an_update(shared: Storage, make_title: Callable[[str], str]) -> None:
    folder = shared.folder(make_title("cached"))
    request = storage_pb2.GetStorageFolderRequest(folder_uuid=folder.uuid)
    shared.storage.GetStorageFolder(request, metadata=shared.md)
    _, call = shared.storage.GetStorageFolder.with_call(request, metadata=shared.md)
    assert dict(call.initial_metadata()).get("x-cache") == "hit"

    shared.storage.UpdateStorageFolder(
        storage_pb2.UpdateStorageFolderRequest(
            folder_uuid=folder.uuid, name="renamed", client_metadata=struct({"v": 2})
        ),
        metadata=shared.md,
    )

    fresh, call = shared.storage.GetStorageFolder.with_call(request, metadata=shared.md)
    assert dict(call.initial_metadata()).get("x-cache") == "miss"
    assert (fresh.name, json_format.MessageToDict(fresh.client_metadata)) == ("renamed", {"v": 2})


def test_metadata_ingestion_is_written_back_with_the_keys_the_gateway_does_not_model(
    shared: Storage, make_title: Callable[[str], str]
) -> None:
    folder = shared.folder(make_title("config"))
    config_path = f"storage/folders/{folder.uuid}/folder-config"
    status, _ = sandbox_v2(shared.sandbox, shared.gateway.user, "POST", config_path, {"retention": {"days": 30}})
    assert status == 204

    shared.storage.EnableStorageFolderMetadataIngestion(
        storage_pb2.EnableStorageFolderMetadataIngestionRequest(folder_uuid=folder.uuid, suffix=".sidecar.json"),
        metadata=shared.md,
    )

    config = shared.storage.GetStorageFolderConfig(storage_pb2.GetStorageFolderConfigRequest(folder_uuid=folder.uuid), metadata=shared.md)  # fmt: skip
    assert (config.metadata_ingestion.matcher.suffix, config.metadata_ingestion.paused) == (".sidecar.json", False)
    status, raw = sandbox_v2(shared.sandbox, shared.gateway.user, "GET", config_path)
    assert status == 200 and raw["retention"] == {"days": 30}


# ---- items ------------------------------------------------------------------------------------


def test_items_list_with_signed_urls_a_caller_downloads(shared: Storage, make_title: Callable[[str], str]) -> None:
    folder = shared.folder(make_title("items"))
    content = b"bytes of a text file"
    text, _video, group = shared.seed(
        folder.uuid,
        [
            {"name": "notes.txt", "item_type": "plainText", "content_base64": base64.b64encode(content).decode()},
            {"name": "clip.mp4", "item_type": "video", "file_size": 2048},
            {"name": "street", "item_type": "imageGroup", "children": ["a.jpg", "b.jpg"]},
        ],
    )

    listed = shared.storage.ListStorageItems(
        storage_pb2.ListStorageItemsRequest(
            folder_uuid=folder.uuid, item_types=[storage_pb2.STORAGE_ITEM_TYPE_PLAIN_TEXT, storage_pb2.STORAGE_ITEM_TYPE_VIDEO], sign_urls=True
        ),
        metadata=shared.md,
    )  # fmt: skip
    assert [(i.name, i.item_type) for i in listed.items] == [
        ("clip.mp4", storage_pb2.STORAGE_ITEM_TYPE_VIDEO), ("notes.txt", storage_pb2.STORAGE_ITEM_TYPE_PLAIN_TEXT)
    ]  # fmt: skip
    assert download(listed.items[1].signed_url) == (200, content)
    assert len(download(listed.items[0].signed_url)[1]) == 2048
    children = shared.gateway.rest("GET", f"/v1/storage/folders/{folder.uuid}/items/{group['uuid']}/children?sign_urls=true").json()  # fmt: skip
    assert [c["name"] for c in children["items"]] == ["a.jpg", "b.jpg"]
    assert all(download(c["signed_url"])[0] == 200 for c in children["items"])
    streamed = shared.gateway.rest("GET", f"/v1/storage/folders/{folder.uuid}/items:stream?page_size=2").body.decode().splitlines()  # fmt: skip
    assert sorted(json.loads(line)["name"] for line in streamed) == [
        "a.jpg",
        "b.jpg",
        "clip.mp4",
        "notes.txt",
        "street",
    ]
    fetched = shared.storage.GetStorageItem(
        storage_pb2.GetStorageItemRequest(item_uuid=text["uuid"]), metadata=shared.md
    )
    assert fetched.url and not fetched.signed_url  # no link unless asked


def test_data_groups_bulk_updates_moves_and_deletions(shared: Storage, make_title: Callable[[str], str]) -> None:
    folder = shared.folder(make_title("groups"))
    archive = shared.folder(make_title("archive"))
    left, right = shared.seed(folder.uuid, [{"name": "l.jpg", "item_type": "image"}, {"name": "r.jpg", "item_type": "image"}])  # fmt: skip

    made = shared.gateway.rest(
        "POST",
        f"/v1/storage/folders/{folder.uuid}/data-groups",
        body=[{"layout_type": "DATA_GROUP_LAYOUT_TYPE_GRID", "layout_contents": [left["uuid"], right["uuid"]], "name": "pair"}],
    )  # fmt: skip
    assert made.status == 200, made.body
    (group_uuid,) = made.json()["item_uuids"]
    shared.storage.UpdateStorageItem(
        storage_pb2.UpdateStorageItemRequest(
            folder_uuid=folder.uuid, item_uuid=left["uuid"], timeseries_settings=struct_pb2.Value(struct_value=struct({"channels": {}}))
        ),
        metadata=shared.md,
    )  # fmt: skip
    patched = shared.gateway.rest(
        "POST", "/v1/storage/items:batchUpdate", body={"item_patches": {left["uuid"]: {"name": "left.jpg", "timeseries_settings": None}}}
    )  # fmt: skip
    assert patched.status == 200, patched.body
    (item,) = patched.json()["items"]
    assert item["name"] == "left.jpg" and "timeseries_settings" not in item  # the explicit null restored the defaults

    shared.storage.MoveStorageItems(
        storage_pb2.MoveStorageItemsRequest(folder_uuid=folder.uuid, item_uuids=[right["uuid"]], new_parent_uuid=archive.uuid),
        metadata=shared.md,
    )  # fmt: skip
    removed = shared.storage.DeleteStorageItems(
        storage_pb2.DeleteStorageItemsRequest(folder_uuid=folder.uuid, child_uuids=[group_uuid]), metadata=shared.md
    )
    assert removed.removed_items_count == 1  # the group; its members are items in their own right
    left_over = shared.storage.ListStorageItems(storage_pb2.ListStorageItemsRequest(folder_uuid=folder.uuid), metadata=shared.md)  # fmt: skip
    assert [i.name for i in left_over.items] == ["left.jpg"]
    shared.storage.DeleteStorageFolder(
        storage_pb2.DeleteStorageFolderRequest(folder_uuid=archive.uuid), metadata=shared.md
    )
    gone = fails(lambda: shared.storage.GetStorageItem(storage_pb2.GetStorageItemRequest(item_uuid=right["uuid"]), metadata=shared.md))  # fmt: skip
    assert gone.code() == grpc.StatusCode.PERMISSION_DENIED


# ---- datasets and data units ------------------------------------------------------------------


def test_items_linked_into_a_dataset_reach_a_project_with_links_to_download(
    shared: Storage, make_title: Callable[[str], str]
) -> None:
    folder = shared.folder(make_title("library"))
    clip, street = shared.seed(
        folder.uuid,
        [
            {"name": "clip.mp4", "item_type": "video", "file_size": 4096, "client_metadata": {"camera": "rear"}},
            {"name": "street", "item_type": "imageGroup", "children": ["a.jpg", "b.jpg"]},
        ],
    )
    dataset_hash = shared.datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(title=make_title("linked"), create_backing_folder=False), metadata=shared.md
    ).dataset_hash

    linked = shared.datasets.LinkStorageItems(
        datasets_pb2.LinkStorageItemsRequest(dataset_hash=dataset_hash, item_uuids=[clip["uuid"], street["uuid"]]),
        metadata=shared.md,
    )
    video_row, group_row = linked.data_rows
    assert (video_row.data_type, video_row.backing_item_uuid) == (datasets_pb2.DATA_ROW_TYPE_VIDEO, clip["uuid"])
    assert [i.title for i in group_row.images_data] == ["a.jpg", "b.jpg"]
    rows = shared.datasets.ListDataRows(
        datasets_pb2.ListDataRowsRequest(dataset_hash=dataset_hash, data_types=[datasets_pb2.DATA_ROW_TYPE_IMG_GROUP]),
        metadata=shared.md,
    )
    assert [r.data_title for r in rows.data_rows] == ["street"]
    row = shared.datasets.GetDataRow(
        datasets_pb2.GetDataRowRequest(dataset_hash=dataset_hash, data_hash=video_row.data_hash, signed_url=True, client_metadata=True),
        metadata=shared.md,
    )  # fmt: skip
    assert json_format.MessageToDict(row.client_metadata) == {"camera": "rear"}
    assert len(download(row.signed_url)[1]) == 4096

    project_hash = shared.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=make_title("reader"), dataset_hashes=[dataset_hash]), metadata=shared.md
    ).project_hash
    unit = shared.gateway.rest(
        "POST",
        f"/v1/projects/{project_hash}/data-units:get",
        body={"data_unit": {"data_hash": group_row.data_hash, "get_signed_url": True}},
    )
    assert unit.status == 200, unit.body
    assert [i["title"] for i in unit.json()["images"]] == ["a.jpg", "b.jpg"]
    assert all(download(i["file_link"])[0] == 200 for i in unit.json()["images"])
    summary = shared.storage.GetStorageItemSummary(
        storage_pb2.GetStorageItemSummaryRequest(folder_uuid=folder.uuid, item_uuid=clip["uuid"]), metadata=shared.md
    )
    assert summary.used_in_datasets == 1 and summary.accessible_datasets[0].dataset_hash == dataset_hash


def test_re_encoding_through_the_gateway_finishes_after_two_checks(
    shared: Storage, make_title: Callable[[str], str]
) -> None:
    dataset_hash = shared.datasets.CreateDataset(datasets_pb2.CreateDatasetRequest(title=make_title("videos")), metadata=shared.md).dataset_hash  # fmt: skip
    (video,) = shared.sandbox.seed_data_units(dataset_hash, [{"title": "v.mp4", "data_type": "VIDEO"}])

    job = shared.datasets.ReencodeDataRows(
        datasets_pb2.ReencodeDataRowsRequest(dataset_hash=dataset_hash, data_hashes=[video["data_hash"]]), metadata=shared.md
    ).job_id  # fmt: skip
    check = datasets_pb2.GetReencodeJobRequest(dataset_hash=dataset_hash, job_id=job)
    first, second = (shared.datasets.GetReencodeJob(check, metadata=shared.md) for _ in range(2))

    assert (first.status, second.status) == ("SUBMITTED", "DONE")  # never served from the cache
    assert [r.data_hash for r in second.result] == [video["data_hash"]] and download(second.result[0].signed_url)[
        0
    ] == 200


# ---- a caller limited to one folder -----------------------------------------------------------


@pytest.fixture(scope="module")
def one_folder(
    shared: Storage, gateway_kit: GatewayKit, make_title: Callable[[str], str]
) -> Iterator[tuple[str, dict[str, Any], str, dict[str, Any], str]]:
    """Folders A and B of the gateway's organisation with an item each, and a token granting folder A only."""
    a, b = shared.folder(make_title("granted")), shared.folder(make_title("other"))
    (item_a,) = shared.seed(a.uuid, [{"name": "a.jpg", "item_type": "image"}])
    (item_b,) = shared.seed(b.uuid, [{"name": "b.jpg", "item_type": "image"}])
    name = f"folder-caller-{uuid.uuid4().hex[:8]}"
    grant = {"organisation": shared.gateway.organisation, "resources": [f"storage_folder:{a.uuid}"], "rights": ["read", "write"]}  # fmt: skip
    gateway_kit.create_caller(shared.gateway.data_dir, name, {"grants": [grant]})
    token, _ = gateway_kit.issue_token(shared.gateway.data_dir, name)
    yield a.uuid, item_a, b.uuid, item_b, token


def test_a_caller_granted_one_folder_reads_and_lists_it(
    shared: Storage, one_folder: tuple[str, dict[str, Any], str, dict[str, Any], str]
) -> None:
    a, item_a, _, _, token = one_folder
    md = (("authorization", f"Bearer {token}"),)

    got = shared.storage.GetStorageFolder(storage_pb2.GetStorageFolderRequest(folder_uuid=a), metadata=md)
    items = shared.storage.ListStorageItems(storage_pb2.ListStorageItemsRequest(folder_uuid=a), metadata=md)
    shared.storage.CreateStorageFolder(storage_pb2.CreateStorageFolderRequest(name="inside", parent=a), metadata=md)
    subfolders = shared.storage.ListStorageSubfolders(storage_pb2.ListStorageSubfoldersRequest(folder_uuid=a), metadata=md)  # fmt: skip

    assert got.uuid == a and [i.uuid for i in items.items] == [item_a["uuid"]]
    assert [f.name for f in subfolders.folders] == ["inside"]
    assert shared.gateway.rest("GET", f"/v1/storage/folders/{a}/items", token=token).status == 200


def test_a_caller_granted_one_folder_cannot_read_or_list_another_and_encord_never_hears_of_it(
    shared: Storage, gateway_kit: GatewayKit, one_folder: tuple[str, dict[str, Any], str, dict[str, Any], str]
) -> None:
    a, item_a, b, item_b, token = one_folder
    md = (("authorization", f"Bearer {token}"),)
    before = shared.upstream_calls()
    refused: list[Callable[[], object]] = [
        lambda: shared.storage.GetStorageFolder(storage_pb2.GetStorageFolderRequest(folder_uuid=b), metadata=md),
        lambda: shared.storage.ListStorageItems(storage_pb2.ListStorageItemsRequest(folder_uuid=b), metadata=md),
        lambda: list(shared.storage.StreamStorageItems(storage_pb2.ListStorageItemsRequest(folder_uuid=b), metadata=md)),
        lambda: shared.storage.ListStorageSubfolders(storage_pb2.ListStorageSubfoldersRequest(folder_uuid=b), metadata=md),
        lambda: shared.storage.GetStorageFolderSummary(storage_pb2.GetStorageFolderSummaryRequest(folder_uuid=b), metadata=md),
        lambda: shared.storage.GetStorageItemSummary(storage_pb2.GetStorageItemSummaryRequest(folder_uuid=b, item_uuid=item_b["uuid"]), metadata=md),
        lambda: shared.storage.ListStorageFolders(storage_pb2.ListStorageFoldersRequest(), metadata=md),
        lambda: shared.storage.SearchStorageFolders(storage_pb2.SearchStorageFoldersRequest(), metadata=md),
        lambda: shared.storage.SearchStorageItems(storage_pb2.SearchStorageItemsRequest(search="b"), metadata=md),
        lambda: shared.storage.GetStorageItem(storage_pb2.GetStorageItemRequest(item_uuid=item_b["uuid"]), metadata=md),
        lambda: shared.storage.CreateStorageFolder(storage_pb2.CreateStorageFolderRequest(name="x", parent=b), metadata=md),
        lambda: shared.storage.MoveStorageItems(
            storage_pb2.MoveStorageItemsRequest(folder_uuid=a, item_uuids=[item_a["uuid"]], new_parent_uuid=b), metadata=md
        ),
    ]  # fmt: skip
    for call in refused:
        denied = gateway_kit.grpc_error(fails(call))
        assert (denied.code, denied.reason) == ("PERMISSION_DENIED", "POLICY_DENIED"), denied
    for path in (f"/v1/storage/folders/{b}", f"/v1/storage/folders/{b}/items", "/v1/storage/folders", f"/v1/storage/folders/{b}/items:stream"):  # fmt: skip
        reply = shared.gateway.rest("GET", path, token=token)
        assert reply.status == 403 and gateway_kit.rest_error(reply).reason == "POLICY_DENIED", (path, reply)
    assert shared.upstream_calls() == before
