"""Uploads through a real gateway: files streamed in over gRPC (a bidirectional stream) and REST (multipart in,
NDJSON out), put to the sandbox's bucket, registered and read back; expired URLs renewed, failed PUTs retried, a
file that cannot go up reported alone; private-cloud imports streamed to their end, watched, cancelled half-way.

The sandbox's jobs advance only when looked at (sandbox/domains/uploads.py): a job registers up to ten files a
look, so a poll that may not wait sees a large job half done.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import (
    datasets_pb2,
    datasets_pb2_grpc,
    storage_pb2,
    storage_pb2_grpc,
    uploads_pb2,
    uploads_pb2_grpc,
)
from google.protobuf import struct_pb2

if TYPE_CHECKING:
    from conftest import GatewayProcess, Sandbox

IMAGE, VIDEO = uploads_pb2.UPLOAD_FILE_TYPE_IMAGE, uploads_pb2.UPLOAD_FILE_TYPE_VIDEO
DONE, PENDING, ERROR, CANCELLED = (
    uploads_pb2.UPLOAD_JOB_STATUS_DONE,
    uploads_pb2.UPLOAD_JOB_STATUS_PENDING,
    uploads_pb2.UPLOAD_JOB_STATUS_ERROR,
    uploads_pb2.UPLOAD_JOB_STATUS_CANCELLED,
)
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def uploads(channel: grpc.Channel) -> uploads_pb2_grpc.UploadServiceStub:
    return uploads_pb2_grpc.UploadServiceStub(channel)


@pytest.fixture(scope="module")
def datasets(channel: grpc.Channel) -> datasets_pb2_grpc.DatasetServiceStub:
    return datasets_pb2_grpc.DatasetServiceStub(channel)


@pytest.fixture(scope="module")
def storage(channel: grpc.Channel) -> storage_pb2_grpc.StorageServiceStub:
    return storage_pb2_grpc.StorageServiceStub(channel)


@pytest.fixture
def dataset(
    datasets: datasets_pb2_grpc.DatasetServiceStub, gateway: GatewayProcess, make_title: Callable[[str], str]
) -> str:
    created = datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(title=make_title("uploads")), metadata=gateway.auth_metadata
    )
    return str(created.dataset_hash)


@pytest.fixture
def integration(sandbox: Sandbox, gateway: GatewayProcess) -> str:
    status, body = sandbox.control(
        "POST", "/sandbox/v1/cloud-integrations", {"owner": gateway.user.email, "title": "b"}
    )
    assert status == 201, body
    return str(body["integration_uuid"])


def content(seed: str, size: int = 150_000) -> bytes:
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_messages(cls: Any, name: str, data: bytes, **options: Any) -> Iterator[Any]:
    """One file as a client streams it: a message naming it with its first chunk, then the rest."""
    yield cls(name=name, chunk=data[:CHUNK], **options)
    for start in range(CHUNK, len(data), CHUNK):
        yield cls(chunk=data[start : start + CHUNK])


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def read_back(
    datasets: datasets_pb2_grpc.DatasetServiceStub, gateway: GatewayProcess, dataset: str, data_hash: str
) -> bytes:
    row = datasets.GetDataRow(
        datasets_pb2.GetDataRowRequest(dataset_hash=dataset, data_hash=data_hash, signed_url=True),
        metadata=gateway.auth_metadata,
    )
    return download(row.signed_url)


def final(messages: list[Any]) -> dict[int, Any]:
    """The last message about each file."""
    return {m.file_index: m for m in messages}


def backing_folder(datasets: datasets_pb2_grpc.DatasetServiceStub, gateway: GatewayProcess, dataset: str) -> str:
    found = datasets.GetDataset(datasets_pb2.GetDatasetRequest(dataset_hash=dataset), metadata=gateway.auth_metadata)
    return str(found.backing_folder_uuid)


# ---- UploadFiles over gRPC and REST ------------------------------------------------------------------------


def test_files_streamed_over_grpc_are_uploaded_registered_and_read_back(
    uploads: uploads_pb2_grpc.UploadServiceStub,
    datasets: datasets_pb2_grpc.DatasetServiceStub,
    gateway: GatewayProcess,
    dataset: str,
) -> None:
    files = {"street.jpg": content("street"), "crossing.jpg": content("crossing", 300_000), "tiny.png": b"\x89PNG tiny"}

    def requests() -> Iterator[uploads_pb2.UploadFilesRequest]:
        yield uploads_pb2.UploadFilesRequest(dataset_hash=dataset, item_type=IMAGE)
        for name, data in files.items():
            yield from file_messages(uploads_pb2.UploadFilesRequest, name, data, content_type="image/jpeg")

    messages = list(uploads.UploadFiles(requests(), metadata=gateway.auth_metadata))

    last = final(messages)
    assert sorted(last) == [0, 1, 2]
    for index, (name, data) in enumerate(files.items()):
        progress = last[index]
        assert (progress.name, progress.size_bytes, progress.sha256) == (name, len(data), sha(data))
        assert progress.job.status == DONE and not progress.HasField("error")
        (unit,) = progress.job.data_hashes_with_titles
        assert unit.title == name and read_back(datasets, gateway, dataset, unit.data_hash) == data
    stored = [m for m in messages if m.file_index == 0 and not m.upload_job_id]
    assert stored and stored[0].size_bytes == len(files["street.jpg"])  # the bytes were stored before registering


def test_files_posted_as_multipart_are_answered_as_ndjson_and_read_back(
    datasets: datasets_pb2_grpc.DatasetServiceStub, gateway: GatewayProcess, dataset: str
) -> None:
    clip = content("clip.mp4", 200_000)
    boundary = "----upload-" + uuid.uuid4().hex
    parts = [
        (f'Content-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n'
         f'{json.dumps({"title": "Clip", "client_metadata": {"camera": "front"}})}').encode(),
        b'Content-Disposition: form-data; name="file"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n' + clip,
    ]  # fmt: skip
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{gateway.rest_url}/v1/datasets/{dataset}/files:upload?item_type=UPLOAD_FILE_TYPE_VIDEO",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {gateway.token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )

    with urllib.request.urlopen(request, timeout=30) as response:
        content_type = response.headers["Content-Type"]
        lines = [json.loads(line) for line in response.read().splitlines()]

    assert content_type.startswith("application/x-ndjson")
    assert lines[0] == {"name": "clip.mp4", "size_bytes": str(len(clip)), "sha256": sha(clip)}
    done = lines[-1]["job"]
    assert done["status"] == "UPLOAD_JOB_STATUS_DONE"
    (unit,) = done["data_hashes_with_titles"]
    assert unit["title"] == "Clip" and read_back(datasets, gateway, dataset, unit["data_hash"]) == clip
    row = datasets.GetDataRow(
        datasets_pb2.GetDataRowRequest(dataset_hash=dataset, data_hash=unit["data_hash"], client_metadata=True),
        metadata=gateway.auth_metadata,
    )
    assert row.data_type == datasets_pb2.DATA_ROW_TYPE_VIDEO and dict(row.client_metadata) == {"camera": "front"}


def test_files_streamed_into_a_folder_become_its_items(
    uploads: uploads_pb2_grpc.UploadServiceStub,
    storage: storage_pb2_grpc.StorageServiceStub,
    gateway: GatewayProcess,
    make_title: Callable[[str], str],
) -> None:
    folder = storage.CreateStorageFolder(
        storage_pb2.CreateStorageFolderRequest(name=make_title("inbox")), metadata=gateway.auth_metadata
    ).uuid
    data = content("scan.png")
    metadata = struct_pb2.Struct()
    metadata.update({"site": "A"})

    def requests() -> Iterator[uploads_pb2.UploadFolderFilesRequest]:
        yield uploads_pb2.UploadFolderFilesRequest(folder_uuid=folder, item_type=IMAGE)
        yield from file_messages(uploads_pb2.UploadFolderFilesRequest, "scan.png", data, client_metadata=metadata)

    last = final(list(uploads.UploadFolderFiles(requests(), metadata=gateway.auth_metadata)))[0]

    (made,) = last.job.items_with_names
    item = storage.GetStorageItem(storage_pb2.GetStorageItemRequest(item_uuid=made.item_uuid, sign_url=True),
                                  metadata=gateway.auth_metadata)  # fmt: skip
    assert (item.name, dict(item.client_metadata), item.parent) == ("scan.png", {"site": "A"}, folder)
    assert download(item.signed_url) == data
    watched = list(uploads.WatchJob(uploads_pb2.WatchJobRequest(folder_uuid=folder, job_id=last.upload_job_id),
                                    metadata=gateway.auth_metadata))  # fmt: skip
    assert [job.status for job in watched] == [DONE]  # a caller that lost the stream finds the job ended


# ---- what goes wrong on the way ----------------------------------------------------------------------------


def test_an_expired_upload_url_is_renewed_and_the_file_still_arrives(
    uploads: uploads_pb2_grpc.UploadServiceStub,
    datasets: datasets_pb2_grpc.DatasetServiceStub,
    gateway: GatewayProcess,
    sandbox: Sandbox,
    dataset: str,
) -> None:
    data = content("late")
    assert sandbox.control("POST", "/sandbox/v1/uploads/expired-urls", {"count": 1})[0] == 204
    sandbox.clear_requests_log()

    first = uploads_pb2.UploadFilesRequest(dataset_hash=dataset, item_type=IMAGE)
    last = final(list(uploads.UploadFiles(iter([first, *file_messages(uploads_pb2.UploadFilesRequest, "late.jpg", data)]),
                                          metadata=gateway.auth_metadata)))[0]  # fmt: skip

    assert last.job.status == DONE
    assert read_back(datasets, gateway, dataset, last.job.data_hashes_with_titles[0].data_hash) == data
    asked = [e for e in sandbox.requests_log() if e["path"] == "/v2/public/presigned-urls"]
    assert len(asked) == 2  # the expired URL, then a fresh one


def test_a_transient_bucket_failure_is_retried(
    uploads: uploads_pb2_grpc.UploadServiceStub, gateway: GatewayProcess, sandbox: Sandbox, dataset: str
) -> None:
    status, _ = sandbox.control(
        "POST", "/sandbox/v1/faults", {"match": {"api": "blob", "method": "PUT"}, "times": 1, "status": 503}
    )
    assert status == 201
    try:
        first = uploads_pb2.UploadFilesRequest(dataset_hash=dataset, item_type=IMAGE)
        messages = list(uploads.UploadFiles(iter([first, *file_messages(uploads_pb2.UploadFilesRequest, "a.jpg", b"abc")]),
                                            metadata=gateway.auth_metadata))  # fmt: skip
        faults = sandbox.control("GET", "/sandbox/v1/faults")[1]
    finally:
        sandbox.control("DELETE", "/sandbox/v1/faults")

    assert final(messages)[0].job.status == DONE
    assert [f["hits"] for f in faults] == [1]


def test_a_file_the_bucket_keeps_refusing_fails_alone_and_says_how_far_it_got(
    uploads: uploads_pb2_grpc.UploadServiceStub, gateway: GatewayProcess, sandbox: Sandbox, dataset: str
) -> None:
    # Both files' first URLs have expired, and so has the first renewal: one file (whichever asked first) is
    # refused again after its one renewal, the other one's renewal is good.
    assert sandbox.control("POST", "/sandbox/v1/uploads/expired-urls", {"count": 3})[0] == 204

    def requests() -> Iterator[uploads_pb2.UploadFilesRequest]:
        yield uploads_pb2.UploadFilesRequest(dataset_hash=dataset, item_type=IMAGE)
        yield uploads_pb2.UploadFilesRequest(name="one.jpg", chunk=b"first")
        yield uploads_pb2.UploadFilesRequest(name="two.jpg", chunk=b"second")

    last = final(list(uploads.UploadFiles(requests(), metadata=gateway.auth_metadata)))

    (refused,) = [m for m in last.values() if m.HasField("error")]
    (fine,) = [m for m in last.values() if not m.HasField("error")]
    assert refused.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "403" in refused.error.message and "sandbox/blobs" not in refused.error.message  # no signed URL leaks
    assert not refused.upload_job_id and not refused.size_bytes  # never stored, never registered
    assert fine.job.status == DONE


def test_a_stream_that_names_no_file_type_is_refused_before_encord(
    uploads: uploads_pb2_grpc.UploadServiceStub, gateway: GatewayProcess, sandbox: Sandbox, dataset: str
) -> None:
    sandbox.clear_requests_log()
    with pytest.raises(grpc.RpcError) as caught:
        list(uploads.UploadFiles(iter([uploads_pb2.UploadFilesRequest(dataset_hash=dataset, name="a", chunk=b"x")]),
                                 metadata=gateway.auth_metadata))  # fmt: skip

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "item_type" in (caught.value.details() or "")
    assert sandbox.requests_log() == []


def test_bytes_before_any_file_are_refused(
    uploads: uploads_pb2_grpc.UploadServiceStub, gateway: GatewayProcess, dataset: str
) -> None:
    first = uploads_pb2.UploadFilesRequest(dataset_hash=dataset, item_type=IMAGE, chunk=b"orphan")

    with pytest.raises(grpc.RpcError) as caught:
        list(uploads.UploadFiles(iter([first]), metadata=gateway.auth_metadata))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_file_for_a_dataset_that_is_not_there_is_reported_stored_but_not_registered(
    uploads: uploads_pb2_grpc.UploadServiceStub, gateway: GatewayProcess
) -> None:
    # Signed URLs are not tied to a dataset (§5.7.1): the bytes go up, and the registration is what Encord refuses.
    first = uploads_pb2.UploadFilesRequest(dataset_hash=str(uuid.uuid4()), item_type=IMAGE, name="a.jpg", chunk=b"x")

    last = final(list(uploads.UploadFiles(iter([first]), metadata=gateway.auth_metadata)))[0]

    assert last.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert last.size_bytes == 1 and not last.upload_job_id


# ---- private cloud: streamed to the end, watched, cancelled ------------------------------------------------


def test_a_cloud_import_streams_its_job_to_the_end_with_the_urls_that_failed(
    uploads: uploads_pb2_grpc.UploadServiceStub,
    datasets: datasets_pb2_grpc.DatasetServiceStub,
    gateway: GatewayProcess,
    sandbox: Sandbox,
    dataset: str,
    integration: str,
) -> None:
    base = f"s3://imports/{uuid.uuid4().hex}"
    broken = f"{base}/broken.jpg"
    sandbox.control(
        "POST", f"/sandbox/v1/cloud-integrations/{integration}/bucket", {"failures": {broken: "AccessDenied"}}
    )
    files = uploads_pb2.CloudFiles(
        images=[uploads_pb2.CloudFile(object_url=f"{base}/{n}.jpg") for n in ("a", "b")]
        + [uploads_pb2.CloudFile(object_url=broken)]
    )

    messages = list(uploads.ImportFromCloud(
        uploads_pb2.ImportFromCloudRequest(dataset_hash=dataset, integration_id=integration, files=files, ignore_errors=True),
        metadata=gateway.auth_metadata,
    ))  # fmt: skip

    assert messages[0].job_id and messages[-1].status == DONE
    assert (messages[-1].units_done_count, messages[-1].units_error_count) == (2, 1)
    (error,) = messages[-1].data_unit_errors
    assert (list(error.object_urls), error.error) == ([broken], "AccessDenied")
    rows = datasets.ListDataRows(datasets_pb2.ListDataRowsRequest(dataset_hash=dataset), metadata=gateway.auth_metadata)
    assert sorted(row.data_title for row in rows.data_rows) == ["a.jpg", "b.jpg"]


def test_a_job_cancelled_half_way_ends_cancelled_with_what_it_did_reported(
    uploads: uploads_pb2_grpc.UploadServiceStub,
    datasets: datasets_pb2_grpc.DatasetServiceStub,
    gateway: GatewayProcess,
    dataset: str,
    integration: str,
) -> None:
    base = f"s3://bulk/{uuid.uuid4().hex}"
    files = uploads_pb2.CloudFiles(images=[uploads_pb2.CloudFile(object_url=f"{base}/{n}.jpg") for n in range(25)])
    stream = uploads.ImportFromCloud(
        uploads_pb2.ImportFromCloudRequest(
            dataset_hash=dataset, integration_id=integration, files=files, timeout_seconds=0
        ),
        metadata=gateway.auth_metadata,
    )  # polls that may not wait: each sees the job a step further

    started = next(stream)
    first_poll = next(stream)
    cancelled = uploads.CancelJob(
        uploads_pb2.CancelJobRequest(folder_uuid=backing_folder(datasets, gateway, dataset), job_id=started.job_id),
        metadata=gateway.auth_metadata,
    )
    rest = list(stream)

    assert first_poll.status == PENDING and first_poll.units_done_count == 10
    end = rest[-1]
    assert end.status == CANCELLED and end.units_cancelled_count == cancelled.units_cancelled_count > 0
    assert end.units_done_count + end.units_cancelled_count == 25 and end.units_done_count >= 10
    rows = datasets.ListDataRows(datasets_pb2.ListDataRowsRequest(dataset_hash=dataset), metadata=gateway.auth_metadata)
    assert len(rows.data_rows) == end.units_done_count == len(end.data_hashes_with_titles)


def test_a_dataset_job_started_alone_is_watched_to_its_end(
    uploads: uploads_pb2_grpc.UploadServiceStub, gateway: GatewayProcess, dataset: str, integration: str
) -> None:
    files = uploads_pb2.CloudFiles(
        videos=[uploads_pb2.CloudFile(object_url=f"gs://v/{uuid.uuid4().hex}.mp4", title="V")]
    )
    job = uploads.StartDatasetUploadJob(
        uploads_pb2.StartDatasetUploadJobRequest(dataset_hash=dataset, integration_id=integration, files=files),
        metadata=gateway.auth_metadata,
    )

    watched = list(uploads.WatchDatasetJob(uploads_pb2.WatchDatasetJobRequest(dataset_hash=dataset, job_id=job.job_id),
                                           metadata=gateway.auth_metadata))  # fmt: skip

    assert watched[-1].status == DONE and [u.title for u in watched[-1].data_hashes_with_titles] == ["V"]


# ---- the seed-era streams ----------------------------------------------------------------------------------


def test_seed_era_videos_images_and_dicom_files_stream_in_and_become_units(
    uploads: uploads_pb2_grpc.UploadServiceStub,
    datasets: datasets_pb2_grpc.DatasetServiceStub,
    gateway: GatewayProcess,
    dataset: str,
) -> None:
    md = gateway.auth_metadata
    video = content("legacy.mp4")
    (video_done,) = final(list(uploads.UploadVideosLegacy(iter([
        uploads_pb2.UploadVideosLegacyRequest(dataset_hash=dataset),
        *file_messages(uploads_pb2.UploadVideosLegacyRequest, "legacy.mp4", video, title="Legacy clip"),
    ]), metadata=md))).values()  # fmt: skip
    images = list(final(list(uploads.UploadImagesLegacy(iter([
        uploads_pb2.UploadImagesLegacyRequest(dataset_hash=dataset, for_image_group=True),
        *file_messages(uploads_pb2.UploadImagesLegacyRequest, "one.jpg", b"one", content_type="image/jpeg"),
        *file_messages(uploads_pb2.UploadImagesLegacyRequest, "two.jpg", b"two", content_type="image/jpeg"),
    ]), metadata=md))).values())  # fmt: skip
    group = uploads.CreateImageGroupLegacy(uploads_pb2.CreateImageGroupLegacyRequest(
        dataset_hash=dataset, data_hashes=[i.data_hash for i in images], image_group_title="Pair"), metadata=md)  # fmt: skip
    slices = list(final(list(uploads.UploadDicomFilesLegacy(iter([
        uploads_pb2.UploadDicomFilesLegacyRequest(dataset_hash=dataset),
        *file_messages(uploads_pb2.UploadDicomFilesLegacyRequest, "1.dcm", b"dicom one"),
        *file_messages(uploads_pb2.UploadDicomFilesLegacyRequest, "2.dcm", b"dicom two"),
    ]), metadata=md))).values())  # fmt: skip
    series = uploads.CreateDicomSeriesLegacy(uploads_pb2.CreateDicomSeriesLegacyRequest(
        dataset_hash=dataset, title="Study",
        files=[uploads_pb2.DicomSeriesFile(id=s.data_hash, uri=s.file_link, title=s.name) for s in slices]), metadata=md)  # fmt: skip

    assert video_done.title == "Legacy clip" and read_back(datasets, gateway, dataset, video_done.data_hash) == video
    assert not any(m.HasField("error") for m in [*images, *slices])
    rows = {
        row.data_title: row
        for row in datasets.ListDataRows(datasets_pb2.ListDataRowsRequest(dataset_hash=dataset), metadata=md).data_rows
    }
    assert (
        rows["Pair"].data_type == datasets_pb2.DATA_ROW_TYPE_IMG_GROUP
        and group.data_units[0].data_hash == rows["Pair"].data_hash
    )
    assert rows["Study"].data_hash == series.data_hash and rows["Study"].data_type == datasets_pb2.DATA_ROW_TYPE_DICOM
