"""The official SDK uploading to the sandbox as a user would: files through signed URLs, registrations and their jobs,
private-cloud imports, cloud-synced folders, re-encoding, scenes, and the seed-era upload calls (driven through
the SDK's own v1 transport, `legacy_v1_call`, since 0.1.211 no longer makes them). What goes up is read back.
"""

from __future__ import annotations

import hashlib
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
import requests
from encord import EncordUserClient
from encord.beta.scene.builder import SceneBuilder
from encord.beta.scene.reader import SceneReader
from encord.exceptions import CloudUploadError, EncordException
from encord.http.utils import CloudUploadSettings, UploadPresignedUrlsGetParams
from encord.http.v2.payloads import Page
from encord.orm.dataset import DatasetDataLongPolling, DataType, LongPollingStatus, StorageLocation
from encord.orm.storage import (
    CloudSyncedFolderParams,
    DatasetDataLongPollingParams,
    DataUploadImage,
    DataUploadItems,
    StorageItemType,
    UploadSignedUrl,
)
from wire.wire_legacy import legacy_v1_call

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


@pytest.fixture
def integration(sandbox: Sandbox, user: SandboxUser) -> str:
    status, body = sandbox.control("POST", "/sandbox/v1/cloud-integrations", {"owner": user.email, "title": "bucket"})
    assert status == 201, body
    return str(body["integration_uuid"])


def write(directory: Path, name: str, content: bytes) -> Path:
    path = directory / name
    path.write_bytes(content)
    return path


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def content(seed: str, size: int = 3000) -> bytes:
    """Bytes of a file no other test uploads."""
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


# ---- the current flow into datasets (§5.7.1) ---------------------------------------------------------------


def test_an_image_uploaded_into_a_dataset_reads_back_byte_for_byte(client: EncordUserClient, tmp_path: Path) -> None:
    dataset = client.get_dataset(client.create_dataset("Uploads", StorageLocation.CORD_STORAGE).dataset_hash)
    data = content("street.jpg")

    image = dataset.upload_image(write(tmp_path, "street.jpg", data))

    (row,) = dataset.list_data_rows()
    assert (row.uid, row.title, row.data_type) == (image["data_hash"], "street.jpg", DataType.IMAGE)
    assert image["file_link"] and row.file_size == len(data)
    row.refetch_data(signed_url=True)
    assert download(row.signed_url) == data


def test_a_video_an_image_group_and_a_dicom_series_become_data_units(client: EncordUserClient, tmp_path: Path) -> None:
    dataset = client.get_dataset(client.create_dataset("Media", StorageLocation.CORD_STORAGE).dataset_hash)

    video = dataset.upload_video(write(tmp_path, "clip.mp4", content("clip")), title="Clip")
    groups = dataset.create_image_group(
        [write(tmp_path, f"frame-{i}.jpg", content(f"frame-{i}")) for i in range(3)], title="Frames", create_video=False
    )
    series = dataset.create_dicom_series([write(tmp_path, f"slice-{i}.dcm", content(f"slice-{i}")) for i in range(2)])

    rows = {row.uid: row for row in dataset.list_data_rows()}
    assert rows[video["data_hash"]].title == "Clip" and rows[video["data_hash"]].data_type == DataType.VIDEO
    assert rows[groups[0]["data_hash"]].data_type == DataType.IMG_GROUP and groups[0]["title"] == "Frames"
    assert rows[series["data_hash"]].data_type == DataType.DICOM
    group_row = rows[groups[0]["data_hash"]]
    group_row.refetch_data(images_data_fetch_options=None)
    assert len(dataset.list_data_rows(data_hashes=[groups[0]["data_hash"]])) == 1


