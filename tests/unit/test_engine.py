"""The operation engine against a scripted Encord on a real socket: what reaches the wire, what a caller gets.

Each RPC is declared below in the proto's own text form (declared.py). A small aiohttp server on
127.0.0.1 port 0 stands in for Encord: it checks every request's signature as Encord does, records it,
and answers from the test's script. The engine sends through the real UpstreamClient, signed with a key
generated for the run.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import hashlib
import json
import time
import types
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from declared import declare, field, message, op, rpc, rpc_full_name
from encord_gateway.cache.memory import MemoryCache
from encord_gateway.errors import GatewayError
from encord_gateway.operations import engine as engine_module
from encord_gateway.operations import paging
from encord_gateway.operations.catalog import OperationSpec
from encord_gateway.operations.engine import CallContext, Engine, assemble_client_stream
from encord_gateway.telemetry.metrics import Metrics
from encord_gateway.upstream import signing
from encord_gateway.upstream.client import UpstreamClient
from encord_gateway.upstream.credentials import CredentialResolver
from google.protobuf import empty_pb2
from google.protobuf import message as protobuf_message

PROJECT = "00000000-0000-0000-0000-000000000001"
ORGANISATION = "acme"
NAME = "engine"
GET_PROJECT = rpc_full_name(NAME, "GetProject")

D = declare(
    NAME,
    message("ProjectRequest", "string project_hash", "string title"),
    message("Project", "string project_hash", "string title", "string ontology_hash", "string status"),
    message("Ontology", "string ontology_hash", "string title"),
    message("FindRequest", "string title"),
    message("JobRequest", "string project_hash", "string job_hash", "optional uint32 wait_seconds"),
    message("JobStatus", "string job_hash", "string status", "int32 progress"),
    message("Row", "string label_hash", "string data_title"),
    message("LabelsRequest", "repeated string label_hashes", "repeated Row rows"),
    message("Rows", "repeated Row rows", "int32 saved"),
    message("ListRequest", "string title", "int32 page_size", "string page_token"),
    message("ListResponse", field("repeated Row rows", wire_name="results"), "string next_page_token"),
    message("RowsPage", "repeated Row rows", "string next_page_token"),
    message("UploadRequest", "string project_hash", "string file_name", "bytes data"),
    message("Outcome", "string result"),
    message("ProjectDetails", "Project project", "Ontology ontology"),
    # single calls, the cache and invalidation
    rpc("GetProject", "ProjectRequest", "Project", op("""
        v1: {query_type: "project" query_method: "GET" payload_fields: ["include_labels_metadata=true"]}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash" cache_ttl_seconds: 60
    """)),
    rpc("RenameProject", "ProjectRequest", "google.protobuf.Empty", op(f"""
        v1: {{query_type: "project" query_method: "PUT" payload_fields: ["title"]}}
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
        invalidates: ["{GET_PROJECT}"]
    """)),
    rpc("TouchProject", "ProjectRequest", "google.protobuf.Empty", op("""
        v1: {query_type: "projecttouch" query_method: "POST" uid_generated: GENERATED_UUID4}
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """)),
    # composites
    rpc("GetProjectOntology", "ProjectRequest", "Ontology", op("""
        steps: {name: "project" v2: {method: "GET" path: "projects/{project_hash}"}}
        steps: {name: "ontology" v2: {method: "GET" path: "ontologies/{$project.ontologyHash}"}}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """)),
    rpc("GetProjectDetails", "ProjectRequest", "ProjectDetails", op("""
        steps: {name: "project" v2: {method: "GET" path: "projects/{project_hash}"}}
        steps: {name: "ontology" v2: {method: "GET" path: "ontologies/{$project.ontologyHash}"}}
        result_fields: ["project=$project", "ontology=$ontology"]
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """)),
    rpc("ArchiveProject", "ProjectRequest", "google.protobuf.Empty", op("""
        steps: {name: "get" v2: {method: "GET" path: "projects/{project_hash}"}}
        steps: {name: "archive" v2: {method: "POST" path: "projects/{project_hash}/archive"} when: ['$get.status != "archived"']}
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """)),
    rpc("FindProject", "FindRequest", "Project", op("""
        steps: {
            name: "find" v2: {method: "GET" path: "projects" query_fields: ["title"]}
            require: "$find.results.0" require_message: "no project has that title"
        }
        steps: {name: "get" v2: {method: "GET" path: "projects/{$find.results.0.projectHash}"}}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT
    """)),
    rpc("RunJob", "JobRequest", "JobStatus", op("""
        steps: {name: "start" v2: {method: "POST" path: "projects/{project_hash}/jobs"}}
        steps: {
            name: "poll" v2: {method: "GET" path: "projects/{project_hash}/jobs/{$start.jobHash}"}
            repeat_until: '$poll.status in ["DONE", "FAILED"]' emit: true
        }
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """)),
    rpc("WatchJob", "JobRequest", "JobStatus", op("""
        steps: {name: "start" v2: {method: "POST" path: "projects/{project_hash}/jobs"}}
        steps: {
            name: "poll" v2: {method: "GET" path: "projects/{project_hash}/jobs/{$start.jobHash}"}
            repeat_until: '$poll.status == "DONE"' emit: true
        }
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """), server_streaming=True),
    rpc("ExportRows", "ProjectRequest", "Row", op("""
        steps: {name: "count" v2: {method: "GET" path: "projects/{project_hash}/rows:count"}}
        steps: {name: "rows" v2: {method: "GET" path: "projects/{project_hash}/rows"} emit: true emit_path: "$rows.rows"}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """), server_streaming=True),
    # chunking
    rpc("GetLabelRows", "LabelsRequest", "Rows", op("""
        v1: {query_type: "labelrow" query_method: "GET" uid_field: "label_hashes" payload_fields: ["multi_request=true"]}
        chunking: {fields: ["label_hashes"] size: 1000 limit_error: "MULTI_LABEL_LIMIT_ERROR"
                   limit_key: "maximum_labels_allowed" limit_fallback: 40}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT result_field: "rows"
    """)),
    rpc("SaveLabelRows", "LabelsRequest", "Rows", op("""
        v1: {query_type: "labelrows" query_method: "POST" uid_field: "label_hashes" payload_field: "rows"}
        chunking: {fields: ["label_hashes", "rows"] size: 2 merge_key: "rows"}
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_PROJECT
    """)),
    # paging
    rpc("ListRows", "ListRequest", "ListResponse", op("""
        v2: {method: "GET" path: "rows" query_fields: ["title", "page_token"]}
        paging: {items: "results" items_field: "rows"}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT
    """)),
    rpc("ListRowsIntoItemsField", "ListRequest", "RowsPage", op("""
        v2: {method: "GET" path: "rows" query_fields: ["page_token"]}
        paging: {items: "results" items_field: "rows"}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT
    """)),
    rpc("ListRowsSized", "ListRequest", "ListResponse", op("""
        v2: {method: "GET" path: "rows" query_fields: ["page_size", "page_token"]}
        paging: {items: "results" items_field: "rows" size_param: "pageSize" max_page_size: 50}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT
    """)),
    rpc("ListAllRows", "ListRequest", "ListResponse", op("""
        v2: {method: "GET" path: "rows:all" query_fields: ["page_token"]}
        paging: {items: "results" items_field: "rows" single_page: true}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT
    """)),
    rpc("StreamRows", "ListRequest", "Row", op("""
        v2: {method: "GET" path: "rows" query_fields: ["title", "page_token"]}
        paging: {items: "results"}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT
    """), server_streaming=True),
    # long poll, client stream, success/error unions
    rpc("WaitForJob", "JobRequest", "JobStatus", op("""
        v2: {method: "GET" path: "jobs/{job_hash}" query_fields: ["wait_seconds"]}
        long_poll: {field: "wait_seconds" max_seconds: 30}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT
    """)),
    rpc("Upload", "UploadRequest", "Outcome", op("""
        v2: {method: "POST" path: "projects/{project_hash}/files" body_fields: ["file_name", "data"]}
        client_stream: {chunk_field: "data" max_bytes: 10}
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """), client_streaming=True),
    rpc("Predict", "ProjectRequest", "Outcome", op("""
        v2: {method: "POST" path: "projects/{project_hash}/predict"}
        error_path: "error"
        access: ACCESS_COMPUTE resource_type: RESOURCE_TYPE_PROJECT resource_field: "project_hash"
    """)),
)  # fmt: skip
ProjectRequest, Project, Ontology, FindRequest = (
    D[n] for n in ("ProjectRequest", "Project", "Ontology", "FindRequest")
)
JobRequest, JobStatus, Row, LabelsRequest, Rows = (
    D[n] for n in ("JobRequest", "JobStatus", "Row", "LabelsRequest", "Rows")
)
ListRequest, RowsPage, UploadRequest, Outcome = (D[n] for n in ("ListRequest", "RowsPage", "UploadRequest", "Outcome"))


# ---- a scripted Encord ------------------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as Encord received it."""

    method: str
    path: str
    query: str
    body: bytes
    resource: tuple[str, str]  # v1 ResourceType and ResourceID headers

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def values(self) -> Any:
        """The v1 envelope's `values`: {"uid", "payload"}."""
        return self.json["values"]

    @property
    def params(self) -> list[tuple[str, str]]:
        return urllib.parse.parse_qsl(self.query, keep_blank_values=True)


