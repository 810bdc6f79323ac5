"""A misbehaving Encord, over real sockets: a real gateway process in front of a fake upstream that answers
with deep, huge, malformed, slow and resetting answers. Whatever it does, the caller gets a clear
status (never INTERNAL, a bare 500 or a gRPC metadata error) within its deadline plus a small margin.

The RPCs come from the catalog (`load_catalog()`): each misbehaviour meets one RPC of every shape
(v1 or v2, single or composite, paged, streamed, answer-storing), chosen with a fixed seed, over gRPC
and REST; misbehaving *values* (out-of-range times, objects for enums, control characters) meet every
RPC that calls Encord. The fake answers any request; it checks no signature.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import grpc
import hostile
import pytest
from aiohttp import web
from encord_gateway._generated.encord.gateway.v1 import options_pb2
from encord_gateway.operations.catalog import OperationSpec, load_catalog
from google.api import field_behavior_pb2
from google.protobuf import descriptor, json_format, message
from grpc_status import rpc_status

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, HttpReply

FD = descriptor.FieldDescriptor
SEED = 20240807
DEADLINE = 2.0  # the gRPC callers' deadline, and the gateway's default timeout for REST callers
MARGIN = 2.5  # what a clear answer may take beyond the deadline (process scheduling, a loaded machine)
MAX_RESPONSE_BYTES = 1024 * 1024  # ENCORD_GATEWAY_UPSTREAM_MAX_RESPONSE_BYTES of the gateway under test
PER_BEHAVIOUR = 6  # RPCs (of different shapes) each transport misbehaviour meets
ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}
SPECS = load_catalog()
GATEWAY_DOMAIN = "gateway.encord-gateway.dev"
UPSTREAM_DOMAIN = "api.encord.com"


# ---- the fake Encord ------------------------------------------------------------------------------------------

Answer = Callable[[web.Request, bool, "FakeEncord"], Awaitable[web.StreamResponse]]


def _json(value: Any, v1: bool) -> web.Response:
    body = {"status": 200, "response": value} if v1 else value
    return web.Response(body=hostile.dumps(body), content_type="application/json")


async def _ok(response: web.Response) -> web.Response:
    return response


def _raw_json(text: str, v1: bool) -> web.Response:
    body = '{"status": 200, "response": ' + text + "}" if v1 else text
    return web.Response(text=body, content_type="application/json")


async def _endless(request: web.Request, declared: int | None) -> web.StreamResponse:
    """An answer of `declared` bytes (50 MB), or an endless chunked one; it stops when the reader does."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    if declared is not None:
        response.content_length = declared
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    chunk, sent = b"[" + b"0," * 32767, 0
    try:
        while declared is None or sent < declared:
            await response.write(chunk)
            sent += len(chunk)
    except (ConnectionError, RuntimeError):
        pass  # the gateway stopped reading, as it should
    return response


async def _drip(request: web.Request, v1: bool) -> web.StreamResponse:
    """Headers at once, then one byte now and then: an answer that never completes."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 1000
    await response.prepare(request)
    try:
        for _ in range(1000):
            await response.write(b" ")
            await asyncio.sleep(0.2)
    except (ConnectionError, RuntimeError):
        pass
    return response


async def _reset(request: web.Request, v1: bool) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.abort()  # an RST instead of an answer
    return web.Response()


async def _truncated(request: web.Request, v1: bool) -> web.StreamResponse:
    """Declares 1000 bytes, sends ten, and goes away."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 1000
    await response.prepare(request)
    await response.write(b'{"status":')
    assert request.transport is not None
    request.transport.abort()
    return response


async def _silent(request: web.Request, v1: bool) -> web.StreamResponse:
    await asyncio.sleep(60)
    return web.Response()


async def _control_error(request: web.Request, v1: bool) -> web.StreamResponse:
    if v1:
        envelope = {"status": 400, "response": ["BAD\u0000CODE\u001b[2J"], "payload": "pay\u0007load\u202e" * 3}
        return web.json_response(envelope)
    return web.json_response({"message": "m\u0000\u001b[2J\r\nX-Injected: 1", "detail": "\u0007"}, status=400)


