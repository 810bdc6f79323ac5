"""The sandbox's uploads domain over real sockets: its bucket's rules for signed PUTs, and its jobs' long polls,
held in v1 as in v2, registering a batch of units per look, cancelled half-way, and answered once per request."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from encord import EncordUserClient
from encord.http.utils import UploadPresignedUrlsGetParams
from encord.http.v2.payloads import Page
from encord.orm.dataset import LongPollingStatus, StorageLocation
from encord.orm.storage import StorageItemType, UploadSignedUrl

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


def upload_url(client: EncordUserClient) -> UploadSignedUrl:
    (url,) = client._api_client.get(
        "presigned-urls",
        params=UploadPresignedUrlsGetParams(count=1, upload_item_type=StorageItemType.IMAGE),
        result_type=Page[UploadSignedUrl],
    ).results
    return url


def put(url: str, data: bytes, **headers: str) -> requests.Response:
    return requests.put(url, data=data, headers=headers, timeout=10)


# ---- the bucket behind signed URLs -------------------------------------------------------------------------


def test_an_upload_url_takes_the_file_with_its_headers_and_says_201(client: EncordUserClient) -> None:
    url = upload_url(client)

    answer = put(url.signed_url, b"pixels", **url.upload_headers, **{"Content-Type": "image/png"})

    assert answer.status_code == 201
    assert url.upload_headers == {"x-ms-blob-type": "BlockBlob"}


def test_an_upload_without_the_headers_it_was_handed_out_with_is_refused(client: EncordUserClient) -> None:
    url = upload_url(client)

    answer = put(url.signed_url, b"pixels")

    assert answer.status_code == 400 and "x-ms-blob-type" in answer.json()["message"]


def test_an_upload_must_say_its_length_and_match_its_md5(client: EncordUserClient) -> None:
    url = upload_url(client)

    def chunks() -> Iterator[bytes]:
        yield b"no length"

    chunked = requests.put(url.signed_url, data=chunks(), headers=url.upload_headers, timeout=10)
    wrong_md5 = put(
        url.signed_url,
        b"pixels",
        **url.upload_headers,
        **{"Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()},
    )
    right_md5 = put(
        url.signed_url,
        b"pixels",
        **url.upload_headers,
        **{"Content-MD5": base64.b64encode(hashlib.md5(b"pixels").digest()).decode()},
    )

    assert (chunked.status_code, wrong_md5.status_code, right_md5.status_code) == (411, 400, 201)


def test_upload_and_download_links_do_not_stand_in_for_each_other(client: EncordUserClient) -> None:
    url = upload_url(client)
    assert put(url.signed_url, b"pixels", **url.upload_headers).status_code == 201

    downloading_with_the_upload_link = requests.get(url.signed_url, timeout=10)
    other_key = url.signed_url.replace(url.object_key.rsplit("/", 1)[1], str(uuid.uuid4()))

    assert downloading_with_the_upload_link.status_code == 403
    assert put(other_key, b"forged", **url.upload_headers).status_code == 403


def test_an_expired_upload_url_is_refused_as_expired(client: EncordUserClient, sandbox: Sandbox) -> None:
    assert sandbox.control("POST", "/sandbox/v1/uploads/expired-urls", {"count": 1})[0] == 204
    expired, fresh = upload_url(client), upload_url(client)

    refused = put(expired.signed_url, b"late", **expired.upload_headers)

    assert refused.status_code == 403 and refused.json()["message"] == "the link has expired"
    assert put(fresh.signed_url, b"late", **fresh.upload_headers).status_code == 201


def test_a_blob_fault_fails_the_bucket_only_when_it_names_the_bucket(
    client: EncordUserClient, sandbox: Sandbox
) -> None:
    url = upload_url(client)
    sandbox.control("POST", "/sandbox/v1/faults", {"match": {"method": "PUT"}, "times": 0, "status": 500})
    try:
        untouched = put(url.signed_url, b"a", **url.upload_headers).status_code
        sandbox.control("DELETE", "/sandbox/v1/faults")
        sandbox.control("POST", "/sandbox/v1/faults", {"match": {"api": "blob"}, "times": 1, "status": 503})
        failed, retried = (put(url.signed_url, b"a", **url.upload_headers).status_code for _ in range(2))
    finally:
        sandbox.control("DELETE", "/sandbox/v1/faults")

    assert (untouched, failed, retried) == (201, 503, 201)


# ---- jobs ---------------------------------------------------------------------------------------------------


@pytest.fixture
def integration(sandbox: Sandbox, user: SandboxUser) -> str:
    status, body = sandbox.control("POST", "/sandbox/v1/cloud-integrations", {"owner": user.email, "title": "b"})
    assert status == 201
    return str(body["integration_uuid"])


def spec(count: int) -> dict[str, list[dict[str, str]]]:
    base = f"s3://jobs/{uuid.uuid4().hex}"
    return {"images": [{"objectUrl": f"{base}/{n}.jpg"} for n in range(count)]}


def test_a_v1_long_poll_is_held_until_the_job_ends(
    client: EncordUserClient, sandbox: Sandbox, integration: str
) -> None:
    dataset = client.get_dataset(client.create_dataset("Held", StorageLocation.CORD_STORAGE).dataset_hash)
    job = dataset.add_private_data_to_dataset_start(integration, spec(25))
    sandbox.clear_requests_log()

    result = dataset.add_private_data_to_dataset_get_result(job, timeout_seconds=30)

    assert (result.status, result.units_done_count) == (LongPollingStatus.DONE, 25)
    polls = [e for e in sandbox.requests_log() if e.get("query_type") == "datasetdatalongpolling"]
    assert len(polls) == 1  # one request, held while the job got through its three batches


def test_a_poll_that_may_not_wait_sees_one_batch_done(client: EncordUserClient, integration: str) -> None:
    dataset = client.get_dataset(client.create_dataset("Batches", StorageLocation.CORD_STORAGE).dataset_hash)
    job = dataset.add_private_data_to_dataset_start(integration, spec(25))

    counts = []
    for _ in range(3):
        polled = dataset.add_private_data_to_dataset_get_result(job, timeout_seconds=0)
        counts.append((polled.status, polled.units_done_count, polled.units_pending_count))

    assert counts == [
        (LongPollingStatus.PENDING, 10, 15),
        (LongPollingStatus.PENDING, 20, 5),
        (LongPollingStatus.DONE, 25, 0),
    ]


def test_the_same_registration_answers_the_same_job_until_it_is_cancelled(
    client: EncordUserClient, integration: str
) -> None:
    folder = client.create_storage_folder(f"Jobs {uuid.uuid4().hex[:6]}")
    files = spec(15)

    first, again = (folder.add_private_data_to_folder_start(integration, files) for _ in range(2))
    folder.add_data_to_folder_job_cancel(first)
    after_cancel = folder.add_private_data_to_folder_start(integration, files)

    assert first == again and after_cancel != first
    assert folder._add_data_to_folder_get_result(first, timeout_seconds=0).status == LongPollingStatus.CANCELLED