Reply = Callable[[Seen], web.Response]


def v1(result: Any) -> Reply:
    return lambda _: web.json_response({"status": 200, "response": result})


def v1_error(code: str, payload: Any = None) -> web.Response:
    return web.json_response({"status": 400, "response": [code], "payload": payload})


def v2(result: Any) -> Reply:
    return lambda _: web.json_response(result)


def _signature_holds(request: web.Request, body: bytes, public_key_hex: str) -> bool:
    """Encord's check: v1 `Authorization: <key>:<sig of sha256(body)>`; v2 an RFC 9421 signature."""
    if request.path.startswith("/public"):
        key, _, signature = request.headers.get("Authorization", "").partition(":")
        return key == public_key_hex and signing.verify(key, bytes.fromhex(signature), hashlib.sha256(body).digest())
    params = request.headers.get("Signature-Input", "").removeprefix("encord-sig=")
    digest = request.headers.get("Content-Digest", "")
    if digest != signing.content_digest(body) or f'keyid="{public_key_hex}"' not in params:
        return False
    base = signing.signature_base(request.method, request.raw_path, digest, params)
    signature = base64.b64decode(request.headers.get("Signature", "").removeprefix("encord-sig=:").removesuffix(":"))
    return signing.verify(public_key_hex, signature, base)


