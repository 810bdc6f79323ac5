"""Wire-equality cases of the uploads domain: streamed uploads, cloud imports, their jobs, signed URLs, cloud-synced
folders, re-encoding, scenes and the seed-era upload calls.

Signed upload URLs come with keys the sandbox makes up per URL, so a registration of the SDK's upload and of the
gateway's name different objects: those members are masked, and so is a folder job's id in a poll's path (a job of
different objects). Everything else, the job's id in v1 payloads included where both sides register the same thing,
is compared byte for byte. The PUTs themselves go to the bucket's own address, not through the recorder.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from functools import cache
from pathlib import Path
from tempfile import mkdtemp
from typing import Any
from uuid import UUID

import requests
from encord.beta.scene.builder import SceneBuilder
from encord.beta.scene.reader import SceneReader
from encord.http.utils import UploadPresignedUrlsGetParams
from encord.http.v2.payloads import Page
from encord.orm.dataset import DatasetDataLongPolling
from encord.orm.storage import (
    CloudSyncedFolderParams,
    DatasetDataLongPollingParams,
    DataUploadDicomSeries,
    DataUploadDicomSeriesDicomFile,
    DataUploadImage,
    DataUploadImageGroup,
    DataUploadImageGroupImage,
    DataUploadItems,
    StorageItemType,
    UploadSignedUrl,
)
from encord_gateway._generated.encord.gateway.v1 import storage_pb2, uploads_pb2
from wire_harness import Given, WireCase, WireSides
from wire_legacy import legacy_v1_call

IMAGE_KEY = "values.payload.dataItems.images.0.objectUrl"
FOLDER_JOB = "path:7"  # /v2/public/storage/folders/<folder>/data-upload-jobs/<job>
EVERY_SPEC_LIST = ("videos", "images", "audio", "text", "pdf", "nifti")  # what CloudFiles sends, empty or not


# ---- setup helpers -----------------------------------------------------------------------------------------


def control(sides: WireSides, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"{sides.recorder.forward_to}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


@cache
def _integration(public_key_hex: str, owner: str, forward_to: str) -> str:
    request = urllib.request.Request(
        f"{forward_to}/sandbox/v1/cloud-integrations",
        data=json.dumps({"owner": owner, "title": "wire"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["integration_uuid"])


def integration(sides: WireSides) -> str:
    """A cloud integration of the wire organisation, made once: whichever member owns it, the wire user (the
    organisation's admin) may use it."""
    owner = next(user.email for user in sides.sdk.list_organisation_users())
    return _integration(sides.public_key_hex, owner, sides.recorder.forward_to)


def content(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest() * 64


def local_file(name: str, data: bytes) -> Path:
    path = Path(mkdtemp(prefix="wire-upload-")) / name
    path.write_bytes(data)
    return path


def uploaded_keys(sides: WireSides, item_type: StorageItemType, names: list[str]) -> list[str]:
    """Objects uploaded as the current flow uploads them (presigned URLs, then PUTs), unrecorded: their keys."""
    urls = sides.sdk._api_client.get(
        "presigned-urls",
        params=UploadPresignedUrlsGetParams(count=len(names), upload_item_type=item_type),
        result_type=Page[UploadSignedUrl],
    ).results
    for url, name in zip(urls, names, strict=True):
        assert requests.put(url.signed_url, data=content(name), headers=url.upload_headers).status_code == 201
    return [url.object_key for url in urls]


def with_dataset(sides: WireSides) -> Given:
    """A dataset, and the SDK's object of it (fetched now: the SDK's actions must not fetch it again)."""
    dataset = sides.new_dataset(sides.unique("uploads"))
    return {"dataset": dataset, "sdk_dataset": sides.sdk.get_dataset(dataset)}


def with_file(sides: WireSides) -> Given:
    name = f"{sides.unique('street')}.jpg"
    return {**with_dataset(sides), "name": name, "path": local_file(name, content(name))}


def with_folder(sides: WireSides) -> Given:
    folder = sides.sdk.create_storage_folder(sides.unique("inbox"))
    name = f"{sides.unique('scan')}.png"
    return {"folder": folder, "folder_uuid": str(folder.uuid), "name": name, "path": local_file(name, content(name))}


def cloud_spec(sides: WireSides, count: int = 1) -> dict[str, Any]:
    """A JSON specification as CloudFiles sends it: every list present, images of objects no other case names."""
    base = f"s3://wire-cloud/{sides.unique('import')}"
    images = [{"objectUrl": f"{base}/{n}.jpg"} for n in range(count)]
    return {key: images if key == "images" else [] for key in EVERY_SPEC_LIST}


def cloud_files(spec: dict[str, Any]) -> uploads_pb2.CloudFiles:
    return uploads_pb2.CloudFiles(images=[uploads_pb2.CloudFile(object_url=i["objectUrl"]) for i in spec["images"]])


def with_cloud_import(sides: WireSides) -> Given:
    return {**with_dataset(sides), "integration": integration(sides), "spec": cloud_spec(sides)}


def with_dataset_job(sides: WireSides) -> Given:
    given = with_cloud_import(sides)
    job = given["sdk_dataset"].add_private_data_to_dataset_start(given["integration"], given["spec"])
    return {**given, "job": job}


def with_folder_job(sides: WireSides, count: int = 1) -> Given:
    given = with_folder(sides)
    spec = cloud_spec(sides, count)
    job = given["folder"].add_private_data_to_folder_start(integration(sides), spec)
    return {**given, "integration": integration(sides), "spec": spec, "job": str(job)}


def sdk_folder_upload(sides: WireSides, given: Given) -> object:
    """StorageFolder.upload_image, step by step (its own calls), polling with a budget the gateway can send too."""
    folder, title = given["folder"], given["name"]
    (url,) = folder._get_upload_signed_urls(item_type=StorageItemType.IMAGE, count=1, frames_subfolder_name=None)
    folder._upload_local_file(
        given["path"], title, StorageItemType.IMAGE, url.signed_url, upload_headers=url.upload_headers
    )
    items = DataUploadItems(
        images=[DataUploadImage(object_url=url.object_key, placeholder_item_uuid=url.item_uuid, title=title)]
    )
    job = folder._add_data_to_folder_start(None, items, False)
    return folder._add_data_to_folder_get_result(job, timeout_seconds=60)


def sdk_register(given: Given, items: DataUploadItems) -> str:
    """The current flow's registration (§5.7.1 step 3) as Dataset.upload_* sends it."""
    dataset, internal = given["dataset"], given["sdk_dataset"]._client
    payload = DatasetDataLongPollingParams(
        data_items=items, files=None, integration_id=None, ignore_errors=False, folder_uuid=None, file_name=None
    )
    return str(internal._querier.basic_setter(DatasetDataLongPolling, uid=dataset, payload=payload)["process_hash"])


def with_uploaded_images(sides: WireSides) -> Given:
    names = [f"{sides.unique('frame')}-{n}.jpg" for n in range(2)]
    return {**with_dataset(sides), "names": names, "keys": uploaded_keys(sides, StorageItemType.IMAGE, names)}


def with_uploaded_dicom(sides: WireSides) -> Given:
    names = [f"{sides.unique('slice')}-{n}.dcm" for n in range(2)]
    return {**with_dataset(sides), "names": names, "keys": uploaded_keys(sides, StorageItemType.DICOM_FILE, names)}


def legacy(sides: WireSides, dataset: str, query_type: str, method: str, **values: Any) -> Any:
    return legacy_v1_call(sides.sdk, query_type, method, resource=("dataset", dataset), **values)


def legacy_put(url: str, data: bytes, content_type: str) -> None:
    """The old SDK's PUT: its bytes, their type and a cache header (the seed-era answers named no upload headers)."""
    headers = {"Content-Type": content_type, "Cache-Control": "max-age=86400"}
    assert requests.put(url, data=data, headers=headers).status_code == 201


def sdk_legacy_video(sides: WireSides, given: Given) -> object:
    signed = legacy(sides, given["dataset"], "signedvideourl", "GET", uid=given["name"])
    legacy_put(signed["signed_url"], content(given["name"]), "application/octet-stream")
    payload = {**signed, "video_title": None}
    return legacy(sides, given["dataset"], "video", "PUT", uid=signed["data_hash"], payload=payload)


def sdk_legacy_image(sides: WireSides, given: Given, *, for_group: bool) -> object:
    (signed,) = legacy(sides, given["dataset"], "signedimagesurl", "GET", uid=given["name"])
    legacy_put(signed["signed_url"], content(given["name"]), "image/jpeg")
    if for_group:
        return legacy(sides, given["dataset"], "image", "PUT", uid=signed["data_hash"], payload=signed)
    return legacy(sides, given["dataset"], "singleimage", "POST", uid=None, payload=signed)


def sdk_legacy_dicom(sides: WireSides, given: Given) -> object:
    (signed,) = legacy(sides, given["dataset"], "signeddicomsurl", "GET", uid=[given["name"]])
    legacy_put(signed["signed_url"], content(given["name"]), "application/dicom")
    return signed


def with_registered_images(sides: WireSides) -> Given:
    given = with_dataset(sides)
    names = [f"{sides.unique('group')}-{n}.jpg" for n in range(2)]
    signed = legacy(sides, given["dataset"], "signedimagesurl", "GET", uid=names)
    for entry in signed:
        legacy_put(entry["signed_url"], content(entry["title"]), "image/jpeg")
    legacy(sides, given["dataset"], "images", "PUT", uid=None, payload=signed)
    return {**given, "hashes": [entry["data_hash"] for entry in signed]}


def with_uploaded_dicom_legacy(sides: WireSides) -> Given:
    given = with_dataset(sides)
    names = [f"{sides.unique('study')}-{n}.dcm" for n in range(2)]
    signed = legacy(sides, given["dataset"], "signeddicomsurl", "GET", uid=names)
    for entry in signed:
        legacy_put(entry["signed_url"], content(entry["title"]), "application/dicom")
    return {**given, "files": [{"id": s["data_hash"], "uri": s["file_link"], "title": s["title"]} for s in signed]}


def with_synced_folder(sides: WireSides) -> Given:
    prefix = f"s3://wire-synced/{sides.unique('sync')}/"
    owner = integration(sides)
    control(sides, f"/sandbox/v1/cloud-integrations/{owner}/bucket", {"objects": [prefix + "a.jpg"]})
    folder = sides.sdk.create_storage_folder(
        sides.unique("synced"),
        cloud_synced_folder_params=CloudSyncedFolderParams(integration_uuid=UUID(owner), remote_url=prefix),
    )
    return {"folder": folder, "folder_uuid": str(folder.uuid)}


def with_folder_sync(sides: WireSides) -> Given:
    given = with_synced_folder(sides)
    return {**given, "sync": str(given["folder"].sync_private_data_with_cloud_synced_folder_start())}


def with_video_item(sides: WireSides) -> Given:
    folder = sides.sdk.create_storage_folder(sides.unique("videos"))
    (item,) = control(
        sides, f"/sandbox/v1/storage/folders/{folder.uuid}/items", {"items": [{"name": "v.mp4", "item_type": "video"}]}
    )["items"]
    return {"folder": folder, "item": item["uuid"]}


def with_reencode(sides: WireSides) -> Given:
    given = with_video_item(sides)
    return {**given, "job": str(given["folder"].re_encode_videos([UUID(given["item"])], "wire", False))}


def with_scene(sides: WireSides) -> Given:
    folder = sides.sdk.create_storage_folder(sides.unique("scenes"))
    base = f"s3://wire-lidar/{sides.unique('drive')}"
    builder = SceneBuilder()
    builder.add_pcd_stream("lidar").add_pcd(uri=f"{base}/0.pcd", timestamp=0.0)
    scene = folder.upload_scene(builder, "Drive", integration(sides))
    return {"item": sides.sdk.get_storage_item(scene)}


def dataset_and_name(given: Given, cls: Any, **fields: Any) -> Any:
    return cls(dataset_hash=given["dataset"], name=given["name"], chunk=content(given["name"]), **fields)


# ---- cases --------------------------------------------------------------------------------------------------

CASES = [
    WireCase(
        name="UploadFiles of one image as Dataset.upload_image",
        rpc="UploadService.UploadFiles",
        proves=("D-20", "D-21"),
        setup=with_file,
        sdk=lambda sides, given: given["sdk_dataset"].upload_image(given["path"]),
        request=lambda given: dataset_and_name(
            given, uploads_pb2.UploadFilesRequest, item_type=uploads_pb2.UPLOAD_FILE_TYPE_IMAGE
        ),
        masks=(IMAGE_KEY, "values.payload.process_hash"),
    ),
    WireCase(
        name="UploadFiles of one video with a title as Dataset.upload_video",
        rpc="UploadService.UploadFiles",
        proves=("D-20", "D-21"),
        setup=with_file,
        sdk=lambda sides, given: given["sdk_dataset"].upload_video(given["path"], title="Clip"),
        request=lambda given: dataset_and_name(
            given, uploads_pb2.UploadFilesRequest, item_type=uploads_pb2.UPLOAD_FILE_TYPE_VIDEO, title="Clip"
        ),
        masks=("values.payload.dataItems.videos.0.objectUrl", "values.payload.process_hash"),
    ),
    WireCase(
        name="UploadFolderFiles of one image as StorageFolder.upload_image",
        rpc="UploadService.UploadFolderFiles",
        proves=("S-20", "S-21", "S-22"),
        setup=with_folder,
        sdk=sdk_folder_upload,
        request=lambda given: uploads_pb2.UploadFolderFilesRequest(
            folder_uuid=given["folder_uuid"],
            item_type=uploads_pb2.UPLOAD_FILE_TYPE_IMAGE,
            name=given["name"],
            chunk=content(given["name"]),
            timeout_seconds=60,
        ),
        masks=("dataItems.images.0.objectUrl", "dataItems.images.0.placeholderItemUuid", FOLDER_JOB),
    ),
    WireCase(
        name="ImportFromCloud as add_private_data_to_dataset",
        rpc="UploadService.ImportFromCloud",
        proves=("D-22", "D-24"),
        setup=with_cloud_import,
        sdk=lambda sides, given: given["sdk_dataset"].add_private_data_to_dataset(given["integration"], given["spec"]),
        request=lambda given: uploads_pb2.ImportFromCloudRequest(
            dataset_hash=given["dataset"], integration_id=given["integration"], files=cloud_files(given["spec"])
        ),
    ),
    WireCase(
        name="WatchJob as StorageFolder's get_result",
        rpc="UploadService.WatchJob",
        proves=("S-22",),
        setup=with_folder_job,
        sdk=lambda sides, given: given["folder"]._add_data_to_folder_get_result(UUID(given["job"]), timeout_seconds=60),
        request=lambda given: uploads_pb2.WatchJobRequest(
            folder_uuid=given["folder_uuid"], job_id=given["job"], timeout_seconds=60
        ),
    ),
    WireCase(
        name="WatchDatasetJob as add_private_data_to_dataset_get_result",
        rpc="UploadService.WatchDatasetJob",
        proves=("D-21",),
        setup=with_dataset_job,
        sdk=lambda sides, given: given["sdk_dataset"].add_private_data_to_dataset_get_result(given["job"]),
        request=lambda given: uploads_pb2.WatchDatasetJobRequest(dataset_hash=given["dataset"], job_id=given["job"]),
    ),
    WireCase(
        name="CancelJob as add_data_to_folder_job_cancel",
        rpc="UploadService.CancelJob",
        proves=("S-23",),
        setup=lambda sides: with_folder_job(sides, count=25),
        sdk=lambda sides, given: given["folder"].add_data_to_folder_job_cancel(UUID(given["job"])),
        request=lambda given: uploads_pb2.CancelJobRequest(folder_uuid=given["folder_uuid"], job_id=given["job"]),
    ),
    WireCase(
        name="CreateUploadUrls for scenes as StorageFolder's scene upload",
        rpc="UploadService.CreateUploadUrls",
        proves=("E-10",),
        setup=with_folder,
        sdk=lambda sides, given: given["folder"]._get_scene_upload_signed_urls(count=2),
        request=lambda given: uploads_pb2.CreateUploadUrlsRequest(
            count=2, upload_item_type=storage_pb2.STORAGE_ITEM_TYPE_SCENE
        ),
    ),
    WireCase(
        name="CreateUploadUrls for images as a CVAT import's uploads",
        rpc="UploadService.CreateUploadUrls",
        proves=("J-04",),
        sdk=lambda sides, given: sides.sdk._api_client.get(
            "presigned-urls",
            params=UploadPresignedUrlsGetParams(count=200, upload_item_type=StorageItemType.IMAGE),
            result_type=Page[UploadSignedUrl],
        ),
        request=lambda given: uploads_pb2.CreateUploadUrlsRequest(
            count=200, upload_item_type=storage_pb2.STORAGE_ITEM_TYPE_IMAGE
        ),
    ),
    WireCase(
        name="CreateFolderUploadUrls as StorageFolder's upload URLs",
        rpc="UploadService.CreateFolderUploadUrls",
        proves=("S-20",),
        setup=with_folder,
        sdk=lambda sides, given: given["folder"]._get_upload_signed_urls(item_type=StorageItemType.VIDEO, count=3),
        request=lambda given: uploads_pb2.CreateFolderUploadUrlsRequest(
            folder_uuid=given["folder_uuid"], item_type=storage_pb2.STORAGE_ITEM_TYPE_VIDEO, count=3
        ),
    ),
    WireCase(
        name="StartDatasetUploadJob of cloud files as add_private_data_to_dataset_start",
        rpc="UploadService.StartDatasetUploadJob",
        proves=("D-20",),
        setup=with_cloud_import,
        sdk=lambda sides, given: given["sdk_dataset"].add_private_data_to_dataset_start(
            given["integration"], given["spec"], ignore_errors=True
        ),
        request=lambda given: uploads_pb2.StartDatasetUploadJobRequest(
            dataset_hash=given["dataset"],
            integration_id=given["integration"],
            files=cloud_files(given["spec"]),
            ignore_errors=True,
        ),
    ),
    WireCase(
        name="StartDatasetUploadJob registering uploaded images as an image group",
        rpc="UploadService.StartDatasetUploadJob",
        proves=("D-20",),
        setup=with_uploaded_images,
        sdk=lambda sides, given: sdk_register(
            given,
            DataUploadItems(
                image_groups=[
                    DataUploadImageGroup(
                        images=[
                            DataUploadImageGroupImage(url=k, title=n)
                            for k, n in zip(given["keys"], given["names"], strict=True)
                        ],
                        title="Frames",
                        create_video=False,
                    )
                ]
            ),
        ),
        request=lambda given: uploads_pb2.StartDatasetUploadJobRequest(
            dataset_hash=given["dataset"],
            data_items=uploads_pb2.DataUploadItems(
                image_groups=[
                    uploads_pb2.DataUploadImageGroup(
                        images=[
                            uploads_pb2.DataUploadFrame(url=k, title=n)
                            for k, n in zip(given["keys"], given["names"], strict=True)
                        ],
                        title="Frames",
                        external_file_type=uploads_pb2.EXTERNAL_FILE_TYPE_IMAGE_GROUP,
                    )
                ]
            ),
        ),
    ),
    WireCase(
        name="StartDatasetUploadJob registering uploaded DICOM files as a series",
        rpc="UploadService.StartDatasetUploadJob",
        proves=("D-20",),
        setup=with_uploaded_dicom,
        sdk=lambda sides, given: sdk_register(
            given,
            DataUploadItems(
                dicom_series=[
                    DataUploadDicomSeries(
                        dicom_files=[
                            DataUploadDicomSeriesDicomFile(url=k, title=n)
                            for k, n in zip(given["keys"], given["names"], strict=True)
                        ],
                        title=None,
                    )
                ]
            ),
        ),
        request=lambda given: uploads_pb2.StartDatasetUploadJobRequest(
            dataset_hash=given["dataset"],
            data_items=uploads_pb2.DataUploadItems(
                dicom_series=[
                    uploads_pb2.DataUploadDicomSeries(
                        dicom_files=[
                            uploads_pb2.DataUploadFrame(url=k, title=n)
                            for k, n in zip(given["keys"], given["names"], strict=True)
                        ],
                        external_file_type=uploads_pb2.EXTERNAL_FILE_TYPE_DICOM,
                    )
                ]
            ),
        ),
    ),
    WireCase(
        name="GetDatasetUploadJob that may not wait",
        rpc="UploadService.GetDatasetUploadJob",
        proves=("D-21",),
        setup=with_dataset_job,
        sdk=lambda sides, given: given["sdk_dataset"].add_private_data_to_dataset_get_result(
            given["job"], timeout_seconds=0
        ),
        request=lambda given: uploads_pb2.GetDatasetUploadJobRequest(
            dataset_hash=given["dataset"], job_id=given["job"], timeout_seconds=0
        ),
    ),
    WireCase(
        name="AddPrivateDataLegacy as the seed's datasetdata call",
        rpc="UploadService.AddPrivateDataLegacy",
        proves=("D-23",),
        setup=with_cloud_import,
        sdk=lambda sides, given: legacy(
            sides,
            given["dataset"],
            "datasetdata",
            "POST",
            uid=given["dataset"],
            payload={"integration_id": given["integration"], "ignore_errors": False, "files": given["spec"]},
        ),
        request=lambda given: uploads_pb2.AddPrivateDataLegacyRequest(
            dataset_hash=given["dataset"], integration_id=given["integration"], files=cloud_files(given["spec"])
        ),
    ),
    WireCase(
        name="StartFolderUploadJob of cloud files as add_private_data_to_folder_start",
        rpc="UploadService.StartFolderUploadJob",
        proves=("S-21",),
        setup=lambda sides: {**with_folder(sides), "integration": integration(sides), "spec": cloud_spec(sides)},
        sdk=lambda sides, given: given["folder"].add_private_data_to_folder_start(given["integration"], given["spec"]),
        request=lambda given: uploads_pb2.StartFolderUploadJobRequest(
            folder_uuid=given["folder_uuid"],
            integration_hash=given["integration"],
            external_files=cloud_files(given["spec"]),
        ),
    ),
    WireCase(
        name="GetFolderUploadJob that may not wait",
        rpc="UploadService.GetFolderUploadJob",
        proves=("S-22",),
        setup=with_folder_job,
        sdk=lambda sides, given: given["folder"]._add_data_to_folder_get_result(UUID(given["job"]), timeout_seconds=0),
        request=lambda given: uploads_pb2.GetFolderUploadJobRequest(
            folder_uuid=given["folder_uuid"], job_id=given["job"], timeout_seconds=0
        ),
    ),
    WireCase(
        name="StartCloudFolderSync as sync_private_data_with_cloud_synced_folder_start",
        rpc="UploadService.StartCloudFolderSync",
        proves=("S-24",),
        setup=with_synced_folder,
        sdk=lambda sides, given: given["folder"].sync_private_data_with_cloud_synced_folder_start(),
        request=lambda given: uploads_pb2.StartCloudFolderSyncRequest(folder_uuid=given["folder_uuid"]),
    ),
    WireCase(
        name="GetCloudFolderSync as its get_result",
        rpc="UploadService.GetCloudFolderSync",
        proves=("S-24",),
        setup=with_folder_sync,
        sdk=lambda sides, given: given["folder"].sync_private_data_with_cloud_synced_folder_get_result(
            UUID(given["sync"]), timeout_seconds=60
        ),
        request=lambda given: uploads_pb2.GetCloudFolderSyncRequest(
            folder_uuid=given["folder_uuid"], sync_uuid=given["sync"], timeout_seconds=60
        ),
    ),
    WireCase(
        name="StartStorageReencode as StorageFolder.re_encode_videos",
        rpc="UploadService.StartStorageReencode",
        proves=("S-27",),
        setup=with_video_item,
        sdk=lambda sides, given: given["folder"].re_encode_videos([UUID(given["item"])], "fix codecs", True),
        request=lambda given: uploads_pb2.StartStorageReencodeRequest(
            storage_items=[given["item"]], process_title="fix codecs", force_full_reencoding=True
        ),
    ),
    WireCase(
        name="GetStorageReencode as get_re_encoding_status",
        rpc="UploadService.GetStorageReencode",
        proves=("S-27",),
        setup=with_reencode,
        sdk=lambda sides, given: given["folder"].get_re_encoding_status(UUID(given["job"])),
        request=lambda given: uploads_pb2.GetStorageReencodeRequest(job_uuid=given["job"]),
    ),
    WireCase(
        name="GetScene as SceneReader.read",
        rpc="UploadService.GetScene",
        proves=("E-10",),
        setup=with_scene,
        sdk=lambda sides, given: SceneReader(given["item"]).read(),
        request=lambda given: uploads_pb2.GetSceneRequest(item_uuid=str(given["item"].uuid)),
    ),
    WireCase(
        name="UploadVideosLegacy as the old SDK's upload_video",
        rpc="UploadService.UploadVideosLegacy",
        proves=("X-01", "X-02", "X-03"),
        setup=with_file,
        sdk=sdk_legacy_video,
        request=lambda given: dataset_and_name(given, uploads_pb2.UploadVideosLegacyRequest),
        masks=("values.uid", "values.payload.signed_url", "values.payload.data_hash", "values.payload.file_link"),
    ),
    WireCase(
        name="UploadImagesLegacy as the seed's single-image upload",
        rpc="UploadService.UploadImagesLegacy",
        proves=("X-04", "X-05", "X-06"),
        setup=with_file,
        sdk=lambda sides, given: sdk_legacy_image(sides, given, for_group=False),
        request=lambda given: dataset_and_name(given, uploads_pb2.UploadImagesLegacyRequest, content_type="image/jpeg"),
        masks=("values.payload.signed_url", "values.payload.data_hash", "values.payload.file_link"),
    ),
    WireCase(
        name="UploadImagesLegacy for an image group as the seed's per-image registration",
        rpc="UploadService.UploadImagesLegacy",
        proves=("X-04", "X-05", "X-07"),
        setup=with_file,
        sdk=lambda sides, given: sdk_legacy_image(sides, given, for_group=True),
        request=lambda given: dataset_and_name(
            given, uploads_pb2.UploadImagesLegacyRequest, content_type="image/jpeg", for_image_group=True
        ),
        masks=("values.uid", "values.payload.signed_url", "values.payload.data_hash", "values.payload.file_link"),
    ),
    WireCase(
        name="UploadDicomFilesLegacy as the old SDK's DICOM uploads",
        rpc="UploadService.UploadDicomFilesLegacy",
        proves=("X-09", "X-10"),
        setup=with_file,
        sdk=sdk_legacy_dicom,
        request=lambda given: dataset_and_name(given, uploads_pb2.UploadDicomFilesLegacyRequest),
    ),
    WireCase(
        name="CreateImageGroupLegacy as the old SDK's image group",
        rpc="UploadService.CreateImageGroupLegacy",
        proves=("X-08",),
        setup=with_registered_images,
        sdk=lambda sides, given: legacy(
            sides,
            given["dataset"],
            "imagegroup",
            "POST",
            uid=given["hashes"],
            payload={"image_group_title": "Pair", "create_video": False},
        ),
        request=lambda given: uploads_pb2.CreateImageGroupLegacyRequest(
            dataset_hash=given["dataset"], data_hashes=given["hashes"], image_group_title="Pair"
        ),
    ),
    WireCase(
        name="CreateDicomSeriesLegacy as the old SDK's DICOM series",
        rpc="UploadService.CreateDicomSeriesLegacy",
        proves=("X-11",),
        setup=with_uploaded_dicom_legacy,
        sdk=lambda sides, given: legacy(
            sides, given["dataset"], "dicomseries", "POST", uid=given["files"], payload={"title": "Study"}
        ),
        request=lambda given: uploads_pb2.CreateDicomSeriesLegacyRequest(
            dataset_hash=given["dataset"],
            title="Study",
            files=[uploads_pb2.DicomSeriesFile(**f) for f in given["files"]],
        ),
    ),
]
