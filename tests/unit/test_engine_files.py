"""File streams and transfer steps: files streamed in, each uploaded to a signed URL and registered, progress out.

The shape of UploadFiles: per file, ask Encord for a signed URL, PUT the bytes there, register the upload and
poll the job. A scripted Encord (test_engine's, signature checks and all) answers by route on a real socket;
a scripted storage provider on another socket takes the PUTs, answering statuses from the test's script.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from declared import declare, message, op, rpc
from encord_gateway.cache.memory import MemoryCache
from encord_gateway.errors import GatewayError
from encord_gateway.operations import engine as engine_module
from encord_gateway.operations import filestream, plan
from encord_gateway.operations.engine import CallContext, Engine
from encord_gateway.operations.plan import PlanError
from encord_gateway.operations.refs import MISSING, Scope, parse_reference
from encord_gateway.operations.wiremap import MalformedUpstreamResult, encode_request_field
from encord_gateway.telemetry.metrics import Metrics
from encord_gateway.upstream import signing
from encord_gateway.upstream.client import UpstreamClient
from encord_gateway.upstream.credentials import CredentialResolver
from google.protobuf import message as protobuf_message
from test_engine import ORGANISATION, Encord, Seen, Vault

DATASET = "00000000-0000-0000-0000-0000000000d5"

STEPS = """
    steps: {name: "urls" v2: {method: "GET" path: "presigned-urls" query_fields: ["count=1", "uploadItemType=\\"image\\""]}}
    steps: {
        name: "put" emit: true
        transfer: {url: "$urls.results.0.signedUrl" header_map: "$urls.results.0.uploadHeaders" renew_step: "urls"
                   headers: ["Content-Type=$request.content_type", "Cache-Control=\\"max-age=86400\\""]}
    }
    steps: {name: "register" v1: {
        query_type: "datasetdatalongpolling" query_method: "POST" uid_field: "dataset_hash" camel_case: true
        payload_fields: ["dataItems.videos=[]", "dataItems.images.0.objectUrl=$urls.results.0.objectKey",
                         "dataItems.images.0.title=$request.name", "dataItems.images.0.title=$request.title",
                         "ignoreErrors=false"]
    }}
    steps: {
        name: "poll" v1: {query_type: "datasetdatalongpolling" query_method: "GET" uid_field: "dataset_hash"
                          payload_fields: ["process_hash=$register.process_hash"]}
        repeat_until: '$poll.status == "DONE"' emit: true
    }
    access: ACCESS_WRITE resource_type: RESOURCE_TYPE_DATASET resource_field: "dataset_hash"
"""
FILES = """
    file_stream: {
        name_field: "name" chunk_field: "chunk" call_fields: ["dataset_hash"] content_type_field: "content_type"
        max_file_bytes: %d max_files: 4 concurrency: %d memory_bytes: 16 index_field: "file_index" error_field: "error"
        progress_fields: ["name=$request.name", "size_bytes=$put.sizeBytes", "sha256=$put.sha256",
                          "job=$register.process_hash", "status=$poll.status"]
    }
