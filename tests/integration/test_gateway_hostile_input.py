"""Hostile and careless input, over real sockets: every refusal is a google.rpc.Status (JSON on REST),
never INTERNAL, UNKNOWN, a bare HTTP 500 or aiohttp's own text, and bad input never reaches Encord.

The fuzz tests are generated from the catalog (`load_catalog()`): every data and admin RPC, each of
its REST bindings, seeded and bounded (a few hundred cases in all). HOSTILE_SEED reproduces a run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import hostile
import pytest
from encord_gateway._generated.encord.gateway.admin.v1 import callers_pb2
from encord_gateway._generated.encord.gateway.v1 import projects_pb2
from encord_gateway.operations.catalog import OperationSpec, load_catalog
from google.protobuf import json_format, timestamp_pb2
from grpc_status import rpc_status
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, HttpReply, Sandbox

SEED = int(os.environ.get("HOSTILE_SEED", "20240806"))
GRPC_CASES = 260  # in total, spread over every RPC of the catalog (at least 3 each)
REST_CASES = 260  # likewise over every REST binding
ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}
CALL_TIMEOUT = 10.0
SPECS = load_catalog()


@dataclass
class Target:
    gateway: GatewayProcess
    admin_token: str
    channel: grpc.Channel
    kit: GatewayKit

    def http(self, method: str, path: str, body: bytes | None = None, token: str | None = None) -> HttpReply:
        """One REST exchange with raw body bytes (`token`: a bearer token, or none at all)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.kit.http(method, self.gateway.rest_url + path, raw=body, headers=headers)

    def token_for(self, spec: OperationSpec) -> str:
        return self.admin_token if spec.admin is not None else self.gateway.token

    def metadata(self, spec: OperationSpec) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token_for(spec)}"),)