@dataclass
class Encord:
    """Answers with `replies` in order (the last one repeats); records every request it accepts."""

    signer: signing.Signer
    url: str = ""
    replies: list[Reply] = dataclasses.field(default_factory=list)
    seen: list[Seen] = dataclasses.field(default_factory=list)

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not _signature_holds(request, body, self.signer.public_key_hex):
            return web.json_response({"message": "bad signature"}, status=401)
        path, _, query = request.raw_path.partition("?")  # as sent: aiohttp's path and query_string are decoded
        resource = (request.headers.get("ResourceType", ""), request.headers.get("ResourceID", ""))
        seen = Seen(request.method, path, query, body, resource)
        self.seen.append(seen)
        if not self.replies:  # a status no retry policy repeats, so the test fails on the first unscripted call
            return web.json_response({"message": f"unscripted call {seen}"}, status=418)
        return self.replies[min(len(self.seen), len(self.replies)) - 1](seen)

    @property
    def targets(self) -> list[str]:
        return [f"{s.method} {s.path}" + (f"?{s.query}" if s.query else "") for s in self.seen]


@dataclass
class Vault:
    """The part of the vault the credential resolver asks: one organisation's SSH key."""

    signer: signing.Signer

    def signing_key_for_org(self, organisation: str) -> tuple[str, signing.Signer]:
        assert organisation == ORGANISATION
        return self.signer.public_key_hex, self.signer

    def api_key_for(self, organisation: str, resource_type: str, resource_hash: str, scope: str) -> None:
        return None

    def record_use(self, credential_id: str) -> None:
        """Use counts are the vault's business, not these tests'."""


@pytest.fixture
async def encord() -> AsyncIterator[Encord]:
    fake = Encord(signing.Signer(Ed25519PrivateKey.generate()))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def engine(encord: Encord) -> AsyncIterator[Engine]:
    client = UpstreamClient(encord.url, Metrics())
    await client.start()
    resolver = CredentialResolver(Vault(encord.signer))
    yield Engine(client, resolver, MemoryCache(), Metrics())
    await client.close()
    await resolver.close()


@pytest.fixture
def no_poll_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "REPEAT_MIN_INTERVAL", 0.0)


def ctx(seconds: float = 10.0) -> CallContext:
    return CallContext("caller", ORGANISATION, time.monotonic() + seconds)


@functools.cache
def spec(name: str) -> OperationSpec:
    return D.spec(name)


async def call(engine: Engine, name: str, request: protobuf_message.Message, seconds: float = 10.0) -> Any:
    return (await engine.execute(spec(name), request, ctx(seconds))).response


async def fails(engine: Engine, name: str, request: protobuf_message.Message, seconds: float = 10.0) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await engine.execute(spec(name), request, ctx(seconds))
    return caught.value


async def streamed(engine: Engine, name: str, request: protobuf_message.Message) -> list[Any]:
    return [item async for item in engine.stream(spec(name), request, ctx())]


# ---- single calls -----------------------------------------------------------------------------------------


async def test_a_single_call_sends_the_declared_envelope_and_decodes_the_answer(engine: Engine, encord: Encord) -> None:
    encord.script(v1({"project_hash": PROJECT, "title": "Cars", "not_a_field": 1}))
    response = await call(engine, "GetProject", ProjectRequest(project_hash=PROJECT))
    assert response == Project(project_hash=PROJECT, title="Cars")
    (seen,) = encord.seen
    assert (seen.method, seen.path, seen.resource) == ("POST", "/public", ("project", PROJECT))
    assert seen.body == (
        b'{"query_type": "project", "query_method": "GET", '
        b'"values": {"uid": null, "payload": {"include_labels_metadata": true}}}'
    )