async def _megabyte_error(request: web.Request, v1: bool) -> web.StreamResponse:
    text = "x" * 1_000_000
    if v1:
        return web.json_response({"status": 400, "response": ["INVALID_ARGUMENTS_ERROR"], "payload": text})
    return web.json_response({"message": text}, status=400)


TRANSPORT: dict[str, Answer] = {
    "deep-json": lambda r, v1, f: _ok(_raw_json("[" * 5000 + "]" * 5000, v1)),
    "nested-40-levels": lambda r, v1, f: _ok(_raw_json('{"a":' * 40 + "1" + "}" * 40, v1)),
    "nan": lambda r, v1, f: _ok(_raw_json('{"title": NaN, "projectHash": Infinity}', v1)),
    "html-200": lambda r, v1, f: _ok(web.Response(text="<html><body>OK</body></html>", content_type="text/html")),
    "50-mb-declared": lambda r, v1, f: _endless(r, 50_000_000),
    "endless-chunked": lambda r, v1, f: _endless(r, None),
    "megabyte-error-message": lambda r, v1, f: _megabyte_error(r, v1),
    "control-characters-in-errors": lambda r, v1, f: _control_error(r, v1),
    "reset": lambda r, v1, f: _reset(r, v1),
    "truncated": lambda r, v1, f: _truncated(r, v1),
    "dripping-body": lambda r, v1, f: _drip(r, v1),
    "no-answer": lambda r, v1, f: _silent(r, v1),
}

MALFORMED = ("UNAVAILABLE", "UPSTREAM_MALFORMED_RESPONSE", UPSTREAM_DOMAIN)
TOO_LARGE = ("RESOURCE_EXHAUSTED", "UPSTREAM_RESPONSE_TOO_LARGE", UPSTREAM_DOMAIN)
BROKEN = ("UNAVAILABLE", "UPSTREAM_UNREACHABLE", GATEWAY_DOMAIN)
LATE = ("DEADLINE_EXCEEDED", "UPSTREAM_TIMEOUT", GATEWAY_DOMAIN)

# (code, reason, domain) a caller must get, by the API of the first call an RPC makes.
EXPECTED: dict[str, dict[str, tuple[str, str, str]]] = {
    "deep-json": {"v1": MALFORMED, "v2": MALFORMED},
    "nested-40-levels": {"v1": MALFORMED, "v2": MALFORMED},
    "nan": {"v1": MALFORMED, "v2": MALFORMED},
    "html-200": {"v1": MALFORMED, "v2": MALFORMED},
    "50-mb-declared": {"v1": TOO_LARGE, "v2": TOO_LARGE},
    "endless-chunked": {"v1": TOO_LARGE, "v2": TOO_LARGE},
    "megabyte-error-message": {
        "v1": ("INVALID_ARGUMENT", "INVALID_ARGUMENTS_ERROR", UPSTREAM_DOMAIN),
        "v2": ("INVALID_ARGUMENT", "INVALID_ARGUMENTS_ERROR", UPSTREAM_DOMAIN),
    },
    "control-characters-in-errors": {
        # An error code that is not one is not one Encord defined: an unknown upstream error.
        "v1": ("UNKNOWN", "UNRECOGNISED_UPSTREAM_ERROR", UPSTREAM_DOMAIN),
        "v2": ("INVALID_ARGUMENT", "INVALID_ARGUMENTS_ERROR", UPSTREAM_DOMAIN),
    },
    "reset": {"v1": BROKEN, "v2": BROKEN},
    "truncated": {"v1": BROKEN, "v2": BROKEN},
    "dripping-body": {"v1": LATE, "v2": LATE},
    "no-answer": {"v1": LATE, "v2": LATE},
}


