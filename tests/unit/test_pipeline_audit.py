"""The pipeline's audit in `block` mode: an intent before any change, an outcome that cannot undo one.

A write whose intent cannot be recorded is refused before it reaches Encord (UNAVAILABLE, safe to
retry); a write whose outcome cannot be recorded has happened and answers OK (the failure is logged and
counted), so that callers do not retry it and create twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway._generated.encord.gateway.admin.v1 import callers_pb2
from encord_gateway._generated.encord.gateway.v1 import projects_pb2
from encord_gateway.access.limits import CallerLimiter
from encord_gateway.access.policy import Policy, parse_policy
from encord_gateway.errors import GatewayError
from encord_gateway.operations.catalog import OperationSpec, load_catalog
from encord_gateway.operations.engine import CallContext, Outcome
from encord_gateway.pipeline import AdminCall, AuditTrail, Call, CallKind, Pipeline, standard_pipeline
from encord_gateway.telemetry.metrics import Metrics
from encord_gateway.upstream.credentials import Credential
from encord_gateway.vault.errors import AuditError
from google.protobuf import json_format, message

SPECS = load_catalog()
CREATE_PROJECT = SPECS["encord.gateway.v1.ProjectService.CreateProject"]
CREATE_CALLER = SPECS["encord.gateway.admin.v1.CallerAdminService.CreateCaller"]
TOKEN = {"authorization": "Bearer the-token", "x-encord-organisation": "acme"}


@dataclass(frozen=True)
class Caller:
    name: str
    policy: Policy


class Authenticator:
    async def authenticate(self, token: str) -> Caller | None:
        grants = [
            {"organisation": "acme", "resources": ["*"], "rights": ["read", "write"]},
            {"organisation": "*", "resources": ["*"], "rights": ["admin"]},
        ]
        return Caller("svc", parse_policy({"grants": grants})) if token == "the-token" else None

    async def caller_for_certificate(self, subject: str, sans: Any) -> None:
        return None


class Sink:
    """An audit log in block mode whose appends fail for the events `failing` picks."""

    def __init__(self, failing: Callable[[Mapping[str, Any]], bool]) -> None:
        self.failing = failing
        self.events: list[dict[str, Any]] = []
        self.log: list[str] = []  # what happened, in order: audited events and upstream writes

    async def append_async(self, event: Mapping[str, Any]) -> None:
        if self.failing(event):
            raise AuditError("audit event not recorded: the disk is full")
        self.events.append(dict(event))
        self.log.append(f"audit {event.get('phase') or event.get('outcome')}")


class Encord:
    """The engine's place in the pipeline: one write upstream, then the credential-use report."""

    def __init__(self, sink: Sink, trail: AuditTrail) -> None:
        self.sink = sink
        self.trail = trail

    async def execute(self, spec: OperationSpec, request: message.Message, ctx: CallContext) -> Outcome:
        self.sink.log.append("write reached Encord")
        await self.trail.credential_used(ctx, spec, Credential("org_ssh_key", "cred-1"), "OK")
        return Outcome(projects_pb2.CreateProjectResponse(project_hash="p1"), None)


class Gateway:
    """The standard pipeline in front of a fake engine and admin handlers, run as an edge runs it."""

    def __init__(self, failing: Callable[[Mapping[str, Any]], bool]) -> None:
        self.sink, self.metrics = Sink(failing), Metrics()
        self.trail = AuditTrail(self.sink, self.metrics)
        encord = Encord(self.sink, self.trail)

        async def create_caller(request: message.Message, call: AdminCall) -> message.Message:
            self.sink.log.append("caller created")
            return callers_pb2.Caller(name="new")

        self.admin_handlers = {CREATE_CALLER.full_name: create_caller}
        self.pipeline: Pipeline = standard_pipeline(
            encord,  # type: ignore[arg-type]  # the fake has the engine's execute()
            Authenticator(),
            CallerLimiter(),
            self.metrics,
            self.trail,
            default_timeout=10.0,
            admin_handlers=self.admin_handlers,
        )

    async def run(self, spec: OperationSpec, request: message.Message) -> None:
        await self.pipeline.run(Call(spec, CallKind.of(spec), TOKEN, 10.0, read=reader(request)))


def chain_with(failing: Callable[[Mapping[str, Any]], bool]) -> tuple[Gateway, Sink, Metrics]:
    gateway = Gateway(failing)
    return gateway, gateway.sink, gateway.metrics


def audit_failures(metrics: Metrics, stage: str) -> float:
    value = metrics.registry.get_sample_value("encord_gateway_audit_failures_total", {"stage": stage})
    return value or 0.0


def is_outcome(event: Mapping[str, Any]) -> bool:
    return "outcome" in event


def is_intent(event: Mapping[str, Any]) -> bool:
    return event.get("phase") == "intent"


CALLS = {
    "data write": (CREATE_PROJECT, projects_pb2.CreateProjectRequest(title="cars"), "write reached Encord"),
    "admin write": (
        CREATE_CALLER,
        json_format.ParseDict(
            {"name": "new", "policy": {"grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read"]}]}},
            callers_pb2.CreateCallerRequest(),
        ),
        "caller created",
    ),
}


def reader(request: message.Message) -> Callable[[], Awaitable[message.Message]]:
    """The pipeline reads a request only once the caller is authenticated."""

    async def read() -> message.Message:
        return request

    return read


@pytest.mark.parametrize("kind", sorted(CALLS))
async def test_the_intent_is_recorded_before_the_change(kind: str) -> None:
    spec, request, change = CALLS[kind]
    chain, sink, _ = chain_with(lambda event: False)
    await chain.run(spec, request)
    assert sink.log == ["audit intent", change, "audit OK"]


@pytest.mark.parametrize("kind", sorted(CALLS))
async def test_a_done_write_whose_outcome_cannot_be_audited_answers_ok_and_is_counted(kind: str) -> None:
    spec, request, change = CALLS[kind]
    chain, sink, metrics = chain_with(is_outcome)

    await chain.run(spec, request)  # no UNAVAILABLE: the change was made

    assert sink.log == ["audit intent", change]
    assert audit_failures(metrics, "outcome") == 1


@pytest.mark.parametrize("kind", sorted(CALLS))
async def test_a_write_whose_intent_cannot_be_audited_is_refused_before_any_change(kind: str) -> None:
    spec, request, _ = CALLS[kind]
    chain, sink, metrics = chain_with(is_intent)

    with pytest.raises(GatewayError) as refused:
        await chain.run(spec, request)

    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, "AUDIT_UNAVAILABLE")
    assert sink.log == []
    assert audit_failures(metrics, "intent") == 1


async def test_an_admin_intent_names_what_it_acts_on_and_never_a_secret() -> None:
    chain, sink, _ = chain_with(lambda event: False)
    spec = SPECS["encord.gateway.admin.v1.CredentialAdminService.RegisterOrganisationKey"]
    openssh = (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
        .decode()
    )
    request = spec.request_class(organisation="acme", private_key=openssh)

    async def register(request: message.Message, call: AdminCall) -> message.Message:
        return spec.response_class()

    chain.admin_handlers[spec.full_name] = register  # the dispatch holds this very mapping
    await chain.run(spec, request)

    intent = sink.events[0]
    assert (intent["phase"], intent["organisation"]) == ("intent", "acme")
    body_line = openssh.splitlines()[1]
    assert "OPENSSH" not in repr(sink.events)
    assert body_line not in repr(sink.events)