async def test_an_empty_response_ignores_whatever_encord_answers(engine: Engine, encord: Encord) -> None:
    encord.script(v1(["not", {"an": "object"}]))
    assert await call(engine, "RenameProject", ProjectRequest(project_hash=PROJECT, title="T")) == empty_pb2.Empty()
    assert encord.seen[0].values == {"uid": None, "payload": {"title": "T"}}


async def test_a_generated_uid_is_a_fresh_uuid4_on_every_call(engine: Engine, encord: Encord) -> None:
    encord.script(v1(True))
    for _ in range(2):
        await call(engine, "TouchProject", ProjectRequest(project_hash=PROJECT))
    uids = [seen.values["uid"] for seen in encord.seen]
    assert uids[0] != uids[1]
    assert all(uuid.UUID(uid).version == 4 for uid in uids)


# ---- composites -------------------------------------------------------------------------------------------


async def test_a_composites_second_call_uses_the_first_answer(engine: Engine, encord: Encord) -> None:
    encord.script(v2({"projectHash": PROJECT, "ontologyHash": "onto/1"}), v2({"ontologyHash": "onto/1", "title": "O"}))
    response = await call(engine, "GetProjectOntology", ProjectRequest(project_hash=PROJECT))
    assert encord.targets == [f"GET /v2/public/projects/{PROJECT}", "GET /v2/public/ontologies/onto%2F1"]
    assert response == Ontology(ontology_hash="onto/1", title="O")


async def test_a_composite_answers_with_the_result_fields_it_picks_from_several_answers(
    engine: Engine, encord: Encord
) -> None:
    encord.script(v2({"projectHash": PROJECT, "ontologyHash": "o1"}), v2({"ontologyHash": "o1", "title": "O"}))
    response = await call(engine, "GetProjectDetails", ProjectRequest(project_hash=PROJECT))
    assert response == D["ProjectDetails"](
        project=Project(project_hash=PROJECT, ontology_hash="o1"), ontology=Ontology(ontology_hash="o1", title="O")
    )


async def test_a_step_whose_condition_fails_makes_no_call(engine: Engine, encord: Encord) -> None:
    encord.script(v2({"status": "archived"}))
    await call(engine, "ArchiveProject", ProjectRequest(project_hash=PROJECT))
    assert encord.targets == [f"GET /v2/public/projects/{PROJECT}"]


async def test_a_step_whose_condition_holds_runs(engine: Engine, encord: Encord) -> None:
    encord.script(v2({"status": "active"}), v2({"ok": True}))
    await call(engine, "ArchiveProject", ProjectRequest(project_hash=PROJECT))
    assert encord.targets == [f"GET /v2/public/projects/{PROJECT}", f"POST /v2/public/projects/{PROJECT}/archive"]


async def test_a_failed_requirement_is_not_found_with_its_message_and_stops_the_steps(
    engine: Engine, encord: Encord
) -> None:
    encord.script(v2({"results": []}))
    error = await fails(engine, "FindProject", FindRequest(title="Cars & Bikes"))
    assert (error.code, error.message, error.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "no project has that title",
        "NOT_FOUND",
    )
    assert encord.targets == ["GET /v2/public/projects?title=Cars+%26+Bikes"]


async def test_a_met_requirement_lets_the_next_step_read_what_it_found(engine: Engine, encord: Encord) -> None:
    encord.script(v2({"results": [{"projectHash": PROJECT}]}), v2({"projectHash": PROJECT, "title": "Cars"}))
    assert await call(engine, "FindProject", FindRequest(title="Cars")) == Project(project_hash=PROJECT, title="Cars")
    assert encord.targets[1] == f"GET /v2/public/projects/{PROJECT}"


def job_answers(*statuses: str) -> list[Reply]:
    started = v2({"jobHash": "job-1"})
    return [started, *(v2({"jobHash": "job-1", "status": s, "progress": 10 * i}) for i, s in enumerate(statuses))]


async def test_a_repeated_step_polls_until_its_condition_holds(
    engine: Engine, encord: Encord, no_poll_interval: None
) -> None:
    encord.script(*job_answers("RUNNING", "RUNNING", "DONE"))
    response = await call(engine, "RunJob", JobRequest(project_hash=PROJECT))
    assert response == JobStatus(job_hash="job-1", status="DONE", progress=20)
    poll = f"GET /v2/public/projects/{PROJECT}/jobs/job-1"
    assert encord.targets == [f"POST /v2/public/projects/{PROJECT}/jobs", poll, poll, poll]