def _hostile_value(rng: random.Random, field: Any, depth: int) -> Any:
    """A value Encord should never send for `field`: out of range, of the wrong kind, full of control characters."""
    if field.is_repeated and not (field.message_type and field.message_type.GetOptions().map_entry):
        return rng.choice([[_hostile_single(rng, field, depth)] * 2, "not a list", {"an": "object"}])
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return rng.choice([{"k\u0000": _hostile_single(rng, field.message_type.fields_by_name["value"], depth)}, [1]])
    return _hostile_single(rng, field, depth)


def _hostile_single(rng: random.Random, field: Any, depth: int) -> Any:
    if field.type == FD.TYPE_ENUM:
        return rng.choice([{"an": "object"}, [1], 1e300, True, None])
    if field.type == FD.TYPE_STRING:
        return rng.choice(["ctl\u0000\u001b[2J\u202e", {"nested": 1}, 12, "x" * 20_000])
    if field.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return rng.choice(["Infinity", 1e308, "NaN", [1]])
    if field.type == FD.TYPE_BOOL:
        return rng.choice(["yes", 2, {}])
    if field.type == FD.TYPE_BYTES:
        return rng.choice(["!!! not base64 !!!", 7])
    if field.type != FD.TYPE_MESSAGE:
        return rng.choice([1e300, 2**70, -(2**70), "NaN", "12abc", 1.5])
    name = field.message_type.full_name
    if name == "google.protobuf.Timestamp":
        return rng.choice(
            ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "99999-01-01", 1e20, {"$date": 1}, "x" * 5000]
        )
    if name in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"):
        return rng.choice([{"a": {"b": {"c": [None, "\u0000"]}}}, '{"json": "text"', [1, {"x": []}], "text"])
    if depth >= 3:
        return {"deep": True}
    return rng.choice([hostile_object(rng, field.message_type, depth + 1), "a string", [1, 2]])


def hostile_object(rng: random.Random, msg_descriptor: Any, depth: int = 0) -> dict[str, Any]:
    """An object for `msg_descriptor` under every key Encord might use for its fields, each value hostile."""
    answer: dict[str, Any] = {}
    for f in msg_descriptor.fields:
        for key in {f.name, f.json_name}:
            answer[key] = _hostile_value(rng, f, depth)
    return answer


def _hostile_answer(spec: OperationSpec, seed: int) -> Any:
    rng = random.Random(seed)
    answer = hostile_object(rng, spec.response_class.DESCRIPTOR)
    if spec.plan is not None and spec.plan.paging is not None:
        answer[spec.plan.paging.items] = [hostile_object(rng, spec.response_class.DESCRIPTOR) for _ in range(3)]
        answer["nextPageToken"] = {"not": "a token"}
    return answer


VALUES: dict[str, Callable[[OperationSpec, int], Any]] = {
    "hostile-field-values": _hostile_answer,
    "control-character-string": lambda spec, seed: "key\u0000\u0007\u001b[2J",
    "900-kb-string": lambda spec, seed: "k" * 900_000,
    "list-for-an-object": lambda spec, seed: [1, "x", None, {"a": []}],
}


@dataclass
class FakeEncord:
    """Answers every request with the current misbehaviour; records the API of each request it got."""

    url: str = ""
    behaviour: str = "not-found"
    spec: OperationSpec | None = None
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        v1 = not request.path.startswith("/v2/")
        with self.lock:
            self.seen.append("v1" if v1 else "v2")
        await request.read()
        if self.behaviour == "not-found":
            if v1:
                return web.json_response({"status": 404, "response": ["RESOURCE_NOT_FOUND_ERROR"], "payload": ""})
            return web.json_response({"message": "not found"}, status=404)
        if self.behaviour in TRANSPORT:
            return await TRANSPORT[self.behaviour](request, v1, self)
        assert self.spec is not None
        value = VALUES[self.behaviour](self.spec, SEED)
        return _json(value, v1)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeEncord]:
    """The fake upstream, an aiohttp server on 127.0.0.1 port 0, on an event loop of its own thread."""
    fake = FakeEncord()
    loop = asyncio.new_event_loop()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    # handler_cancellation: a handler whose client (the gateway) went away stops, as Encord's would.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="fake-encord", daemon=True)
    thread.start()
    assert ready.wait(10), "the fake upstream did not start"
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@dataclass
class Target:
    gateway: GatewayProcess
    admin_token: str
    kit: GatewayKit
    channel: grpc.Channel

    def token_for(self, spec: OperationSpec) -> str:
        return self.admin_token if spec.admin is not None else self.gateway.token


