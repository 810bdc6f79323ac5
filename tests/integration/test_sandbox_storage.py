"""The sandbox's storage and data units over real sockets, signed as Encord's clients sign: answer shapes, the
control API's seeding, keyset pages, blob links, counts, limits, key scopes and who may read what."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from encord_gateway.upstream.signing import encode_body, v1_authorization, v2_signature_headers
from yarl import URL

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

# §7.10: keys the SDK requires (nullable ones included) in every folder and item answer.
FOLDER_KEYS = {
    "uuid", "parent", "name", "description", "clientMetadata", "owner", "createdAt", "lastEditedAt", "userRole",
    "syncedDatasetHash", "pathToRoot",
}  # fmt: skip
ITEM_KEYS = {
    "uuid", "parent", "itemType", "name", "clientMetadata", "owner", "createdAt", "lastEditedAt",
    "backedDataUnitsCount", "storageLocation", "integrationHash", "url", "signedUrl", "fileSize", "mimeType",
    "duration", "fps", "height", "width", "dicomInstanceUid", "dicomStudyUid", "dicomSeriesUid", "frameCount",
    "audioSampleRate", "audioBitDepth", "audioCodec", "audioNumChannels",
}  # fmt: skip
# §7.5: keys of a data row.
DATA_ROW_KEYS = {
    "data_hash", "data_title", "data_type", "created_at", "last_edited_at", "width", "height", "file_link",
    "file_size", "file_type", "storage_location", "frames_per_second", "duration",
}  # fmt: skip


class Encord:
    """Signed v1 and v2 calls, and the control API, of one sandbox."""

    def __init__(self, session: aiohttp.ClientSession, sandbox: Sandbox) -> None:
        self.session = session
        self.sandbox = sandbox

    async def v2(self, user: SandboxUser, method: str, path: str, body: Any = None, **query: Any) -> tuple[int, Any]:
        pairs = [(k, str(v)) for k, values in query.items() for v in (values if isinstance(values, list) else [values])]
        target = "/v2/public/" + path + ("?" + urllib.parse.urlencode(pairs) if pairs else "")
        data = encode_body(body) if body is not None else b""
        headers = v2_signature_headers(user.signer, method, target, data, int(time.time()))
        if data:
            headers["Content-Type"] = "application/json"
        url = URL(self.sandbox.url + target, encoded=True)
        async with self.session.request(method, url, data=data, headers=headers) as response:
            raw = await response.read()
            return response.status, json.loads(raw) if raw else None

    async def v1(
        self, user: SandboxUser, query_type: str, query_method: str, resource: tuple[str, str], *, uid: Any = None,
        payload: Any = None, api_key: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        body = encode_body({"query_type": query_type, "query_method": query_method, "values": {"uid": uid, "payload": payload}})  # fmt: skip
        authorization = api_key if api_key is not None else v1_authorization(user.signer, body)
        headers = {"ResourceType": resource[0], "ResourceID": resource[1], "Authorization": authorization}
        path = "/public" if resource[0] else "/public/user"
        async with self.session.post(self.sandbox.url + path, data=body, headers=headers) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
            return answer

    async def folder(self, user: SandboxUser, name: str = "F", **fields: Any) -> dict[str, Any]:
        status, folder = await self.v2(user, "POST", "storage/folders", {"name": name, **fields})
        assert status == 200, folder
        return dict(folder)

    def seed(self, folder_uuid: str, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.sandbox.seed_storage_items(folder_uuid, specs)

    async def download(self, url: str) -> tuple[int, bytes]:
        async with self.session.get(URL(url, encoded=True)) as response:
            return response.status, await response.read()


@pytest.fixture
async def encord(sandbox: Sandbox) -> AsyncIterator[Encord]:
    async with aiohttp.ClientSession() as session:
        yield Encord(session, sandbox)


def ok(answer: dict[str, Any]) -> Any:
    assert answer["status"] == 200, answer
    return answer["response"]


def code(answer: dict[str, Any]) -> str:
    assert answer["status"] != 200, answer
    return str(answer["response"][0])


async def new_dataset(encord: Encord, user: SandboxUser, backing_folder: bool = False) -> str:
    status, created = await encord.v2(
        user, "POST", "datasets", {"title": "D", "createBackingFolder": backing_folder, "legacyCall": False}
    )
    assert status == 200, created
    return str(created["datasetUuid"])


# ---- shapes -----------------------------------------------------------------------------------


async def test_folder_and_item_answers_carry_every_key_the_sdk_requires(user: SandboxUser, encord: Encord) -> None:
    folder = await encord.folder(user, "Shapes", clientMetadata=json.dumps({"k": [1, 2]}))
    image, text = encord.seed(folder["uuid"], [{"name": "i.jpg", "item_type": "image"}, {"name": "t", "item_type": "plainText"}])  # fmt: skip

    assert FOLDER_KEYS <= set(folder) and folder["parent"] is None and folder["syncedDatasetHash"] is None
    assert json.loads(folder["clientMetadata"]) == {"k": [1, 2]}  # JSON text, as on creation
    assert folder["pathToRoot"] == [{"uuid": folder["uuid"], "parentUuid": None, "name": "Shapes", "syncedDatasetHash": None}]  # fmt: skip
    status, fetched = await encord.v2(user, "GET", f"storage/items/{image['uuid']}", signUrl="False")
    assert status == 200 and ITEM_KEYS <= set(fetched), fetched
    assert (fetched["duration"], fetched["signedUrl"], fetched["width"], fetched["mimeType"]) == (
        None,
        None,
        640,
        "image/jpeg",
    )
    assert json.loads(fetched["clientMetadata"]) == {} and text["width"] is None


async def test_data_rows_of_items_carry_every_key_and_the_backing_item(user: SandboxUser, encord: Encord) -> None:
    dataset = await new_dataset(encord, user, backing_folder=True)
    seeded = encord.sandbox.seed_data_units(dataset, [{"title": "s", "data_type": "IMG_GROUP", "images": ["a", "b"]}])
    rows = ok(await encord.v1(user, "datarows", "GET", ("dataset", dataset), payload={"data_hashes": None}))

    assert [r["data_hash"] for r in rows] == [seeded[0]["data_hash"]]
    assert DATA_ROW_KEYS <= set(rows[0]) and rows[0]["backing_item_uuid"] and rows[0]["is_optimised_image_group"] is False  # fmt: skip
    assert [image["title"] for image in rows[0]["images_data"]] == ["a", "b"]


# ---- the control API --------------------------------------------------------------------------


async def test_seeding_refuses_bad_items_and_leaves_nothing_behind(
    user: SandboxUser, encord: Encord, sandbox: Sandbox
) -> None:
    folder = await encord.folder(user)
    bad_batches = [
        ([{"name": "ok.jpg", "item_type": "image"}, {"name": "x", "item_type": "hologram"}], "item_type"),
        ([{"name": "t", "item_type": "plainText", "content_base64": "@@@"}], "content_base64"),
        ([{"name": "g", "item_type": "imageGroup", "children": []}], "at least one frame"),
        ([{"item_type": "image"}], "'name'"),
    ]
    for specs, named in bad_batches:
        status, body = sandbox.control("POST", f"/sandbox/v1/storage/folders/{folder['uuid']}/items", {"items": specs})
        assert status == 400 and named in body["message"], body
    status, listed = await encord.v2(user, "GET", f"storage/folders/{folder['uuid']}/items")
    assert status == 200 and listed["results"] == []
    nowhere = "/sandbox/v1/storage/folders/00000000-0000-0000-0000-000000000000/items"
    assert sandbox.control("POST", nowhere, {"items": [{"name": "n", "item_type": "image"}]})[0] == 404
    assert sandbox.control("PUT", f"/sandbox/v1/storage/folders/{folder['uuid']}/organisation-tags", {"names": [1]})[0] == 400  # fmt: skip


# ---- listings ---------------------------------------------------------------------------------


async def test_pages_stay_put_while_items_arrive_and_foreign_tokens_are_refused(
    user: SandboxUser, encord: Encord
) -> None:
    folder = await encord.folder(user)
    encord.seed(folder["uuid"], [{"name": n, "item_type": "image"} for n in ("b", "c", "d", "e")])
    path = f"storage/folders/{folder['uuid']}/items"

    first_status, first = await encord.v2(user, "GET", path, pageSize=2)
    encord.seed(folder["uuid"], [{"name": "a", "item_type": "image"}])  # sorts before everything listed so far
    second_status, second = await encord.v2(user, "GET", path, pageSize=2, pageToken=first["nextPageToken"])

    assert (first_status, second_status) == (200, 200)
    assert [i["name"] for i in first["results"]] == ["b", "c"]
    assert [i["name"] for i in second["results"]] == ["d", "e"] and second["nextPageToken"] is None
    assert (await encord.v2(user, "GET", path, pageToken="not-a-token"))[0] == 400
    assert (await encord.v2(user, "GET", path, pageSize=1001))[0] == 400
    assert (await encord.v2(user, "GET", path, order="size"))[0] == 400
    assert (await encord.v2(user, "GET", path, itemTypes="hologram"))[0] == 400


async def test_top_level_listing_and_search_see_only_the_callers_folders(
    user: SandboxUser, encord: Encord, make_user: Any
) -> None:
    mine = await encord.folder(user, "mine")
    await encord.folder(user, "deep", parent=mine["uuid"])
    stranger = make_user()
    await encord.folder(stranger, "theirs")

    top_status, top = await encord.v2(user, "GET", "storage/folders")
    found_status, found = await encord.v2(user, "GET", "storage/search/folders", search="E")  # any case

    assert (top_status, found_status) == (200, 200)
    assert [f["name"] for f in top["results"]] == ["mine"]
    assert [f["name"] for f in found["results"]] == ["deep", "mine"]  # every depth; "theirs" is not the caller's
    status, _ = await encord.v2(stranger, "GET", f"storage/folders/{mine['uuid']}/folders")
    assert status == 403


# ---- blobs ------------------------------------------------------------------------------------


async def test_a_link_is_bound_to_its_blob_and_a_deleted_blob_is_gone(user: SandboxUser, encord: Encord) -> None:
    folder = await encord.folder(user)
    first, second = encord.seed(
        folder["uuid"],
        [
            {"name": "one.txt", "item_type": "plainText", "content_base64": base64.b64encode(b"one").decode()},
            {"name": "two.txt", "item_type": "plainText", "content_base64": base64.b64encode(b"two").decode()},
        ],
    )
    status, signed = encord.sandbox.control("POST", f"/sandbox/v1/storage/items/{first['uuid']}/signed-url", {"lifetime_seconds": 60})  # fmt: skip
    assert status == 200
    url = signed["url"]

    assert await encord.download(url) == (200, b"one")
    assert (await encord.download(url.replace(first["uuid"], second["uuid"])))[0] == 403  # another blob, same signature
    status, removed = await encord.v2(
        user, "POST", f"storage/folders/{folder['uuid']}/items/delete", {"childUuids": [first["uuid"]], "removeUnusedFrames": True}
    )  # fmt: skip
    assert (status, removed) == (200, {"removedItemsCount": 1, "removedFoldersCount": 0})
    assert (await encord.download(url))[0] == 404


# ---- writes -----------------------------------------------------------------------------------


async def test_deleting_children_counts_items_and_subfolders(user: SandboxUser, encord: Encord) -> None:
    folder = await encord.folder(user)
    sub = await encord.folder(user, "sub", parent=folder["uuid"])
    encord.seed(sub["uuid"], [{"name": "v", "item_type": "video"}, {"name": "i", "item_type": "image"}])
    (group,) = encord.seed(folder["uuid"], [{"name": "g", "item_type": "imageGroup", "children": ["f0", "f1"]}])

    status, removed = await encord.v2(
        user, "POST", f"storage/folders/{folder['uuid']}/items/delete", {"childUuids": [sub["uuid"], group["uuid"]]}
    )

    assert (status, removed) == (200, {"removedItemsCount": 5, "removedFoldersCount": 1})
    status, summary = await encord.v2(user, "GET", f"storage/folders/{folder['uuid']}/summary")
    assert status == 200
    assert (summary["files"], summary["folders"], summary["totalSize"]) == (0, 0, 0.0)
    status, _ = await encord.v2(user, "POST", f"storage/folders/{folder['uuid']}/items/delete", {"childUuids": [group["uuid"]]})  # fmt: skip
    assert status == 403  # gone, and Encord does not say whether it ever existed


async def test_migration_is_bounded_and_reports_what_it_cannot_find(user: SandboxUser, encord: Encord) -> None:
    folder = await encord.folder(user)
    (item,) = encord.seed(folder["uuid"], [{"name": "i", "item_type": "image"}])
    too_many = {str(n): None for n in range(1001)}
    missing = "00000000-0000-0000-0000-000000000001"

    assert (await encord.v2(user, "POST", "storage/items/migrate-storage", {"itemsMap": too_many}))[0] == 400
    status, refused = await encord.v2(
        user, "POST", "storage/items/migrate-storage", {"itemsMap": {missing: "s3://b/x"}}
    )
    assert status == 400 and missing in refused["message"]
    status, _ = await encord.v2(
        user, "POST", "storage/items/migrate-storage", {"itemsMap": {missing: "s3://b/x", item["uuid"]: "s3://b/i"}, "skipMissing": True}
    )  # fmt: skip
    assert status == 204
    status, moved = await encord.v2(user, "GET", f"storage/items/{item['uuid']}")
    assert status == 200
    assert (moved["url"], moved["storageLocation"]) == ("s3://b/i", "s3")


async def test_folder_config_must_be_one_the_sandbox_understands(user: SandboxUser, encord: Encord) -> None:
    folder = await encord.folder(user)
    path = f"storage/folders/{folder['uuid']}/folder-config"
    regex = {"metadataIngestion": {"matcher": {"mode": "regex", "suffix": ".json"}, "paused": False}}

    assert (await encord.v2(user, "POST", path, regex))[0] == 400
    assert (await encord.v2(user, "POST", path, [1, 2]))[0] == 400
    status, config = await encord.v2(user, "GET", path)
    assert (status, config) == (200, {"metadataIngestion": None})


async def test_items_enter_a_mirror_folder_only_by_upload(user: SandboxUser, encord: Encord) -> None:
    dataset = await new_dataset(encord, user, backing_folder=True)
    mirror = ok(await encord.v1(user, "dataset", "GET", ("dataset", dataset), payload=None))["backing_folder_uuid"]
    folder = await encord.folder(user)
    (item,) = encord.seed(folder["uuid"], [{"name": "i", "item_type": "image"}])

    status, refused = await encord.v2(
        user, "POST", f"storage/folders/{folder['uuid']}/items/move", {"itemUuids": [item["uuid"]], "newParentUuid": mirror}
    )  # fmt: skip

    assert status == 400 and "upload" in refused["message"]
    assert ok(await encord.v1(user, "dataset", "GET", ("dataset", dataset), payload=None))["data_rows"] == []


# ---- data units -------------------------------------------------------------------------------


async def test_a_project_reads_data_units_of_its_own_datasets_only(user: SandboxUser, encord: Encord) -> None:
    attached, other = await new_dataset(encord, user), await new_dataset(encord, user)
    (inside,) = encord.sandbox.seed_data_units(attached, [{"title": "in.jpg"}])
    (outside,) = encord.sandbox.seed_data_units(other, [{"title": "out.jpg"}])
    project = ok(
        await encord.v1(user, "project", "POST", ("", ""), payload={"title": "P", "dataset_hashes": [attached]})
    )

    unit = ok(await encord.v1(user, "datasetdata", "GET", ("project", project), uid={"data_hash": inside["data_hash"], "get_signed_url": False}))  # fmt: skip
    foreign = await encord.v1(user, "datasetdata", "GET", ("project", project), uid={"data_hash": outside["data_hash"], "get_signed_url": False})  # fmt: skip

    assert unit == {
        "data_hash": inside["data_hash"],
        "video": None,
        "images": [{"data_hash": inside["data_hash"], "image_hash": inside["data_hash"], "title": "in.jpg", "file_link": inside["file_link"]}],
    }  # fmt: skip
    assert code(foreign) == "RESOURCE_NOT_FOUND_ERROR"
    assert code(await encord.v1(user, "datasetdata", "GET", ("project", project), uid="not an object")) == "INVALID_ARGUMENTS_ERROR"  # fmt: skip


async def test_dataset_keys_reach_data_units_as_far_as_their_scopes(user: SandboxUser, encord: Encord) -> None:
    dataset = await new_dataset(encord, user)
    (unit,) = encord.sandbox.seed_data_units(dataset, [{"title": "a.jpg"}])
    payload = {"dataset_hash": dataset, "title": "reader", "scopes": ["dataset.read"]}
    key = ok(await encord.v1(user, "datasetapikey", "POST", ("", ""), payload=payload))["api_key"]
    resource = ("dataset", dataset)
    refetch = {"additional_data": {"signed_url": True, "images_data_fetch_options": None, "client_metadata": True}}

    row = ok(await encord.v1(user, "datarow", "GET", resource, uid=unit["data_hash"], payload=refetch, api_key=key))
    rename = await encord.v1(user, "datarow", "POST", resource, uid=unit["data_hash"], payload={"data_title": "b"}, api_key=key)  # fmt: skip

    assert row["data_title"] == "a.jpg" and row["signed_url"] and row["client_metadata"] == {}
    assert code(rename) == "OPERATION_NOT_ALLOWED"
    updated = ok(await encord.v1(user, "datarow", "POST", resource, uid=unit["data_hash"], payload={"data_title": "b"}))
    assert updated["updated_fields"] == ["data_title"] and updated["data_row"]["data_title"] == "b"


async def test_re_encoding_jobs_belong_to_their_dataset(user: SandboxUser, encord: Encord) -> None:
    first, second = await new_dataset(encord, user), await new_dataset(encord, user)
    (video,) = encord.sandbox.seed_data_units(first, [{"title": "v.mp4", "data_type": "VIDEO"}])
    job = ok(await encord.v1(user, "reencodevideotask", "PUT", ("dataset", first), payload={"data_hash": [video["data_hash"]]}))  # fmt: skip

    assert isinstance(job, int)
    assert code(await encord.v1(user, "reencodevideotask", "GET", ("dataset", second), uid=job)) == "RESOURCE_NOT_FOUND_ERROR"  # fmt: skip
    assert code(await encord.v1(user, "reencodevideotask", "GET", ("dataset", first), uid=str(job))) == "INVALID_ARGUMENTS_ERROR"  # fmt: skip
    assert ok(await encord.v1(user, "reencodevideotask", "GET", ("dataset", first), uid=job))["status"] == "SUBMITTED"


async def test_ocr_and_image_group_deletion_take_image_groups_only(user: SandboxUser, encord: Encord) -> None:
    dataset = await new_dataset(encord, user)
    group, image = encord.sandbox.seed_data_units(
        dataset, [{"title": "g", "data_type": "IMG_GROUP", "images": ["p1", "p2"]}, {"title": "i.jpg"}]
    )
    resource = ("dataset", dataset)

    pages = ok(await encord.v1(user, "imagegroupocr", "GET", resource, payload={"image_group_data_hash": group["data_hash"]}))  # fmt: skip
    assert [p["processed_texts"]["texts"][0]["text"] for p in pages] == ["p1", "p2"]
    assert code(await encord.v1(user, "imagegroupocr", "GET", resource, payload={"image_group_data_hash": image["data_hash"]})) == "INVALID_ARGUMENTS_ERROR"  # fmt: skip
    assert code(await encord.v1(user, "imagegroup", "DELETE", resource, uid=image["data_hash"])) == "INVALID_ARGUMENTS_ERROR"  # fmt: skip
    assert ok(await encord.v1(user, "imagegroup", "DELETE", resource, uid=group["data_hash"])) is True
    rows = ok(await encord.v1(user, "dataset", "GET", resource, payload=None))["data_rows"]
    assert [r["data_title"] for r in rows] == ["i.jpg"]