async def test_a_repeated_step_waits_the_poll_interval_between_polls(
    engine: Engine, encord: Encord, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # records the wait instead of taking it
        waits.append(seconds)

    monkeypatch.setattr(engine_module, "REPEAT_MIN_INTERVAL", 60.0)
    monkeypatch.setattr(engine_module, "asyncio", types.SimpleNamespace(sleep=sleep))
    encord.script(*job_answers("RUNNING", "RUNNING", "FAILED"))
    assert (await call(engine, "RunJob", JobRequest(project_hash=PROJECT), seconds=120)).status == "FAILED"
    assert len(waits) == 2 and all(55 < wait <= 60 for wait in waits)


async def test_a_repeated_step_stops_at_the_deadline_with_deadline_exceeded(
    engine: Engine, encord: Encord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "REPEAT_MIN_INTERVAL", 60.0)  # the next poll would be after the deadline
    encord.script(*job_answers("RUNNING"))
    error = await fails(engine, "RunJob", JobRequest(project_hash=PROJECT), seconds=5)
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "the deadline expired while waiting for poll to finish" in error.message
    assert len(encord.seen) == 2  # the start and one poll: it did not poll again, nor wait in vain


async def test_an_emitting_step_streams_one_message_per_answer(
    engine: Engine, encord: Encord, no_poll_interval: None
) -> None:
    encord.script(*job_answers("RUNNING", "RUNNING", "DONE"))
    messages = await streamed(engine, "WatchJob", JobRequest(project_hash=PROJECT))
    assert messages == [
        JobStatus(job_hash="job-1", status="RUNNING", progress=0),
        JobStatus(job_hash="job-1", status="RUNNING", progress=10),
        JobStatus(job_hash="job-1", status="DONE", progress=20),
    ]


async def test_an_emit_path_streams_each_element_and_steps_that_do_not_emit_send_nothing(
    engine: Engine, encord: Encord
) -> None:
    encord.script(v2({"count": 2}), v2({"rows": [{"label_hash": "l1"}, {"label_hash": "l2", "data_title": "t"}]}))
    messages = await streamed(engine, "ExportRows", ProjectRequest(project_hash=PROJECT))
    assert messages == [Row(label_hash="l1"), Row(label_hash="l2", data_title="t")]


# ---- chunking ---------------------------------------------------------------------------------------------


def rows_for_uids(limit: int | None = None, limit_payload: Any = None) -> Reply:
    """A labelrow GET: one row per requested hash, or MULTI_LABEL_LIMIT_ERROR above `limit` hashes."""

    def reply(seen: Seen) -> web.Response:
        uids = seen.values["uid"]
        if limit is not None and len(uids) > limit:
            return v1_error("MULTI_LABEL_LIMIT_ERROR", limit_payload)
        return web.json_response({"status": 200, "response": [{"label_hash": h, "data_title": "t"} for h in uids]})

    return reply


HASHES = [f"label-{i:04d}" for i in range(2500)]


async def test_a_long_list_is_split_into_calls_of_the_chunk_size_in_order_and_answers_merged_in_order(
    engine: Engine, encord: Encord
) -> None:
    encord.script(rows_for_uids())
    response = await call(engine, "GetLabelRows", LabelsRequest(label_hashes=HASHES))
    assert [seen.values["uid"] for seen in encord.seen] == [HASHES[:1000], HASHES[1000:2000], HASHES[2000:]]
    assert all(seen.values["payload"] == {"multi_request": True} for seen in encord.seen)
    assert [row.label_hash for row in response.rows] == HASHES


async def test_a_multi_label_limit_error_retries_with_the_limit_encord_gives(engine: Engine, encord: Encord) -> None:
    encord.script(rows_for_uids(limit=100, limit_payload={"maximum_labels_allowed": 100}))
    response = await call(engine, "GetLabelRows", LabelsRequest(label_hashes=HASHES[:250]))
    assert [len(seen.values["uid"]) for seen in encord.seen] == [250, 100, 100, 50]
    assert [seen.values["uid"][0] for seen in encord.seen[1:]] == [HASHES[0], HASHES[100], HASHES[200]]
    assert [row.label_hash for row in response.rows] == HASHES[:250]


async def test_a_limit_error_without_a_limit_falls_back_to_the_declared_size(engine: Engine, encord: Encord) -> None:
    encord.script(rows_for_uids(limit=100, limit_payload=None))
    response = await call(engine, "GetLabelRows", LabelsRequest(label_hashes=HASHES[:130]))
    assert [len(seen.values["uid"]) for seen in encord.seen] == [130, 40, 40, 40, 10]
    assert [row.label_hash for row in response.rows] == HASHES[:130]


async def test_other_errors_of_a_chunk_are_not_retried(engine: Engine, encord: Encord) -> None:
    encord.script(lambda _: v1_error("AUTHORISATION_ERROR"))
    error = await fails(engine, "GetLabelRows", LabelsRequest(label_hashes=HASHES[:5]))
    assert (error.code, error.reason, len(encord.seen)) == (grpc.StatusCode.PERMISSION_DENIED, "AUTHORISATION_ERROR", 1)


def saved(seen: Seen) -> web.Response:
    rows = [{"label_hash": h, "data_title": "saved"} for h in seen.values["uid"]]
    return web.json_response({"status": 200, "response": {"rows": rows, "saved": len(rows)}})


async def test_fields_chunked_in_lockstep_stay_aligned_and_merge_key_lists_are_concatenated(
    engine: Engine, encord: Encord
) -> None:
    encord.script(saved)
    request = LabelsRequest(label_hashes=["a", "b", "c"], rows=[Row(label_hash=h, data_title=h) for h in "abc"])
    response = await call(engine, "SaveLabelRows", request)
    assert [seen.values for seen in encord.seen] == [
        {
            "uid": ["a", "b"],
            "payload": [{"label_hash": "a", "data_title": "a"}, {"label_hash": "b", "data_title": "b"}],
        },
        {"uid": ["c"], "payload": [{"label_hash": "c", "data_title": "c"}]},
    ]
    assert [row.label_hash for row in response.rows] == ["a", "b", "c"]
    assert response.saved == 1  # the rest of the answer is the last call's


async def test_lockstep_fields_of_different_lengths_are_invalid_argument_before_any_call(
    engine: Engine, encord: Encord
) -> None:
    error = await fails(engine, "SaveLabelRows", LabelsRequest(label_hashes=["a", "b"], rows=[Row()]))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.field_violations[0][0] == "rows"
    assert encord.seen == []


# ---- paging -----------------------------------------------------------------------------------------------


def rows(*ids: str) -> list[dict[str, str]]:
    return [{"label_hash": i} for i in ids]


def encord_pages(seen: Seen) -> web.Response:
    """Encord's listing: page one (no token) has r0..r4 and a next token, page two r5 and r6."""
    token = dict(seen.params).get("pageToken", "")
    if token == "":
        return web.json_response({"results": rows("r0", "r1", "r2", "r3", "r4"), "nextPageToken": "enc 2"})
    assert token == "enc 2", token
    return web.json_response({"results": rows("r5", "r6")})


async def test_pages_are_sliced_at_page_size_and_tokens_lead_through_encords_pages(
    engine: Engine, encord: Encord
) -> None:
    encord.script(encord_pages)
    seen_ids, token, answers = [], "", 0
    while True:
        page = await call(engine, "ListRows", ListRequest(title="t", page_size=2, page_token=token))
        seen_ids.append([row.label_hash for row in page.rows])
        token, answers = page.next_page_token, answers + 1
        if not token or answers > 10:
            break
    assert seen_ids == [["r0", "r1"], ["r2", "r3"], ["r4"], ["r5", "r6"]]
    assert [dict(s.params).get("pageToken") for s in encord.seen] == [None, None, None, "enc 2"]
    assert all(dict(s.params)["title"] == "t" for s in encord.seen)


async def test_a_page_token_is_the_gateways_own_wrapping_of_encords_token_and_an_offset(
    engine: Engine, encord: Encord
) -> None:
    encord.script(encord_pages)
    first = await call(engine, "ListRows", ListRequest(page_size=2))
    assert paging.decode_token(first.next_page_token) == paging.PagePosition("", 2)
    whole = await call(engine, "ListRows", ListRequest())  # no page size: Encord's page as it is
    assert [row.label_hash for row in whole.rows] == ["r0", "r1", "r2", "r3", "r4"]
    assert paging.decode_token(whole.next_page_token) == paging.PagePosition("enc 2", 0)


async def test_the_items_of_a_page_fill_the_declared_items_field(engine: Engine, encord: Encord) -> None:
    encord.script(v2({"results": rows("a", "b")}))
    page = await call(engine, "ListRowsIntoItemsField", ListRequest())
    assert page == RowsPage(rows=[Row(label_hash="a"), Row(label_hash="b")])


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "W10",
        base64.urlsafe_b64encode(b'["x", -1]').decode(),
        paging.encode_token(paging.PagePosition("x" * 4000, 0)),
    ],
)
async def test_a_page_token_the_gateway_did_not_issue_is_invalid_argument_without_a_call(
    engine: Engine, encord: Encord, token: str
) -> None:
    error = await fails(engine, "ListRows", ListRequest(page_token=token))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in error.field_violations] == ["page_token"]
    assert encord.seen == []