@pytest.fixture(scope="module")
def target(gateway_kit: GatewayKit, fake: FakeEncord, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A real gateway process whose upstream is the fake (its organisation's key registered with the sandbox)."""
    directory = tmp_path_factory.mktemp("hostile-upstream")
    data_dir = directory / "data"
    data_dir.mkdir()
    tenant = gateway_kit.add_organisation(directory, data_dir)
    env = {
        "ENCORD_GATEWAY_DEFAULT_TIMEOUT": str(DEADLINE),
        "ENCORD_GATEWAY_UPSTREAM_MAX_RESPONSE_BYTES": str(MAX_RESPONSE_BYTES),
    }
    towards_fake = type(gateway_kit)(replace(gateway_kit.sandbox, url=fake.url))
    gateway = towards_fake.launch(directory, data_dir, [tenant], env=env)
    try:
        gateway_kit.create_caller(data_dir, "hostile-admin", ADMIN_POLICY)
        admin_token, _ = gateway_kit.issue_token(data_dir, "hostile-admin")
        with gateway.channel() as channel:
            yield Target(gateway, admin_token, gateway_kit, channel)
    finally:
        gateway.stop()


# ---- requests that reach the upstream ------------------------------------------------------------------------


def _required_value(field: Any) -> Any:
    if option_format(field) == options_pb2.FIELD_FORMAT_UUID:
        return str(uuid.uuid4())
    if field.type == FD.TYPE_STRING:
        return f"hostile-{uuid.uuid4().hex[:8]}"
    if field.type == FD.TYPE_ENUM:
        return field.enum_type.values[-1].number
    if field.type == FD.TYPE_BOOL:
        return True
    if field.type == FD.TYPE_BYTES:
        return b"x"
    return 1


def option_format(field: Any) -> int:
    options = field.GetOptions()
    return int(options.Extensions[options_pb2.format]) if options.HasExtension(options_pb2.format) else 0


def minimal_request(msg: message.Message) -> message.Message:
    """`msg` with every REQUIRED field (and every UUID field) set to a plausible value."""
    for f in msg.DESCRIPTOR.fields:
        options = f.GetOptions()
        required = field_behavior_pb2.REQUIRED in options.Extensions[field_behavior_pb2.field_behavior]
        if not required and not (option_format(f) == options_pb2.FIELD_FORMAT_UUID and not f.is_repeated):
            continue
        if f.type == FD.TYPE_MESSAGE:
            if f.message_type.GetOptions().map_entry:
                continue
            target = getattr(msg, f.name).add() if f.is_repeated else getattr(msg, f.name)
            if f.message_type.full_name == "google.protobuf.Struct":
                target.update({"key": "value"})
            elif f.message_type.full_name == "google.protobuf.Timestamp":
                target.FromSeconds(1_704_067_200)  # a moment REST can carry as set (the epoch reads as unset)
            else:
                minimal_request(target)
                if not f.is_repeated:
                    target.SetInParent()
        elif f.is_repeated:
            getattr(msg, f.name).append(_required_value(f))
        else:
            setattr(msg, f.name, _required_value(f))
    return msg


@dataclass(frozen=True)
class Outcome:
    code: str
    reason: str
    domain: str
    message: str
    seconds: float
    problem: str | None  # what is wrong with the status itself (not a Status, INTERNAL, control characters)


def call_grpc(target: Target, spec: OperationSpec) -> Outcome:
    payload = minimal_request(spec.request_class()).SerializeToString()
    metadata = (("authorization", f"Bearer {target.token_for(spec)}"),)
    started = time.monotonic()
    try:
        if spec.server_streaming:
            for _ in target.channel.unary_stream(spec.grpc_path)(payload, metadata=metadata, timeout=DEADLINE):
                pass
        else:
            target.channel.unary_unary(spec.grpc_path)(payload, metadata=metadata, timeout=DEADLINE)
    except grpc.RpcError as error:
        seconds = time.monotonic() - started
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        if status is None:
            return Outcome(error.code().name, "", "", error.details() or "", seconds, "no google.rpc.Status")
        return _outcome(json_format.MessageToDict(status), seconds)
    return Outcome("OK", "", "", "", time.monotonic() - started, None)


def call_rest(target: Target, spec: OperationSpec) -> Outcome:
    assert spec.http is not None
    rule = spec.http
    fields = json_format.MessageToDict(minimal_request(spec.request_class()), preserving_proto_field_name=True)
    path = rule.template
    for name in rule.path_fields:
        path = path.replace("{" + name + "}", str(fields.pop(name, "x")))
    body = None
    if rule.body == "*":
        body = json.dumps(fields).encode()
    elif rule.body:
        body = json.dumps(fields.pop(rule.body, {})).encode()
    if fields and rule.body != "*":  # the rest travels in the query string (a required filter of a listing)
        path += "?" + urllib.parse.urlencode(fields, doseq=True)
    started = time.monotonic()
    reply: HttpReply = target.kit.http(
        rule.verb,
        target.gateway.rest_url + path,
        raw=body,
        headers={"Authorization": f"Bearer {target.token_for(spec)}"},
    )
    seconds = time.monotonic() - started
    content_type = reply.headers.get("content-type", "").split(";")[0]
    problem = hostile.rest_problem(
        reply.status, content_type, reply.body, spec.server_streaming, hostile.status_shape_problem
    )
    if reply.status < 400:
        lines = reply.body.splitlines() if spec.server_streaming else []
        last = json.loads(lines[-1]) if lines else {}
        if isinstance(last, dict) and "code" in last and "details" in last:  # a stream that failed after its headers
            return _outcome(last, seconds, problem)
        return Outcome("OK", "", "", "", seconds, problem)
    return _outcome(json.loads(reply.body) if problem is None else {}, seconds, problem)


def _outcome(status: dict[str, Any], seconds: float, problem: str | None = None) -> Outcome:
    """The outcome of a failed call; its code is judged by the test (UNKNOWN is right for an error code
    Encord never defined), its form here."""
    code = grpc.StatusCode(next(c.value for c in grpc.StatusCode if c.value[0] == status.get("code", 2))).name
    info = next((d for d in status.get("details", []) if str(d.get("@type", "")).endswith("ErrorInfo")), {})
    problem = problem or hostile.status_shape_problem(status)
    return Outcome(code, info.get("reason", ""), info.get("domain", ""), status.get("message", ""), seconds, problem)


# ---- which RPCs meet which misbehaviour ----------------------------------------------------------------------


def shape(spec: OperationSpec) -> tuple[Any, ...]:
    """What makes RPCs behave differently towards Encord: API, steps, paging, streaming, answer handling."""
    plan = spec.plan
    if plan is None:
        return ("admin",)
    return (
        plan.steps[0].call.api,
        len(plan.steps) > 1,
        plan.paging is not None,
        spec.server_streaming,
        bool(plan.operation.result_handler),
    )


@dataclass
class Reaching:
    """The RPCs whose minimal request reaches Encord, and the API of their first call."""

    first_api: dict[str, str]

    def sample(self, rng: random.Random, count: int) -> list[OperationSpec]:
        groups: dict[tuple[Any, ...], list[OperationSpec]] = {}
        for name in sorted(self.first_api):
            groups.setdefault(shape(SPECS[name]), []).append(SPECS[name])
        picked = [rng.choice(group) for _, group in sorted(groups.items(), key=lambda item: repr(item[0]))]
        rng.shuffle(picked)
        return picked[:count]


@pytest.fixture(scope="module")
def reaching(target: Target, fake: FakeEncord) -> Reaching:
    """Probe every RPC once (Encord answering "not found"): those that call it, and with which API first."""
    first_api = {}
    fake.behaviour = "not-found"
    for spec in SPECS.values():
        if spec.client_streaming:
            continue
        before = len(fake.seen)
        call_grpc(target, spec)
        if len(fake.seen) > before:
            first_api[spec.full_name] = fake.seen[before]
    assert len(first_api) >= 10, f"too few RPCs reach the fake upstream: {sorted(first_api)}"
    return Reaching(first_api)


def run_all(calls: list[Callable[[], tuple[str, Outcome]]]) -> list[tuple[str, Outcome]]:
    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(lambda call: call(), calls))


# ---- the tests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", list(TRANSPORT))
def test_a_misbehaving_upstream_gives_a_clear_status_within_the_deadline(
    target: Target, fake: FakeEncord, reaching: Reaching, behaviour: str
) -> None:
    rng = random.Random(f"{SEED}-{behaviour}")
    specs = reaching.sample(rng, PER_BEHAVIOUR)
    fake.behaviour = behaviour
    grpc_calls: list[Callable[[], tuple[str, Outcome]]] = []
    rest_calls: list[Callable[[], tuple[str, Outcome]]] = []
    for spec in specs:
        grpc_calls.append(lambda spec=spec: (f"gRPC {spec.full_name}", call_grpc(target, spec)))
        bounded = spec.operation is None or spec.operation.max_deadline_seconds == 0
        if spec.http is not None and bounded:  # a REST caller gets the default timeout, not a long poll's bound
            rest_calls.append(lambda spec=spec: (f"REST {spec.full_name}", call_rest(target, spec)))
    # One edge at a time: the same read from both at once would share one upstream fetch (coalesced).
    outcomes = run_all(grpc_calls) + run_all(rest_calls)
    problems = []
    for label, outcome in outcomes:
        expected = EXPECTED[behaviour][reaching.first_api[label.split(" ", 1)[1]]]
        if outcome.problem is not None:
            problems.append(f"{label}: {outcome.problem}")
        elif (outcome.code, outcome.reason, outcome.domain) != expected:
            problems.append(
                f"{label}: {outcome.code} {outcome.reason} {outcome.domain}, expected {expected}: {outcome.message!r:.200}"
            )
        if outcome.seconds > DEADLINE + MARGIN:
            problems.append(f"{label}: answered after {outcome.seconds:.1f}s (deadline {DEADLINE}s)")
    failed = {problem.split(":", 1)[0] for problem in problems}
    print(f"\n{behaviour}: {len(outcomes)} calls, {len(outcomes) - len(failed)} handled")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("behaviour", list(VALUES))
def test_hostile_values_in_an_answer_never_crash_the_mapping(
    target: Target, fake: FakeEncord, reaching: Reaching, behaviour: str
) -> None:
    """Every RPC that calls Encord, alternately over gRPC and REST: an answer, or a clear refusal of it."""
    fake.behaviour = behaviour
    problems, tried = [], 0
    for index, name in enumerate(sorted(reaching.first_api)):
        spec = SPECS[name]
        fake.spec = spec
        over_rest = index % 2 == 1 and spec.http is not None and not spec.operation.max_deadline_seconds
        outcome = call_rest(target, spec) if over_rest else call_grpc(target, spec)
        tried += 1
        label = f"{'REST' if over_rest else 'gRPC'} {name}"
        if outcome.problem is not None:
            problems.append(f"{label}: {outcome.problem}")
        elif outcome.code in ("INTERNAL", "UNKNOWN"):
            problems.append(f"{label}: {outcome.code} {outcome.message!r:.200}")
        if outcome.seconds > DEADLINE + MARGIN:
            problems.append(f"{label}: answered after {outcome.seconds:.1f}s")
    failed = {problem.split(":", 1)[0] for problem in problems}
    print(f"\n{behaviour}: {tried} calls, {tried - len(failed)} handled")
    assert not problems, "\n".join(problems)
