"""The interceptor pipeline over real sockets: request ids, traces, idempotent writes, REST deadlines, a vault
that is slow for one organisation, one organisation's flood, and a failing Encord region.

Each test runs a gateway in its own event loop (tests/integration/inprocess.py) against the session sandbox
or against a small fake region that holds or fails calls on cue; calls go over gRPC and HTTP on 127.0.0.1.
Waits are on events the servers set, never on the clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import grpc
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
from encord_gateway.upstream.signing import private_key_to_openssh
from encord_gateway.vault.config import VaultConfig
from encord_gateway.vault.credentials import Vault
from encord_gateway.vault.store import SQLiteStore, StoredRecord
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from inprocess import InProcessGateway, in_process_gateway
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

WAIT_SECONDS = 20.0  # the most any event below is waited for; none takes more than a moment when things work


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None, error
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


def sandbox_keys(sandbox: Sandbox, users: dict[str, SandboxUser]) -> Any:
    def register(organisation: str) -> str:
        users[organisation] = sandbox.new_user()
        return users[organisation].openssh

    return register


def creates_by(sandbox: Sandbox, user: SandboxUser) -> int:
    """v1 `project POST` calls the sandbox received from one organisation's key."""
    return sum(
        1
        for entry in sandbox.requests_log()
        if entry.get("user") == user.email
        and (entry.get("query_type"), entry.get("query_method")) == ("project", "POST")
    )


@pytest.fixture
async def gateway(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[InProcessGateway, dict[str, SandboxUser]]]:
    users: dict[str, SandboxUser] = {}
    async with in_process_gateway(tmp_path, sandbox.url, sandbox_keys(sandbox, users), organisations=2) as running:
        yield running, users


# --- request ids ------------------------------------------------------------------------------------------


async def test_a_request_id_is_echoed_made_up_or_taken_from_the_trace_and_named_in_errors_and_audit(
    gateway: tuple[InProcessGateway, dict[str, SandboxUser]],
) -> None:
    gw, _ = gateway
    org = gw.organisations[0]
    projects = projects_pb2_grpc.ProjectServiceStub(gw.channel())

    given = projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=f"ids-{uuid.uuid4().hex[:8]}"),
        metadata=(*org.metadata, ("x-request-id", "order-42:create")),
    )
    created = await given
    assert dict(await given.initial_metadata())["x-request-id"] == "order-42:create"

    made_up = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=created.project_hash), metadata=org.metadata
    )
    await made_up
    assert re.fullmatch(r"[0-9a-f]{32}", dict(await made_up.initial_metadata())["x-request-id"])

    trace_id = uuid.uuid4().hex
    traced = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=created.project_hash),
        metadata=(*org.metadata, ("traceparent", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")),
    )
    await traced
    assert dict(await traced.initial_metadata())["x-request-id"] == trace_id

    missing = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4())),
        metadata=(*org.metadata, ("x-request-id", "lookup-7")),
    )
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await missing
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(failed.value).metadata["request_id"] == "lookup-7"
    assert ("x-request-id", "lookup-7") in tuple(failed.value.trailing_metadata() or ())

    refused = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash="x"), metadata=(("x-request-id", "no token"),)
    )
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await refused
    assert invalid.value.code() == grpc.StatusCode.UNAUTHENTICATED  # who asks comes first; then the id's form

    bad_id = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=created.project_hash),
        metadata=(*org.metadata, ("x-request-id", "two words")),
    )
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await bad_id
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-request-id" in error_info(malformed.value).metadata["fields"]

    # The audit trail names the write by the same id: its intent and its use of the organisation's key.
    events = [json.loads(line)["event"] for line in gw.audit_path.read_text().splitlines() if line.strip()]
    named = [(event["type"], event.get("phase") or event.get("outcome")) for event in events
             if event.get("request_id") == "order-42:create"]  # fmt: skip
    assert named == [("call", "intent"), ("credential_use", "OK")], events


async def test_rest_echoes_the_request_id_on_answers_and_refusals(
    gateway: tuple[InProcessGateway, dict[str, SandboxUser]],
) -> None:
    gw, _ = gateway
    org = gw.organisations[0]
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {org.token}", "X-Request-Id": "rest-1"}
        async with session.post(gw.rest + "/v1/projects", json={"title": "rest ids"}, headers=headers) as reply:
            assert reply.status == 200, await reply.text()
            assert reply.headers["x-request-id"] == "rest-1"
        async with session.get(gw.rest + "/v1/projects", headers={"X-Request-Id": "rest-2"}) as refused:
            assert refused.status == 401
            assert refused.headers["x-request-id"] == "rest-2"
            details = (await refused.json())["details"]
            assert details[0]["metadata"]["request_id"] == "rest-2"


