"""The pipeline's promises for every kind of call, bidirectional streams included: nothing is read before the
caller is known, a bug is INTERNAL (logged, counted) and never a leak, every refusal names its request id,
and log lines carry the request id of the call they were written for."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import projects_pb2
from encord_gateway.access.limits import CallerLimiter
from encord_gateway.access.policy import Policy, parse_policy
from encord_gateway.cli import _apply_flags, build_parser
from encord_gateway.config import Settings
from encord_gateway.errors import GatewayError
from encord_gateway.operations.catalog import OperationSpec, load_catalog
from encord_gateway.operations.engine import Outcome
from encord_gateway.pipeline import AuditTrail, Call, CallKind, Pipeline, standard_interceptors
from encord_gateway.telemetry import logs
from encord_gateway.telemetry.metrics import Metrics
from google.protobuf import message

SPECS = load_catalog()
GET_PROJECT = SPECS["encord.gateway.v1.ProjectService.GetProject"]
UPLOAD = SPECS["encord.gateway.v1.MlModelService.PredictMlModelUpload"]  # a client stream
TOKEN = {"authorization": "Bearer the-token"}
HASH = "00000000-0000-0000-0000-000000000001"
REQUESTS: dict[CallKind, message.Message] = {
    kind: projects_pb2.GetProjectRequest(project_hash=HASH) for kind in CallKind
} | {
    CallKind.CLIENT_STREAM: UPLOAD.request_class(
        project_hash=HASH, project_model_uuid=HASH, training_uuid=HASH, kind=1, conf_thresh=0.5, data_base64=b"x"
    )
}


@dataclass(frozen=True)
class Caller:
    name: str
    policy: Policy


class Authenticator:
    async def authenticate(self, token: str) -> Caller | None:
        policy = parse_policy({"grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read", "write"]}]})
        return Caller("svc", policy) if token == "the-token" else None

    async def caller_for_certificate(self, subject: str, sans: Any) -> None:
        return None


class Transport:
    """What the edge hands the pipeline: a request source that records whether it was touched."""

    def __init__(self, request: message.Message = REQUESTS[CallKind.UNARY]) -> None:
        self.request = request
        self.read = False

    async def reader(self) -> message.Message:
        self.read = True
        return self.request

    async def messages(self) -> AsyncIterator[message.Message]:
        self.read = True
        yield self.request


def pipeline(terminal: Any, metrics: Metrics | None = None) -> Pipeline:
    metrics = metrics or Metrics()
    interceptors = standard_interceptors(
        Authenticator(), CallerLimiter(), metrics, AuditTrail(None, metrics), default_timeout=5.0
    )
    return Pipeline(interceptors, terminal)


def call_of(kind: CallKind, transport: Transport, metadata: dict[str, str]) -> Call:
    spec: OperationSpec = UPLOAD if kind == CallKind.CLIENT_STREAM else GET_PROJECT
    call = Call(spec, kind, metadata, None)
    if kind.streams_requests:
        call.messages = transport.messages()
    else:
        call.read = transport.reader

    async def send(item: message.Message) -> None:
        """Streamed answers go nowhere in these tests."""

    call.send = send
    return call


@pytest.mark.parametrize("kind", list(CallKind))
async def test_every_kind_of_call_is_refused_before_a_byte_of_it_is_read_when_the_caller_is_unknown(
    kind: CallKind,
) -> None:
    reached: list[Call] = []

    async def terminal(call: Call) -> None:
        reached.append(call)

    transport = Transport(REQUESTS[kind])
    with pytest.raises(GatewayError) as refused:
        await pipeline(terminal).run(call_of(kind, transport, {"authorization": "Bearer wrong"}))
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert (transport.read, reached) == (False, [])

    known = Transport(REQUESTS[kind])
    await pipeline(terminal).run(call_of(kind, known, TOKEN))
    assert known.read and [c.organisation for c in reached] == ["acme"]
    assert reached[0].request == REQUESTS[kind]


async def test_a_bug_is_internal_logged_counted_and_named_by_its_request_id(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(call: Call) -> None:
        raise KeyError("the secret internals")

    metrics = Metrics()
    with caplog.at_level(logging.ERROR), pytest.raises(GatewayError) as failed:
        await pipeline(broken, metrics).run(call_of(CallKind.UNARY, Transport(), {**TOKEN, "x-request-id": "bug-1"}))

    assert (failed.value.code, failed.value.message) == (grpc.StatusCode.INTERNAL, "internal error")
    assert failed.value.metadata["request_id"] == "bug-1"
    assert "the secret internals" not in str(failed.value.to_status())
    assert any("KeyError" in (record.exc_text or "") for record in caplog.records)
    labels = {"grpc_type": "unary", "grpc_service": GET_PROJECT.service, "grpc_method": GET_PROJECT.method}
    assert metrics.registry.get_sample_value("grpc_server_handled_total", {**labels, "grpc_code": "INTERNAL"}) == 1


async def test_log_lines_written_during_a_call_carry_its_request_id_in_both_formats() -> None:
    said = logging.getLogger("encord_gateway.test")

    async def chatty(call: Call) -> None:
        said.warning("working on it")
        call.outcome = Outcome(projects_pb2.Project(), None)

    for log_format in logs.LOG_FORMATS:
        stream = io.StringIO()
        logs.configure(log_format, "info", stream)
        try:
            running = pipeline(chatty)
            await running.run(call_of(CallKind.UNARY, Transport(), {**TOKEN, "x-request-id": "req-9"}))
            running.flush()  # the access log writes in batches
        finally:
            logs.configure("text", "warning")
        lines = stream.getvalue().splitlines()
        if log_format == "json":
            documents = [json.loads(line) for line in lines]
            assert [d["request_id"] for d in documents] == ["req-9", "req-9"]
            assert documents[1]["logger"] == "encord_gateway.access" and documents[1]["code"] == "OK"
        else:
            assert len(lines) == 2 and all(line.endswith("request_id=req-9") for line in lines), lines


def test_the_cli_takes_the_log_and_trace_settings() -> None:
    args = build_parser().parse_args(
        ["serve", "--log-format", "json", "--log-level", "debug", "--otlp-endpoint", "http://127.0.0.1:4318/v1/traces"]
    )
    settings = _apply_flags(Settings(), args)
    assert (settings.log_format, settings.log_level, settings.otlp_endpoint) == (
        "json",
        "debug",
        "http://127.0.0.1:4318/v1/traces",
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--log-format", "xml"])