@pytest.fixture(scope="module")
def target(gateway_kit: GatewayKit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A gateway of this module's own (the fuzzed admin calls change callers and vault terms), with an
    organisation's caller and an admin caller."""
    directory = tmp_path_factory.mktemp("hostile-input")
    data_dir = directory / "data"
    data_dir.mkdir()
    tenant = gateway_kit.add_organisation(directory, data_dir)
    gateway = gateway_kit.launch(directory, data_dir, [tenant], env={"ENCORD_GATEWAY_DEFAULT_TIMEOUT": "5"})
    try:
        gateway_kit.create_caller(data_dir, "hostile-admin", ADMIN_POLICY)
        admin_token, _ = gateway_kit.issue_token(data_dir, "hostile-admin")
        with gateway.channel() as channel:
            yield Target(gateway, admin_token, channel, gateway_kit)
    finally:
        gateway.stop()


# ---- helpers ------------------------------------------------------------------------------------------------


def grpc_outcome(target: Target, spec: OperationSpec, payload: bytes) -> str | None:
    """Call `spec` with raw request bytes; what is wrong with the outcome, or None."""
    path, metadata = spec.grpc_path, target.metadata(spec)
    try:
        if spec.client_streaming:
            target.channel.stream_unary(path)(iter([payload]), metadata=metadata, timeout=CALL_TIMEOUT)
        elif spec.server_streaming:
            for _ in target.channel.unary_stream(path)(payload, metadata=metadata, timeout=CALL_TIMEOUT):
                pass
        else:
            target.channel.unary_unary(path)(payload, metadata=metadata, timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        if status is None:
            return f"{error.code().name} without a google.rpc.Status: {error.details()!r:.200}"
        return hostile.status_problem(json_format.MessageToDict(status))
    return None


def rest_outcome(reply: HttpReply, ndjson: bool) -> str | None:
    content_type = reply.headers.get("content-type", "").split(";")[0]
    return hostile.rest_problem(reply.status, content_type, reply.body, ndjson)


def handled(gateway: GatewayProcess, method: str, code: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(gateway.metrics()):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "grpc_server_handled_total"
                and labels.get("grpc_method") == method
                and labels.get("grpc_code") == code
            ):
                total += sample.value
    return total


def rejected(gateway: GatewayProcess, reason: str) -> float:
    for family in text_string_to_metric_families(gateway.metrics()):
        for sample in family.samples:
            if sample.name == "encord_gateway_http_rejected_total" and sample.labels.get("reason") == reason:
                return sample.value
    return 0.0


def rest_status(reply: HttpReply) -> dict[str, Any]:
    assert reply.headers.get("content-type", "").startswith("application/json"), reply
    body = reply.json()
    assert isinstance(body, dict) and "code" in body, reply
    assert hostile.status_problem(body) is None, body
    return body


def violations_of(status: dict[str, Any]) -> list[dict[str, str]]:
    return [
        violation
        for detail in status.get("details", [])
        if str(detail.get("@type", "")).endswith("google.rpc.BadRequest")
        for violation in detail.get("field_violations", [])
    ]


def violated_fields(status: dict[str, Any]) -> list[str]:
    return [violation["field"] for violation in violations_of(status)]


def binding_of(method: str) -> tuple[OperationSpec, Any]:
    """The spec and primary REST binding of a public RPC, found by method name in the catalog."""
    spec = next(s for s in SPECS.values() if s.method == method)
    assert spec.http is not None
    return spec, spec.http


# ---- property: fuzzed input over every RPC ------------------------------------------------------------------


def test_fuzzed_protobuf_over_every_rpc_is_always_a_clear_status(target: Target) -> None:
    rng = random.Random(SEED)
    per_spec = max(3, GRPC_CASES // len(SPECS))
    tried, problems = 0, []
    for spec in sorted(SPECS.values(), key=lambda s: s.full_name):
        for label, payload in hostile.grpc_payloads(spec, rng, per_spec):
            tried += 1
            problem = grpc_outcome(target, spec, payload)
            if problem is not None:
                problems.append(f"{spec.full_name} {label}: {problem}")
    print(f"\nfuzzed protobuf (seed {SEED}): {tried} cases over {len(SPECS)} RPCs, {tried - len(problems)} handled")
    assert not problems, f"{len(problems)} of {tried} cases (seed {SEED}):\n" + "\n".join(problems[:20])


def test_fuzzed_json_over_every_rest_binding_is_always_a_status_json(target: Target) -> None:
    rng = random.Random(SEED + 1)
    bindings = [(spec, rule) for spec in SPECS.values() if spec.http for rule in spec.http.bindings]
    per_binding = max(3, REST_CASES // len(bindings))
    tried, problems = 0, []
    for spec, rule in sorted(bindings, key=lambda b: (b[0].full_name, b[1].template)):
        for case in hostile.rest_cases(spec, rule, rng, per_binding):
            tried += 1
            reply = target.http(case.method, case.path, case.body, target.token_for(spec))
            problem = rest_outcome(reply, spec.server_streaming)
            if problem is not None:
                problems.append(f"{spec.full_name} {case.label} {case.path[:80]}: {problem}")
    print(
        f"\nfuzzed JSON (seed {SEED + 1}): {tried} cases over {len(bindings)} bindings, {tried - len(problems)} handled"
    )
    assert not problems, f"{len(problems)} of {tried} cases (seed {SEED + 1}):\n" + "\n".join(problems[:20])


# ---- the reported cases, one by one -------------------------------------------------------------------------


def test_an_out_of_range_timestamp_over_grpc_is_invalid_argument_naming_the_field(target: Target) -> None:
    spec = SPECS["encord.gateway.v1.ProjectService.ListProjects"]
    request = projects_pb2.ListProjectsRequest(created_before=timestamp_pb2.Timestamp(seconds=10**12))
    with pytest.raises(grpc.RpcError) as raised:
        target.channel.unary_unary(spec.grpc_path)(
            request.SerializeToString(), metadata=target.metadata(spec), timeout=CALL_TIMEOUT
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    assert "created_before" in (raised.value.details() or "")


@pytest.mark.parametrize("seconds", [315_576_000_000, 10**15], ids=["within-protobuf-range", "beyond-it"])
def test_a_huge_token_ttl_over_grpc_is_invalid_argument(target: Target, seconds: int) -> None:
    spec = SPECS["encord.gateway.admin.v1.CallerAdminService.IssueToken"]
    request = callers_pb2.IssueTokenRequest(caller="hostile-admin")
    request.ttl.seconds = seconds
    with pytest.raises(grpc.RpcError) as raised:
        target.channel.unary_unary(spec.grpc_path)(
            request.SerializeToString(), metadata=target.metadata(spec), timeout=CALL_TIMEOUT
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    assert "ttl" in (raised.value.details() or "")


@pytest.mark.parametrize("ttl", ["315576000000s", "\ud800s", "1e20s"], ids=["huge", "lone-surrogate", "exponent"])
def test_a_bad_token_ttl_over_rest_is_400_naming_it(target: Target, ttl: str) -> None:
    body = json.dumps({"ttl": ttl}).encode()
    reply = target.http("POST", "/admin/v1/callers/hostile-admin/tokens", body, target.admin_token)
    assert reply.status == 400, reply
    status = rest_status(reply)
    assert any(field in ("ttl", "(body)") for field in violated_fields(status)), status


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b'{"title": "x", "structure": {"a": NaN}}', "(body)", id="nan-in-struct"),
        pytest.param(b'{"title": "x", "structure": {"a": -Infinity}}', "(body)", id="infinity-in-struct"),
        pytest.param(b'{"title": "x", "structure": {"a": 1e999}}', "(body)", id="overflowing-number"),
        pytest.param(b'{"title": "x", "structure": ' + b"[" * 1000 + b"]" * 1000 + b"}", "(body)", id="1000-deep"),
        pytest.param(b'{"\\ud800": "x"}', "(body)", id="lone-surrogate-key"),
        pytest.param(b'{"title": "\\udc00"}', "(body)", id="lone-surrogate-value"),
    ],
)
def test_json_that_python_reads_but_json_forbids_is_400_and_counted(target: Target, body: bytes, field: str) -> None:
    spec, rule = binding_of("CreateOntology")
    before = handled(target.gateway, spec.method, "INVALID_ARGUMENT")

    reply = target.http(rule.verb, rule.template, body, target.gateway.token)

    assert reply.status == 400, reply
    assert field in violated_fields(rest_status(reply))
    assert handled(target.gateway, spec.method, "INVALID_ARGUMENT") == before + 1  # counted like any refusal


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("CreateDataset", b'{"title": "x", "storage_location": Infinity}', "(body)"),
        ("CreateDataset", b'{"title": "x", "storage_location": 1e999}', "(body)"),
        ("CreateDataset", b'{"title": "x", "storage_location": {"an": "object"}}', "storage_location"),
        ("CreateDataset", b'{"title": "x", "storage_location": 123456}', "storage_location"),
        ("CreateProject", b'{"title": "x", "dataset_hashes": ["\\ud800"]}', "(body)"),
        ("CreateProjectApiKey", b'{"title": "x", "scopes": ["\\udfff"]}', "(body)"),
    ],
)
def test_wrong_values_for_enums_and_lists_are_400_naming_the_field(
    target: Target, method: str, body: bytes, field: str
) -> None:
    _, rule = binding_of(method)
    path = rule.template.replace("{project_hash}", str(uuid.uuid4()))
    reply = target.http(rule.verb, path, body, target.gateway.token)
    assert reply.status == 400, reply
    assert field in violated_fields(rest_status(reply)), reply.body


def test_a_lone_surrogate_in_a_policy_is_400(target: Target) -> None:
    body = b'{"name": "surrogate-caller", "policy": {"grants": [{"organisation": "\\ud800", "rights": ["read"]}]}}'
    reply = target.http("POST", "/admin/v1/callers", body, target.admin_token)
    assert reply.status == 400, reply
    assert "(body)" in violated_fields(rest_status(reply))


@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%00", "%20"])
def test_a_hash_with_a_trailing_control_character_never_reaches_encord(
    target: Target, sandbox: Sandbox, suffix: str
) -> None:
    before = len(sandbox.requests_log())
    reply = target.http("GET", f"/v1/projects/{uuid.uuid4()}{suffix}", None, target.gateway.token)
    assert reply.status == 400, reply
    assert "project_hash" in violated_fields(rest_status(reply))
    assert len(sandbox.requests_log()) == before, "the malformed hash was sent to Encord"


def test_a_url_over_8_kb_is_414_status_json_and_counted(target: Target) -> None:
    before = rejected(target.gateway, "REQUEST_LINE_TOO_LONG")
    reply = target.http("GET", "/v1/projects?title_like=" + "x" * 9000)
    assert reply.status == 414, reply
    status = rest_status(reply)
    assert status["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert rejected(target.gateway, "REQUEST_LINE_TOO_LONG") == before + 1


async def raw_exchange(target: Target, data: bytes) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it."""
    host, port = target.gateway.rest_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 15)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /v1/projects HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", b"400"),
        (b"GET /v1/projects HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", b"431"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, b"400"),  # TLS on the plaintext port
    ],
    ids=["garbage-request-line", "header-without-colon", "header-over-8-kb", "tls-hello"],
)
async def test_what_is_not_http_is_answered_with_status_json(target: Target, data: bytes, status: bytes) -> None:
    answer = await raw_exchange(target, data)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == status, answer[:300]
    assert b"content-type: application/json" in head.lower(), answer[:300]
    assert hostile.status_problem(json.loads(body)) is None, body


def test_many_bad_values_in_one_list_are_invalid_argument_that_fits_in_grpc_trailers(target: Target) -> None:
    """Twenty long violations once made trailers over gRPC's 8 KiB limit, and the caller got
    RESOURCE_EXHAUSTED from its own client in place of the gateway's INVALID_ARGUMENT."""
    spec = next(s for s in SPECS.values() if s.method == "SearchStorageItems")
    request = spec.request_class(search="x", item_types=[10_000 + n for n in range(200)])
    with pytest.raises(grpc.RpcError) as raised:
        target.channel.unary_unary(spec.grpc_path)(
            request.SerializeToString(), metadata=target.metadata(spec), timeout=CALL_TIMEOUT
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    status = json_format.MessageToDict(rpc_status.from_call(raised.value), preserving_proto_field_name=True)  # type: ignore[arg-type]
    listed = [violation["field"] for violation in violations_of(status)]
    assert listed[0] == "item_types[0]" and listed[-1] == "(request)"
    more = violations_of(status)[-1]["description"]
    assert more == f"{200 - (len(listed) - 1)} more fields are invalid"