# --- traces -----------------------------------------------------------------------------------------------


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def tree(finished: tuple[ReadableSpan, ...], trace_id: int) -> dict[str, list[str]]:
    """Each span name of one trace → the names of its children, in start order."""
    ours = sorted((s for s in finished if s.context is not None and s.context.trace_id == trace_id),
                  key=lambda s: s.start_time or 0)  # fmt: skip
    names = {s.context.span_id: s.name for s in ours if s.context is not None}
    children: dict[str, list[str]] = {s.name: [] for s in ours}
    for span in ours:
        if span.parent is not None and span.parent.span_id in names:
            children[names[span.parent.span_id]].append(span.name)
    return children


async def test_one_call_is_one_trace_of_the_call_its_cache_its_credential_and_each_upstream_attempt(
    sandbox: Sandbox, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    users: dict[str, SandboxUser] = {}
    async with in_process_gateway(tmp_path, sandbox.url, sandbox_keys(sandbox, users), tracer_provider=provider) as gw:
        org = gw.organisations[0]
        projects = projects_pb2_grpc.ProjectServiceStub(gw.channel())
        listing = projects_pb2.ListProjectsRequest(title_eq=f"traced-{uuid.uuid4().hex[:8]}")
        # Encord fails the first attempt: the read is retried, and each attempt is a span of its own.
        status, fault = sandbox.control("POST", "/sandbox/v1/faults",
                                        {"match": {"api": "v2", "method": "GET", "path_prefix": "/v2/public/projects"},
                                         "times": 1, "status": 503})  # fmt: skip
        assert status == 201, fault
        trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        traceparent = (("traceparent", f"00-{trace_id}-{parent_id}-01"),)
        await projects.ListProjects(listing, metadata=(*org.metadata, *traceparent))

    method = "/encord.gateway.v1.ProjectService/ListProjects"
    call = next(s for s in spans.get_finished_spans() if s.name == method)
    assert call.context is not None and call.parent is not None
    assert (f"{call.context.trace_id:032x}", f"{call.parent.span_id:016x}") == (trace_id, parent_id)  # continued
    assert call.attributes is not None and call.attributes["encord_gateway.request_id"] == trace_id
    assert call.attributes["encord_gateway.upstream_attempts"] == 2
    assert tree(spans.get_finished_spans(), int(trace_id, 16)) == {
        method: ["credential resolve", "cache get", "cache fetch"],
        "credential resolve": [],
        "cache get": [],
        "cache fetch": ["encord projects GET"],
        "encord projects GET": ["GET", "GET"],  # the aiohttp instrumentation: one client span per attempt
        "GET": [],
    }


# --- idempotent writes ------------------------------------------------------------------------------------


async def test_a_repeated_write_with_the_same_request_id_is_answered_once_and_a_different_one_is_refused(
    gateway: tuple[InProcessGateway, dict[str, SandboxUser]], sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="encord_gateway.access")
    gw, users = gateway
    first_org, second_org = gw.organisations
    projects = projects_pb2_grpc.ProjectServiceStub(gw.channel())
    request_id = (("x-request-id", f"create-{uuid.uuid4().hex}"),)
    request = projects_pb2.CreateProjectRequest(title=f"once-{uuid.uuid4().hex[:8]}")

    # Three at once (a retry storm): one call reaches Encord, all get its answer.
    answers = await asyncio.gather(
        *(projects.CreateProject(request, metadata=(*first_org.metadata, *request_id)) for _ in range(3))
    )
    assert len({answer.project_hash for answer in answers}) == 1
    again = projects.CreateProject(request, metadata=(*first_org.metadata, *request_id))
    assert (await again).project_hash == answers[0].project_hash
    assert dict(await again.initial_metadata())["x-idempotent-replay"] == "true"
    assert creates_by(sandbox, users[first_org.name]) == 1
    assert gw.metric("encord_gateway_idempotent_replays_total", grpc_service="encord.gateway.v1.ProjectService",
                     grpc_method="CreateProject") == 3  # fmt: skip
    gw.gateway.pipeline.flush()
    replays = [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "encord_gateway.access" and record.request_id == request_id[0][1]  # type: ignore[attr-defined]
    ]
    assert sorted(fields.get("idempotent_replay", False) for fields in replays) == [False, True, True, True]

    different = projects_pb2.CreateProjectRequest(title="another project")
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await projects.CreateProject(different, metadata=(*first_org.metadata, *request_id))
    assert reused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(reused.value).reason == "REQUEST_ID_REUSED"
    assert creates_by(sandbox, users[first_org.name]) == 1

    # Another caller's id is its own: the same id makes its own project.
    theirs = await projects.CreateProject(request, metadata=(*second_org.metadata, *request_id))
    assert theirs.project_hash != answers[0].project_hash
    assert creates_by(sandbox, users[second_org.name]) == 1

    # Over REST, with the header.
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {first_org.token}", "X-Request-Id": f"rest-{uuid.uuid4().hex}"}
        bodies = []
        for _ in range(2):
            async with session.post(gw.rest + "/v1/projects", json={"title": "rest once"}, headers=headers) as reply:
                assert reply.status == 200, await reply.text()
                bodies.append(await reply.json())
        assert bodies[0] == bodies[1]
    assert creates_by(sandbox, users[first_org.name]) == 2


# --- deadlines on REST ------------------------------------------------------------------------------------


@pytest.fixture
def slow_listings(sandbox: Sandbox) -> Iterator[None]:
    status, answer = sandbox.control("POST", "/sandbox/v1/faults", {
        "match": {"api": "v2", "method": "GET", "path_prefix": "/v2/public/projects"}, "times": 1, "delay_seconds": 5,
    })  # fmt: skip
    assert status == 201, answer
    yield
    assert sandbox.control("DELETE", "/sandbox/v1/faults")[0] == 204


async def test_a_rest_grpc_timeout_bounds_the_call_as_a_grpc_deadline_does(
    gateway: tuple[InProcessGateway, dict[str, SandboxUser]], slow_listings: None
) -> None:
    gw, _ = gateway
    org = gw.organisations[0]
    path = f"/v1/projects?title_eq=deadline-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {org.token}", "grpc-timeout": "800m"}
        async with session.get(gw.rest + path, headers=headers) as late:
            assert late.status == 504, await late.text()
            # The gateway gave up on Encord within the caller's 0.8 s and said so, as it does for gRPC.
            assert (await late.json())["details"][0]["reason"] == "UPSTREAM_TIMEOUT"
        async with session.get(gw.rest + path, headers={**headers, "grpc-timeout": "soon"}) as malformed:
            assert malformed.status == 400
            assert "grpc-timeout" in (await malformed.json())["details"][0]["metadata"]["fields"]