"""

D = declare(
    "files",
    message("UploadRequest", "string dataset_hash", "string name", "string content_type", "string title", "bytes chunk"),
    message(
        "Progress", "uint32 file_index", "string name", "uint64 size_bytes", "string sha256", "string job",
        "string status", "google.rpc.Status error",
    ),
    message("PutRequest", "string dataset_hash", "bytes data"),
    message("PutAnswer", "uint64 size_bytes", "string sha256"),
    rpc("UploadFiles", "UploadRequest", "Progress", op(STEPS + FILES % (1000, 2)),
        client_streaming=True, server_streaming=True),
    rpc("UploadFilesOneByOne", "UploadRequest", "Progress", op(STEPS + FILES % (1000, 1)),
        client_streaming=True, server_streaming=True),
    rpc("PutOne", "PutRequest", "PutAnswer", op("""
        steps: {name: "urls" v2: {method: "GET" path: "presigned-urls" query_fields: ["count=1"]}}
        steps: {name: "put" transfer: {url: "$urls.results.0.signedUrl" body_field: "data" renew_step: "urls"}}
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_DATASET resource_field: "dataset_hash"
    """)),
)  # fmt: skip
UploadRequest, Progress, PutRequest, PutAnswer = (
    D[n] for n in ("UploadRequest", "Progress", "PutRequest", "PutAnswer")
)


# ---- a scripted storage provider and an Encord that hands out its URLs ------------------------------------


@dataclass
class Put:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Bucket:
    """Takes PUTs at /objects/<key>; answers the scripted statuses in order, then 201 (Azure's answer)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    puts: list[Put] = field(default_factory=list)
    both_arrived: asyncio.Event | None = None  # set: a PUT is held until another PUT arrives too

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.puts.append(Put(request.method, request.path, dict(request.headers), body))
        if self.both_arrived is not None:
            if len(self.puts) >= 2:
                self.both_arrived.set()
            await asyncio.wait_for(self.both_arrived.wait(), 5)  # a guard: sequential uploads would never get here
        return web.Response(status=self.statuses.pop(0) if self.statuses else 201)

    def stored(self) -> dict[str, bytes]:
        return {put.path.removeprefix("/objects/"): put.body for put in self.puts}


@dataclass
class Routes:
    """Encord's side: a fresh object key per signed URL, a job per registration, jobs DONE on the first poll."""

    bucket: Bucket
    issued: int = 0
    jobs: list[Any] = field(default_factory=list)

    def reply(self, seen: Seen) -> web.Response:
        if seen.path == "/v2/public/presigned-urls":
            self.issued += 1
            key = f"key-{self.issued}"
            return web.json_response({"results": [{
                "itemUuid": f"item-{self.issued}", "objectKey": key, "signedUrl": f"{self.bucket.url}/objects/{key}",
                "uploadHeaders": {"x-ms-blob-type": "BlockBlob"},
            }]})  # fmt: skip
        body = seen.json
        if body["query_method"] == "POST":
            self.jobs.append(body["values"]["payload"])
            return web.json_response({"status": 200, "response": {"process_hash": f"job-{len(self.jobs)}"}})
        return web.json_response({"status": 200, "response": {"status": "DONE"}})


async def _serve(handler: Any) -> tuple[web.AppRunner, str]:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


@pytest.fixture
async def bucket() -> AsyncIterator[Bucket]:
    store = Bucket()
    runner, store.url = await _serve(store.handle)
    yield store
    await runner.cleanup()


@pytest.fixture
async def encord(bucket: Bucket) -> AsyncIterator[tuple[Encord, Routes]]:
    fake = Encord(signing.Signer(Ed25519PrivateKey.generate()))
    routes = Routes(bucket)
    fake.script(routes.reply)
    runner, fake.url = await _serve(fake.handle)
    yield fake, routes
    await runner.cleanup()


@pytest.fixture
async def engine(encord: tuple[Encord, Routes]) -> AsyncIterator[Engine]:
    client = UpstreamClient(encord[0].url, Metrics())
    await client.start()
    yield Engine(client, CredentialResolver(Vault(encord[0].signer)), MemoryCache(), Metrics())
    await client.close()


@pytest.fixture(autouse=True)
def no_poll_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "REPEAT_MIN_INTERVAL", 0.0)


def ctx(seconds: float = 10.0) -> CallContext:
    return CallContext("caller", ORGANISATION, time.monotonic() + seconds)