def test_an_upload_into_a_dataset_without_a_folder_of_its_own_needs_one_named(
    client: EncordUserClient, tmp_path: Path
) -> None:
    created = client.create_dataset("Plain", StorageLocation.CORD_STORAGE, create_backing_folder=False)
    dataset = client.get_dataset(created.dataset_hash)
    folder = client.create_storage_folder(f"Inbox {uuid.uuid4().hex[:6]}")
    path = write(tmp_path, "a.jpg", content("inbox"))

    with pytest.raises(EncordException, match="name the storage folder"):
        dataset.upload_image(path)
    image = dataset.upload_image(path, folder=folder)

    (item,) = folder.list_items()
    assert item.name == "a.jpg" and [row.uid for row in dataset.list_data_rows()] == [image["data_hash"]]
    assert str(dataset.list_data_rows()[0].backing_item_uuid) == str(item.uuid)


def test_an_expired_upload_url_is_refused_by_the_bucket(
    client: EncordUserClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    dataset = client.get_dataset(client.create_dataset("Late", StorageLocation.CORD_STORAGE).dataset_hash)
    assert sandbox.control("POST", "/sandbox/v1/uploads/expired-urls", {"count": 1})[0] == 204

    with pytest.raises(CloudUploadError, match="403"):
        dataset.upload_image(
            write(tmp_path, "late.jpg", b"late"), cloud_upload_settings=CloudUploadSettings(max_retries=0)
        )
    assert dataset.list_data_rows() == []


def test_a_registration_of_a_file_never_uploaded_fails_that_unit(client: EncordUserClient) -> None:
    dataset = client.create_dataset("Missing", StorageLocation.CORD_STORAGE)
    result = _register_without_upload(client, dataset.dataset_hash)

    assert result.status == LongPollingStatus.ERROR
    (error,) = result.data_unit_errors
    assert "no file was uploaded" in error.error and error.action_description == "Uploading image"


def _register_without_upload(client: EncordUserClient, dataset_hash: str) -> Any:
    sdk_dataset = client.get_dataset(dataset_hash)
    internal = sdk_dataset._client
    (url,) = internal._api_client.get(
        "presigned-urls",
        params=UploadPresignedUrlsGetParams(count=1, upload_item_type=StorageItemType.IMAGE),
        result_type=Page[UploadSignedUrl],
    ).results
    job = internal._querier.basic_setter(
        DatasetDataLongPolling,
        uid=dataset_hash,
        payload=DatasetDataLongPollingParams(
            data_items=DataUploadItems(images=[DataUploadImage(object_url=url.object_key, title="ghost.jpg")]),
            files=None,
            integration_id=None,
            ignore_errors=False,
            folder_uuid=None,
            file_name=None,
        ),
    )["process_hash"]
    return sdk_dataset.add_private_data_to_dataset_get_result(job, timeout_seconds=5)


# ---- storage folders (S-20..S-23) ----------------------------------------------------------------------------


def test_files_uploaded_into_a_folder_read_back_through_their_signed_urls(
    client: EncordUserClient, tmp_path: Path
) -> None:
    folder = client.create_storage_folder(f"Scans {uuid.uuid4().hex[:6]}")
    image_data, video_data = content("scan.png"), content("scan.mp4", 5000)

    image_uuid = folder.upload_image(write(tmp_path, "scan.png", image_data), client_metadata={"site": "A"})
    video_uuid = folder.upload_video(write(tmp_path, "scan.mp4", video_data), title="Scan video")

    image = client.get_storage_item(image_uuid, sign_url=True)
    video = client.get_storage_item(video_uuid, sign_url=True)
    assert (image.name, image.client_metadata, image.item_type) == ("scan.png", {"site": "A"}, StorageItemType.IMAGE)
    assert (video.name, video.item_type) == ("Scan video", StorageItemType.VIDEO)
    assert download(image.get_signed_url()) == image_data and download(video.get_signed_url()) == video_data
    assert sorted(i.name for i in folder.list_items()) == ["Scan video", "scan.png"]


def test_a_folder_upload_job_cancelled_half_way_keeps_what_it_registered(
    client: EncordUserClient, integration: str
) -> None:
    folder = client.create_storage_folder(f"Bulk {uuid.uuid4().hex[:6]}")
    spec = {"images": [{"objectUrl": f"s3://bulk/{uuid.uuid4().hex}/{i}.jpg"} for i in range(25)]}

    job = folder.add_private_data_to_folder_start(integration, spec)
    first_look = folder._add_data_to_folder_get_result(job, timeout_seconds=0)
    cancelled = folder.add_data_to_folder_job_cancel(job)
    final = folder._add_data_to_folder_get_result(job, timeout_seconds=0)

    assert (first_look.status, first_look.units_done_count, first_look.units_pending_count) == (
        LongPollingStatus.PENDING, 10, 15,
    )  # fmt: skip
    assert cancelled.units_cancelled_count == 15
    assert (final.status, final.units_done_count, final.units_cancelled_count) == (LongPollingStatus.CANCELLED, 10, 15)
    assert len(final.items_with_names) == 10 and len(list(folder.list_items())) == 10


# ---- private cloud (§5.7.3) ----------------------------------------------------------------------------------


def test_private_cloud_files_become_data_units_and_chosen_urls_fail_one_by_one(
    client: EncordUserClient, sandbox: Sandbox, integration: str
) -> None:
    dataset = client.get_dataset(client.create_dataset("Cloud", StorageLocation.CORD_STORAGE).dataset_hash)
    base = f"s3://cloud-bucket/{uuid.uuid4().hex}"
    broken = f"{base}/broken.jpg"
    status, _ = sandbox.control(
        "POST", f"/sandbox/v1/cloud-integrations/{integration}/bucket", {"failures": {broken: "AccessDenied: no read"}}
    )
    assert status == 200

    added = dataset.add_private_data_to_dataset(
        integration,
        {"images": [{"objectUrl": f"{base}/a.jpg", "title": "A"}], "videos": [{"objectUrl": f"{base}/b.mp4"}]},
    )
    assert sorted(info.title for info in added.dataset_data_list) == ["A", "b.mp4"]
    with pytest.raises(EncordException, match="AccessDenied"):
        dataset.add_private_data_to_dataset(integration, {"images": [{"objectUrl": broken}]})
    job = dataset.add_private_data_to_dataset_start(
        integration, {"images": [{"objectUrl": broken}, {"objectUrl": f"{base}/c.jpg"}]}, ignore_errors=True
    )
    result = dataset.add_private_data_to_dataset_get_result(job)

    assert (result.status, result.units_done_count, result.units_error_count) == (LongPollingStatus.DONE, 1, 1)
    (error,) = result.data_unit_errors
    assert (error.object_urls, error.error) == ([broken], "AccessDenied: no read")
    assert sorted(row.title for row in dataset.list_data_rows()) == ["A", "b.mp4", "c.jpg"]


def test_an_unknown_integration_is_refused(client: EncordUserClient) -> None:
    dataset = client.get_dataset(client.create_dataset("Nope", StorageLocation.CORD_STORAGE).dataset_hash)

    with pytest.raises(EncordException):
        dataset.add_private_data_to_dataset_start(str(uuid.uuid4()), {"images": [{"objectUrl": "s3://b/x.jpg"}]})


def test_a_cloud_synced_folder_mirrors_its_bucket_prefix(
    client: EncordUserClient, sandbox: Sandbox, integration: str
) -> None:
    prefix = f"s3://synced/{uuid.uuid4().hex}/"
    bucket = f"/sandbox/v1/cloud-integrations/{integration}/bucket"
    sandbox.control("POST", bucket, {"objects": [prefix + "a.jpg", prefix + "b.mp4", "s3://synced/elsewhere.jpg"]})
    folder = client.create_storage_folder(
        f"Synced {uuid.uuid4().hex[:6]}",
        cloud_synced_folder_params=CloudSyncedFolderParams(integration_uuid=UUID(integration), remote_url=prefix),
    )

    first = folder.sync_private_data_with_cloud_synced_folder_get_result(
        folder.sync_private_data_with_cloud_synced_folder_start()
    )

    assert first.status.value == "done" and first.upload_jobs_units_done == 2
    items = {item.name: item for item in folder.list_items()}
    assert sorted(items) == ["a.jpg", "b.mp4"] and items["b.mp4"].item_type == StorageItemType.VIDEO
    assert client.get_storage_folder(folder.uuid).remote_url == prefix


# ---- re-encoding and scenes (S-27, E-10) ---------------------------------------------------------------------


def test_storage_videos_re_encode_after_a_check_or_two(client: EncordUserClient, tmp_path: Path) -> None:
    folder = client.create_storage_folder(f"Videos {uuid.uuid4().hex[:6]}")
    video = folder.upload_video(write(tmp_path, "v.mp4", content("reencode")))

    job = folder.re_encode_videos([video], "fix codecs", force_full_reencoding=True)

    assert folder.get_re_encoding_status(job).status.value == "submitted"
    done = folder.get_re_encoding_status(job)
    assert done.status.value == "done" and [r["itemUuid"] for r in done.result] == [str(video)]


def test_a_scene_of_cloud_files_reads_back_stream_by_stream(client: EncordUserClient, integration: str) -> None:
    folder = client.create_storage_folder(f"Scenes {uuid.uuid4().hex[:6]}")
    base = f"s3://lidar/{uuid.uuid4().hex}"
    builder = SceneBuilder()
    builder.add_pcd_stream("lidar").add_pcd(uri=f"{base}/0.pcd", timestamp=0.0).add_pcd(
        uri=f"{base}/1.pcd", timestamp=0.1
    )

    scene_uuid = folder.upload_scene(builder, "Drive", integration)

    item = client.get_storage_item(scene_uuid)
    (stream,) = SceneReader(item).read().point_cloud_streams
    assert item.item_type == StorageItemType.SCENE and item.name == "Drive"
    assert [event.url for event in stream.events] == [f"{base}/0.pcd", f"{base}/1.pcd"]


def test_a_scene_file_is_registered_from_its_upload(client: EncordUserClient, tmp_path: Path) -> None:
    folder = client.create_storage_folder(f"Scene files {uuid.uuid4().hex[:6]}")
    data = content("cloud.pcd", 4000)

    scene_uuid = folder.upload_scene_file(write(tmp_path, "cloud.pcd", data))

    item = client.get_storage_item(scene_uuid, sign_url=True)
    assert (item.item_type, item.name) == (StorageItemType.SCENE, "cloud.pcd")
    assert SceneReader(item).view_settings is None  # the scene reads back (the SDK reads no more of a single file)
    assert download(item._orm_item.signed_url) == data  # get_signed_url() declines scenes; the item carries it


# ---- the seed-era calls (§5.7.2, D-23) ----------------------------------------------------------------------


def put(url: str, data: bytes, content_type: str) -> int:
    """The old SDK's PUT: the bytes, their type and a cache header, no upload headers (its answers gave none)."""
    return requests.put(
        url, data=data, headers={"Content-Type": content_type, "Cache-Control": "max-age=86400"}
    ).status_code


def dataset_resource(client: EncordUserClient, title: str) -> tuple[str, tuple[str, str]]:
    dataset_hash = client.create_dataset(title, StorageLocation.CORD_STORAGE).dataset_hash
    return dataset_hash, ("dataset", dataset_hash)


def test_a_seed_era_video_upload_registers_under_the_data_hash_it_was_given(client: EncordUserClient) -> None:
    dataset_hash, resource = dataset_resource(client, "Seed video")
    data = content("seed.mp4")

    signed = legacy_v1_call(client, "signedvideourl", "GET", uid="seed.mp4", resource=resource)
    assert put(signed["signed_url"], data, "application/octet-stream") == 201
    video = legacy_v1_call(client, "video", "PUT", uid=signed["data_hash"], payload=signed, resource=resource)

    assert video["data_hash"] == signed["data_hash"]
    (row,) = client.get_dataset(dataset_hash).list_data_rows()
    assert (row.uid, row.data_type) == (signed["data_hash"], DataType.VIDEO)
    row.refetch_data(signed_url=True)
    assert download(row.signed_url) == data


def test_seed_era_images_make_a_single_image_and_an_image_group(client: EncordUserClient) -> None:
    dataset_hash, resource = dataset_resource(client, "Seed images")
    names = ["one.jpg", "two.jpg", "three.jpg"]

    signed = legacy_v1_call(client, "signedimagesurl", "GET", uid=names, resource=resource)
    for entry in signed:
        assert put(entry["signed_url"], content(entry["title"]), "image/jpeg") == 201
    single = legacy_v1_call(
        client, "singleimage", "POST", uid=None, payload={**signed[0], "title": "Single"}, resource=resource
    )
    registered = legacy_v1_call(client, "images", "PUT", uid=None, payload=signed[1:], resource=resource)
    groups = legacy_v1_call(
        client, "imagegroup", "POST", uid=[r["data_hash"] for r in registered],
        payload={"image_group_title": "Pair", "create_video": False}, resource=resource,
    )  # fmt: skip

    assert single == {"success": True}
    rows = {row.title: row for row in client.get_dataset(dataset_hash).list_data_rows()}
    assert rows["Single"].data_type == DataType.IMAGE and rows["Pair"].data_type == DataType.IMG_GROUP
    assert groups[0]["data_hash"] == rows["Pair"].uid


def test_a_seed_era_image_group_needs_its_images_registered_first(client: EncordUserClient) -> None:
    _, resource = dataset_resource(client, "Seed order")
    (signed,) = legacy_v1_call(client, "signedimagesurl", "GET", uid=["only.jpg"], resource=resource)
    put(signed["signed_url"], b"img", "image/jpeg")

    with pytest.raises(EncordException, match="not registered"):
        legacy_v1_call(client, "imagegroup", "POST", uid=[signed["data_hash"]], payload={}, resource=resource)
    legacy_v1_call(client, "image", "PUT", uid=signed["data_hash"], payload=signed, resource=resource)
    assert legacy_v1_call(client, "imagegroup", "POST", uid=[signed["data_hash"]], payload={}, resource=resource)


def test_a_seed_era_dicom_series_is_made_of_its_uploaded_files(client: EncordUserClient) -> None:
    dataset_hash, resource = dataset_resource(client, "Seed DICOM")

    signed = legacy_v1_call(client, "signeddicomsurl", "GET", uid=["1.dcm", "2.dcm"], resource=resource)
    for entry in signed:
        assert put(entry["signed_url"], content(entry["title"]), "application/dicom") == 201
    series = legacy_v1_call(
        client, "dicomseries", "POST", uid=[{"id": s["data_hash"], "uri": s["file_link"], "title": s["title"]} for s in signed],
        payload={"title": "Study"}, resource=resource,
    )  # fmt: skip

    (row,) = client.get_dataset(dataset_hash).list_data_rows()
    assert (row.uid, row.title, row.data_type) == (series["data_hash"], "Study", DataType.DICOM)


def test_a_seed_era_registration_of_a_file_never_uploaded_is_refused(client: EncordUserClient) -> None:
    _, resource = dataset_resource(client, "Seed missing")
    signed = legacy_v1_call(client, "signedvideourl", "GET", uid="ghost.mp4", resource=resource)

    with pytest.raises(EncordException, match="no file was uploaded"):
        legacy_v1_call(client, "video", "PUT", uid=signed["data_hash"], payload=signed, resource=resource)


def test_the_seed_era_synchronous_private_cloud_call_answers_the_new_units(
    client: EncordUserClient, integration: str
) -> None:
    dataset_hash, resource = dataset_resource(client, "Seed cloud")
    url = f"s3://seed/{uuid.uuid4().hex}.mp4"

    answer = legacy_v1_call(
        client, "datasetdata", "POST", uid=dataset_hash,
        payload={"integration_id": integration, "ignore_errors": False, "files": {"videos": [{"objectUrl": url}]}},
        resource=resource,
    )  # fmt: skip

    (row,) = client.get_dataset(dataset_hash).list_data_rows()
    assert answer == {
        "dataset_data_info": [
            {"data_hash": row.uid, "title": row.title, "backing_item_uuid": str(row.backing_item_uuid)}
        ]
    }