async def test_a_negative_page_size_is_invalid_argument_without_a_call(engine: Engine, encord: Encord) -> None:
    error = await fails(engine, "ListRows", ListRequest(page_size=-1))
    assert (error.code, [f for f, _ in error.field_violations]) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])
    assert encord.seen == []


async def test_encords_page_size_parameter_carries_the_page_size_coerced_to_its_maximum(
    engine: Engine, encord: Encord
) -> None:
    encord.script(v2({"results": rows("a"), "nextPageToken": "n"}))
    await call(engine, "ListRowsSized", ListRequest(page_size=10))
    await call(engine, "ListRowsSized", ListRequest(page_size=500))
    assert [s.query for s in encord.seen] == ["pageSize=10", "pageSize=50"]


async def test_a_single_page_listing_never_sends_a_token_and_ignores_encords(engine: Engine, encord: Encord) -> None:
    encord.script(v2({"results": rows("a", "b", "c"), "nextPageToken": "never followed"}))
    first = await call(engine, "ListAllRows", ListRequest(page_size=2))
    second = await call(engine, "ListAllRows", ListRequest(page_size=2, page_token=first.next_page_token))
    assert ([r.label_hash for r in first.rows], [r.label_hash for r in second.rows]) == (["a", "b"], ["c"])
    assert second.next_page_token == ""
    assert [s.query for s in encord.seen] == ["", ""]
    everything = await call(engine, "ListAllRows", ListRequest())
    assert ([r.label_hash for r in everything.rows], everything.next_page_token) == (["a", "b", "c"], "")