def file(name: str, data: bytes, pieces: int = 3, **options: Any) -> list[protobuf_message.Message]:
    """One file as a client sends it: a message naming it (with its first bytes), then the rest in pieces."""
    size = max(1, len(data) // pieces)
    chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return [UploadRequest(name=name, chunk=chunks[0], **options)] + [UploadRequest(chunk=c) for c in chunks[1:]]


async def _messages(items: Iterable[protobuf_message.Message]) -> AsyncIterator[protobuf_message.Message]:
    for item in items:
        yield item


async def upload(engine: Engine, *messages: protobuf_message.Message, rpc_name: str = "UploadFiles") -> list[Any]:
    first, *rest = messages
    return [item async for item in engine.file_stream(D.spec(rpc_name), first, _messages(rest), ctx())]


def first_message(**call: Any) -> protobuf_message.Message:
    return UploadRequest(dataset_hash=DATASET, **call)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def by_file(messages: list[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for item in messages:
        grouped.setdefault(item.file_index, []).append(item)
    return grouped


# ---- the happy path ---------------------------------------------------------------------------------------


async def test_each_file_is_put_to_its_signed_url_registered_and_polled_and_its_progress_streams_back(
    engine: Engine, encord: tuple[Encord, Routes], bucket: Bucket
) -> None:
    one, two = b"first file " * 5, b"second, longer file " * 9
    messages = await upload(
        engine,
        first_message(),
        *file("a.jpg", one, content_type="image/jpeg"),
        *file("b.png", two, content_type="image/png", title="Bee"),
        rpc_name="UploadFilesOneByOne",
    )

    assert bucket.stored() == {"key-1": one, "key-2": two}
    assert messages == [
        Progress(file_index=0, name="a.jpg", size_bytes=len(one), sha256=sha(one)),
        Progress(file_index=0, name="a.jpg", size_bytes=len(one), sha256=sha(one), job="job-1", status="DONE"),
        Progress(file_index=1, name="b.png", size_bytes=len(two), sha256=sha(two)),
        Progress(file_index=1, name="b.png", size_bytes=len(two), sha256=sha(two), job="job-2", status="DONE"),
    ]
    _, routes = encord
    assert routes.jobs == [
        {"dataItems": {"videos": [], "images": [{"objectUrl": "key-1", "title": "a.jpg"}]}, "ignoreErrors": False},
        {"dataItems": {"videos": [], "images": [{"objectUrl": "key-2", "title": "Bee"}]}, "ignoreErrors": False},
    ]


async def test_a_put_carries_the_declared_and_upload_headers_and_no_encord_credential(
    engine: Engine, bucket: Bucket
) -> None:
    await upload(engine, first_message(), *file("a.jpg", b"x" * 40, content_type="image/jpeg"))

    (put,) = bucket.puts
    assert put.method == "PUT"
    assert put.headers["Content-Type"] == "image/jpeg"
    assert put.headers["Cache-Control"] == "max-age=86400"
    assert put.headers["x-ms-blob-type"] == "BlockBlob"
    assert put.headers["Content-Length"] == "40" and "Transfer-Encoding" not in put.headers
    leaked = {"Authorization", "Signature", "Signature-Input", "Content-Digest", "ResourceID", "ResourceType"}
    assert leaked.isdisjoint(put.headers)


async def test_a_file_without_a_content_type_is_put_without_one(engine: Engine, bucket: Bucket) -> None:
    await upload(engine, first_message(), *file("notes", b"x" * 8))

    assert "Content-Type" not in bucket.puts[0].headers


async def test_files_larger_than_memory_are_spooled_to_disk_and_arrive_whole(engine: Engine, bucket: Bucket) -> None:
    data = bytes(range(256)) * 3  # 768 bytes, the plan keeps 16 in memory

    (stored, done) = await upload(engine, first_message(), *file("big.bin", data, pieces=7))

    assert bucket.stored() == {"key-1": data}
    assert (stored.size_bytes, stored.sha256, done.status) == (len(data), sha(data), "DONE")


async def test_the_steps_of_several_files_run_at_once(engine: Engine, bucket: Bucket) -> None:
    bucket.both_arrived = asyncio.Event()  # the first PUT is answered only once the second one has arrived

    messages = await upload(engine, first_message(), *file("a", b"a" * 20), *file("b", b"b" * 20))

    assert sorted(m.name for m in messages if m.status == "DONE") == ["a", "b"]


# ---- transfers that fail, are retried, or renewed ---------------------------------------------------------


async def test_a_transient_storage_failure_is_retried_at_once_and_the_file_goes_through(
    engine: Engine, bucket: Bucket
) -> None:
    bucket.statuses = [503]

    messages = await upload(engine, first_message(), *file("a", b"abc" * 10))

    assert [put.path for put in bucket.puts] == ["/objects/key-1", "/objects/key-1"]
    assert bucket.puts[1].body == b"abc" * 10  # sent again from the start
    assert messages[-1].status == "DONE"


async def test_an_expired_url_is_renewed_and_the_registration_names_the_new_object(
    engine: Engine, encord: tuple[Encord, Routes], bucket: Bucket
) -> None:
    bucket.statuses = [403]

    messages = await upload(engine, first_message(), *file("a", b"abc" * 10))

    assert [put.path for put in bucket.puts] == ["/objects/key-1", "/objects/key-2"]
    assert encord[1].jobs[0]["dataItems"]["images"] == [{"objectUrl": "key-2", "title": "a"}]
    assert messages[-1].status == "DONE"


async def test_a_url_refused_again_after_renewal_fails_that_file_only_and_says_how_far_it_got(
    engine: Engine, encord: tuple[Encord, Routes], bucket: Bucket
) -> None:
    bucket.statuses = [403, 403]

    messages = await upload(
        engine, first_message(), *file("a", b"a" * 10), *file("b", b"b" * 10), rpc_name="UploadFilesOneByOne"
    )

    failed, *others = messages
    assert failed.file_index == 0 and failed.name == "a" and not failed.job and not failed.size_bytes
    assert failed.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "HTTP 403" in failed.error.message and "signed" not in failed.error.message.lower()
    assert [m.status for m in others if m.file_index == 1] == ["", "DONE"]
    assert len(encord[1].jobs) == 1  # nothing was registered for the file that never arrived


async def test_a_persistent_storage_failure_gives_up_after_the_sdks_retries(
    engine: Engine, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # records the backoff instead of taking it
        waits.append(seconds)

    monkeypatch.setattr(filestream.transfers.asyncio, "sleep", sleep)
    bucket.statuses = [503] * 4

    (failed,) = await upload(engine, first_message(), *file("a", b"a" * 10))

    assert len(bucket.puts) == 4 and waits == [0.0, 3.0, 6.0]  # urllib3's schedule with the SDK's factor 1.5
    assert failed.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert "503" in failed.error.message


# ---- the stream's own rules -------------------------------------------------------------------------------


async def test_a_file_over_the_size_bound_fails_alone_without_any_call(
    engine: Engine, encord: tuple[Encord, Routes], bucket: Bucket
) -> None:
    messages = await upload(
        engine, first_message(), *file("huge", b"h" * 1001, pieces=4), *file("fine", b"f" * 10),
        rpc_name="UploadFilesOneByOne",
    )  # fmt: skip

    huge = [m for m in messages if m.file_index == 0]
    assert len(huge) == 1 and huge[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert bucket.stored() == {"key-1": b"f" * 10}
    assert encord[1].issued == 1


async def test_bytes_before_any_file_are_refused(engine: Engine) -> None:
    with pytest.raises(GatewayError) as caught:
        await upload(engine, first_message(chunk=b"orphan"))

    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field_violations == [("[0].chunk", "bytes must follow a message that sets name")]


async def test_a_later_message_may_not_change_where_the_files_go_and_earlier_files_still_report(
    engine: Engine, bucket: Bucket
) -> None:
    received: list[Any] = []
    stream = engine.file_stream(
        D.spec("UploadFiles"),
        first_message(),
        _messages(
            [
                *file("a", b"a" * 10, pieces=1),
                UploadRequest(name="b", dataset_hash="00000000-0000-0000-0000-0000000000ff"),
            ]
        ),
        ctx(),
    )

    with pytest.raises(GatewayError) as caught:
        async for item in stream:
            received.append(item)

    assert caught.value.field_violations == [("[2].dataset_hash", "only the first message may set it")]
    assert received[-1].status == "DONE" and received[-1].name == "a"
    assert bucket.stored() == {"key-1": b"a" * 10}


async def test_a_stream_of_no_files_answers_nothing(engine: Engine, bucket: Bucket) -> None:
    assert await upload(engine, first_message()) == []
    assert bucket.puts == []


async def test_spooled_bytes_read_the_same_every_time(tmp_path: Any) -> None:
    spool = filestream.Spool(memory_bytes=10, max_bytes=100)
    for piece in (b"0123456", b"789abcdef", b"ghij"):
        await spool.write(piece)

    first = b"".join([chunk async for chunk in spool.chunks()])
    second = b"".join([chunk async for chunk in spool.chunks()])

    assert first == second == b"0123456789abcdefghij" and spool.on_disk
    assert spool.sha256 == sha(first) and spool.size == 20
    spool.close()


# ---- a transfer step outside a file stream ----------------------------------------------------------------


async def test_a_composite_can_transfer_the_bytes_of_a_request_field(engine: Engine, bucket: Bucket) -> None:
    data = b"model weights" * 50

    outcome = await engine.execute(D.spec("PutOne"), PutRequest(dataset_hash=DATASET, data=data), ctx())

    assert outcome.response == PutAnswer(size_bytes=len(data), sha256=sha(data))
    assert bucket.stored() == {"key-1": data}


# ---- declarations that cannot work ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (STEPS.replace('renew_step: "urls"', 'renew_step: "poll"') + FILES % (10, 1), "is not an earlier step"),
        (STEPS + FILES % (10, 0), "needs max_file_bytes, max_files, concurrency and memory_bytes"),
        (STEPS.replace("$urls.results.0.signedUrl", "$later.url") + FILES % (10, 1), "no earlier step named 'later'"),
        (STEPS, "a transfer outside a file stream sends a body_field"),
    ],
)
def test_a_file_stream_that_cannot_work_fails_at_start_up(text: str, problem: str) -> None:
    with pytest.raises(PlanError, match=problem):
        D.plan(op(text), "UploadRequest", "Progress", server_streaming=True)


# ---- what the upload declarations need of entries and references ------------------------------------------


def _built(*entries: str) -> dict[str, Any]:
    request = D["UploadRequest"](name="a.jpg")
    parsed = [plan.parse_entry(raw, request.DESCRIPTOR, camel=True) for raw in entries]
    return plan.build_object(parsed, Scope(request, encode_request_field), camel=True, keep_nulls=False)


def test_a_numeric_key_segment_builds_an_object_inside_a_list() -> None:
    assert _built(
        "dataItems.videos=[]", "dataItems.images.0.title=$request.name", "dataItems.images.0.title=$request.title",
        'dataItems.images.0.externalFileType="IMAGE"', 'dataItems.images.1.objectUrl="k2"',
    ) == {"dataItems": {"videos": [], "images": [{"title": "a.jpg", "externalFileType": "IMAGE"}, {"objectUrl": "k2"}]}}  # fmt: skip


def test_a_numeric_key_segment_past_the_next_element_is_a_malformed_answer() -> None:
    with pytest.raises(MalformedUpstreamResult, match="no element 2"):
        _built('items.0.a="x"', 'items.2.a="y"')


def test_every_element_of_a_single_value_is_the_value_itself() -> None:
    request = D["UploadRequest"](name="1.dcm")
    scope = Scope(request, encode_request_field)

    assert parse_reference("$request.name[*]").resolve(scope) == ["1.dcm"]
    assert parse_reference("$request.title[*]").resolve(scope) is MISSING