# --- a slow vault for one organisation ----------------------------------------------------------------------


class SlowStore:
    """The vault's SQLite backend, except that reading an organisation in `slow` waits until `released`
    (a stand-in for a vault backend that takes its time, as OpenBao over a slow network does)."""

    def __init__(self, inner: SQLiteStore) -> None:
        self._inner = inner
        self.slow: set[str] = set()
        self.entered = threading.Event()
        self.released = threading.Event()
        self.slow_reads = 0

    def list_records(self, kind: str | None = None, organisation: str | None = None) -> list[StoredRecord]:
        if organisation in self.slow:
            self.slow_reads += 1
            self.entered.set()
            assert self.released.wait(WAIT_SECONDS), "the test never released the slow organisation"
        return self._inner.list_records(kind, organisation)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_a_vault_slow_for_one_organisation_leaves_the_others_calls_unaffected(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    stores: list[SlowStore] = []

    def open_vault(directory: Path) -> Vault:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        store = SlowStore(SQLiteStore.open(directory / "vault.db"))
        stores.append(store)
        vault = Vault(store, VaultConfig(), directory)  # type: ignore[arg-type]  # SlowStore is a Backend
        assert vault.try_unseal()
        return vault

    users: dict[str, SandboxUser] = {}
    register = sandbox_keys(sandbox, users)
    async with in_process_gateway(tmp_path, sandbox.url, register, organisations=2, open_vault=open_vault) as gw:
        (store,) = stores
        slow, quick = gw.organisations
        projects = projects_pb2_grpc.ProjectServiceStub(gw.channel())
        listing = projects_pb2.ListProjectsRequest(title_eq=f"vault-{uuid.uuid4().hex[:8]}")
        store.slow.add(slow.name)

        waiting = [asyncio.ensure_future(projects.ListProjects(listing, metadata=slow.metadata)) for _ in range(3)]
        assert await asyncio.to_thread(store.entered.wait, WAIT_SECONDS)  # the slow organisation's lookup began

        answered = await projects.ListProjects(listing, metadata=quick.metadata, timeout=WAIT_SECONDS)
        assert list(answered.projects) == []
        assert not any(call.done() for call in waiting)  # still waiting for the vault, without holding anyone up

        store.released.set()
        assert all(list(answer.projects) == [] for answer in await asyncio.gather(*waiting))
        assert store.slow_reads == 1  # three calls, one vault lookup


# --- one organisation's flood, and a failing region ---------------------------------------------------------


class Region:
    """A stand-in for one Encord region over real sockets: answers v2 project listings; holds the calls
    signed by the keys in `held` until `release` is set, or fails every call with `failing`."""

    def __init__(self) -> None:
        self.held: set[str] = set()
        self.release = asyncio.Event()
        self.arrived: dict[str, int] = {}
        self.changed = asyncio.Event()
        self.failing: int | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        key = re.search(r'keyid="([0-9a-f]+)"', request.headers.get("Signature-Input", ""))
        signer = key.group(1) if key else ""
        self.arrived[signer] = self.arrived.get(signer, 0) + 1
        self.changed.set()
        if self.failing is not None:
            return web.json_response({"message": "region down"}, status=self.failing)
        if signer in self.held:
            await self.release.wait()
        return web.json_response({"results": []})

    async def until(self, signer: str, count: int) -> None:
        while self.arrived.get(signer, 0) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), WAIT_SECONDS)