async def test_a_streaming_listing_follows_encords_next_page_token_to_the_end(engine: Engine, encord: Encord) -> None:
    encord.script(
        v2({"results": rows("a", "b"), "nextPageToken": "t2"}),
        v2({"results": rows("c"), "next_page_token": "t3"}),  # Encord's other spelling
        v2({"results": rows("d", "e")}),
    )
    items = await streamed(engine, "StreamRows", ListRequest(title="x"))
    assert [item.label_hash for item in items] == ["a", "b", "c", "d", "e"]
    assert [s.query for s in encord.seen] == ["title=x", "title=x&pageToken=t2", "title=x&pageToken=t3"]


async def test_a_streaming_listing_resumes_at_a_gateway_token(engine: Engine, encord: Encord) -> None:
    encord.script(v2({"results": rows("c", "d", "e")}))
    token = paging.encode_token(paging.PagePosition("t2", 1))
    items = await streamed(engine, "StreamRows", ListRequest(page_token=token))
    assert [item.label_hash for item in items] == ["d", "e"]
    assert [s.query for s in encord.seen] == ["pageToken=t2"]


# ---- long poll --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "seconds_left", "sent"),
    [
        (5, 100.0, 5),  # what the caller asked
        (60, 100.0, 30),  # capped at max_seconds
        (60, 10.5, 9),  # what the deadline leaves, less the margin for the answer to travel
        (None, 100.0, 30),  # unset: as long as allowed
        (20, 0.9, 0),  # no time to wait at all
    ],
)
async def test_a_long_poll_asks_encord_to_wait_no_longer_than_asked_capped_or_the_deadline_allows(
    engine: Engine, encord: Encord, asked: int | None, seconds_left: float, sent: int
) -> None:
    encord.script(v2({"jobHash": "j", "status": "RUNNING"}))
    request = JobRequest(job_hash="j") if asked is None else JobRequest(job_hash="j", wait_seconds=asked)
    response = await call(engine, "WaitForJob", request, seconds=seconds_left)
    assert response == JobStatus(job_hash="j", status="RUNNING")
    assert encord.targets == [f"GET /v2/public/jobs/j?waitSeconds={sent}"]


# ---- client streams ---------------------------------------------------------------------------------------


@dataclass
class Sent:
    """A client stream that counts how many of its messages the gateway has read."""

    messages: list[protobuf_message.Message]
    read: int = 0

    async def __aiter__(self) -> AsyncIterator[protobuf_message.Message]:
        for item in self.messages:
            self.read += 1
            yield item


async def test_a_client_stream_concatenates_its_chunks_into_one_call(engine: Engine, encord: Encord) -> None:
    encord.script(v2({"result": "stored"}))
    stream = Sent([
        UploadRequest(project_hash=PROJECT, file_name="a.txt", data=b"abc"),
        UploadRequest(data=b"de"),
        UploadRequest(data=b""),
        UploadRequest(data=b"fgh"),
    ])  # fmt: skip
    request = await assemble_client_stream(spec("Upload"), stream.__aiter__())
    assert request == UploadRequest(project_hash=PROJECT, file_name="a.txt", data=b"abcdefgh")
    assert await call(engine, "Upload", request) == Outcome(result="stored")
    assert encord.seen[0].json == {"fileName": "a.txt", "data": base64.b64encode(b"abcdefgh").decode()}