@pytest.fixture
async def region() -> AsyncIterator[Region]:
    fake = Region()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield fake
    fake.release.set()
    await runner.cleanup()


def fresh_key(organisation: str) -> str:
    return private_key_to_openssh(Ed25519PrivateKey.generate()).decode("ascii")


async def test_one_organisations_flood_waits_in_its_own_lane_and_others_go_past(region: Region, tmp_path: Path) -> None:
    async with in_process_gateway(
        tmp_path, region.url, fresh_key, organisations=2, upstream_organisation_concurrency=2
    ) as gw:
        noisy, quiet = gw.organisations
        region.held.add(noisy.public_key_hex)
        projects = projects_pb2_grpc.ProjectServiceStub(gw.channel())
        lanes = gw.gateway.upstream.lanes
        waited, count = asyncio.Event(), lanes.on_wait

        def on_wait() -> None:
            assert count is not None
            count()
            if gw.metric("encord_upstream_organisation_waits_total") == 3:
                waited.set()

        lanes.on_wait = on_wait

        flood = [
            asyncio.ensure_future(
                projects.ListProjects(projects_pb2.ListProjectsRequest(title_eq=f"flood-{n}"), metadata=noisy.metadata)
            )
            for n in range(5)
        ]
        await region.until(noisy.public_key_hex, 2)  # its share of the connections, held by Encord
        await asyncio.wait_for(waited.wait(), WAIT_SECONDS)  # the other three wait in its lane
        assert lanes.in_flight(noisy.name) == 5

        await projects.ListProjects(projects_pb2.ListProjectsRequest(title_eq="quiet"), metadata=quiet.metadata)
        assert region.arrived[quiet.public_key_hex] == 1 and region.arrived[noisy.public_key_hex] == 2
        assert gw.metric("encord_upstream_organisation_waits_total") == 3

        region.release.set()
        await asyncio.gather(*flood)
        assert region.arrived[noisy.public_key_hex] == 5


async def test_a_failing_region_opens_its_circuit_and_calls_fail_fast_without_reaching_it(
    region: Region, tmp_path: Path
) -> None:
    async with in_process_gateway(tmp_path, region.url, fresh_key, circuit_failures=3, circuit_open_seconds=60.0) as gw:
        (org,) = gw.organisations
        region.failing = 503
        projects = projects_pb2_grpc.ProjectServiceStub(gw.channel())

        with pytest.raises(grpc.aio.AioRpcError) as down:  # a read: three attempts, all 503
            await projects.ListProjects(projects_pb2.ListProjectsRequest(title_eq="a"), metadata=org.metadata)
        assert (down.value.code(), error_info(down.value).reason) == (
            grpc.StatusCode.UNAVAILABLE,
            "UPSTREAM_UNAVAILABLE",
        )
        assert region.arrived[org.public_key_hex] == 3
        assert gw.metric("encord_upstream_circuit_state", host="127.0.0.1") == 2  # open

        with pytest.raises(grpc.aio.AioRpcError) as fast:
            await projects.ListProjects(projects_pb2.ListProjectsRequest(title_eq="b"), metadata=org.metadata)
        info = error_info(fast.value)
        assert (fast.value.code(), info.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CIRCUIT_OPEN")
        assert region.arrived[org.public_key_hex] == 3  # the region was spared the call

        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {org.token}"}
            async with session.get(gw.rest + "/v1/projects?title_eq=c", headers=headers) as reply:
                assert reply.status == 503
                assert 1 <= int(reply.headers["retry-after"]) <= 60  # how long the circuit stays open