async def test_a_later_message_setting_another_field_is_invalid_argument() -> None:
    stream = Sent([UploadRequest(file_name="a", data=b"1"), UploadRequest(data=b"2"), UploadRequest(file_name="b")])
    with pytest.raises(GatewayError) as caught:
        await assemble_client_stream(spec("Upload"), stream.__aiter__())
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field_violations == [("[2].file_name", "only data may follow the first message")]


async def test_a_client_stream_over_max_bytes_is_refused_before_the_rest_is_read() -> None:
    stream = Sent(
        [UploadRequest(data=b"123456"), UploadRequest(data=b"7890"), UploadRequest(data=b"!"), UploadRequest()]
    )
    with pytest.raises(GatewayError) as caught:
        await assemble_client_stream(spec("Upload"), stream.__aiter__())
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field_violations == [("data", "is larger than 10 bytes")]
    assert stream.read == 3  # the fourth message was never read


async def test_an_empty_client_stream_is_invalid_argument() -> None:
    with pytest.raises(GatewayError) as caught:
        await assemble_client_stream(spec("Upload"), Sent([]).__aiter__())
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


# ---- success/error unions ---------------------------------------------------------------------------------


async def test_an_answer_carrying_an_error_member_fails_with_failed_precondition(
    engine: Engine, encord: Encord
) -> None:
    encord.script(v2({"error": {"message": "model not trained", "code": 7}}))
    error = await fails(engine, "Predict", ProjectRequest(project_hash=PROJECT))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UPSTREAM_OPERATION_FAILED")
    assert error.message == "Encord reported a failure: model not trained"


@pytest.mark.parametrize("answer", [{"result": "cat"}, {"result": "cat", "error": None}])
async def test_an_answer_without_an_error_member_is_the_result(engine: Engine, encord: Encord, answer: Any) -> None:
    encord.script(v2(answer))
    assert await call(engine, "Predict", ProjectRequest(project_hash=PROJECT)) == Outcome(result="cat")


# ---- cache ------------------------------------------------------------------------------------------------


async def test_a_read_is_cached_and_a_declared_write_invalidates_it(engine: Engine, encord: Encord) -> None:
    encord.script(v1({"title": "old"}), v1(True), v1({"title": "new"}))
    request = ProjectRequest(project_hash=PROJECT)
    first = await engine.execute(spec("GetProject"), request, ctx())
    again = await engine.execute(spec("GetProject"), request, ctx())
    assert (first.cache, again.cache, again.response.title) == ("miss", "hit", "old")
    assert len(encord.seen) == 1
    await call(engine, "RenameProject", ProjectRequest(project_hash=PROJECT, title="new"))
    after = await engine.execute(spec("GetProject"), request, ctx())
    assert (after.cache, after.response.title, len(encord.seen)) == ("miss", "new", 3)


async def test_a_write_that_does_not_declare_the_read_leaves_it_cached(engine: Engine, encord: Encord) -> None:
    encord.script(v1({"title": "old"}), v1(True))
    request = ProjectRequest(project_hash=PROJECT)
    await engine.execute(spec("GetProject"), request, ctx())
    await call(engine, "TouchProject", request)
    assert (await engine.execute(spec("GetProject"), request, ctx())).cache == "hit"
    assert len(encord.seen) == 2


async def test_different_requests_are_cached_apart(engine: Engine, encord: Encord) -> None:
    encord.script(v1({"title": "one"}), v1({"title": "two"}))
    one = await call(engine, "GetProject", ProjectRequest(project_hash=PROJECT))
    two = await call(engine, "GetProject", ProjectRequest(project_hash="another"))
    assert (one.title, two.title, len(encord.seen)) == ("one", "two", 2)


async def test_a_failed_read_is_not_cached(engine: Engine, encord: Encord) -> None:
    encord.script(lambda _: v1_error("AUTHORISATION_ERROR"), v1({"title": "later"}))
    request = ProjectRequest(project_hash=PROJECT)
    assert (await fails(engine, "GetProject", request)).code == grpc.StatusCode.PERMISSION_DENIED
    assert (await engine.execute(spec("GetProject"), request, ctx())).cache == "miss"
    assert len(encord.seen) == 2


async def test_concurrent_identical_reads_make_one_upstream_call(engine: Engine, encord: Encord) -> None:
    encord.script(v1({"title": "shared"}))
    request = ProjectRequest(project_hash=PROJECT)
    outcomes = await asyncio.gather(*(engine.execute(spec("GetProject"), request, ctx()) for _ in range(3)))
    assert [o.response.title for o in outcomes] == ["shared"] * 3
    assert len(encord.seen) == 1
