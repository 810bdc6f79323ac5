"""The audit trail of calls: refusals, a write's intent before it can take effect and its outcome after.

Before anything was changed, an event that cannot be recorded refuses the call (UNAVAILABLE, nothing
done, safe to retry). After a change was made (a write's outcome) it must not: answering UNAVAILABLE
for a write that happened makes callers retry and do it twice; such a failure is logged and counted.
Every event names the call's request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import grpc
from google.protobuf import message

from ..errors import GatewayError
from ..operations.catalog import OperationSpec
from ..operations.engine import CallContext
from ..telemetry import context
from ..telemetry.metrics import Metrics
from ..upstream.credentials import Credential
from ..vault.errors import AuditError
from .call import Call, CallKind, Proceed

log = logging.getLogger("encord_gateway.audit")

SUBJECT_FIELDS = ("organisation", "name", "caller", "credential_id", "token_id", "identity", "resource_type",
                  "resource_hash", "scopes")  # fmt: skip
"""Request fields that say what an admin call acts on: recorded (HMAC'd) with it. Never a secret field."""


class AuditSink(Protocol):
    async def append_async(self, event: Mapping[str, Any]) -> None: ...


class AuditTrail:
    """Appends events to the sink (if any), with the current call's request id."""

    def __init__(self, sink: AuditSink | None, metrics: Metrics) -> None:
        self._sink = sink
        self._metrics = metrics

    async def record(self, event: Mapping[str, Any], *, after_effect: bool = False) -> None:
        if self._sink is None:
            return
        current = context.current()
        if current is not None and current.request_id:
            event = {**event, "request_id": current.request_id}
        try:
            await self._sink.append_async(event)
        except AuditError as exc:
            stage = "outcome" if after_effect else "intent"
            self._metrics.audit_failures.labels(stage).inc()
            if after_effect:
                log.error("audit event for %s not recorded after it was carried out: %s", event.get("operation"), exc)
                return
            raise GatewayError(
                grpc.StatusCode.UNAVAILABLE, "the audit log cannot be written; call refused", reason="AUDIT_UNAVAILABLE"
            ) from exc

    async def denied(self, call: Call, error: GatewayError) -> None:
        """A call the caller's policy does not allow."""
        await self.record({"type": "access_denied", "caller": call.caller_name,
                           "organisation": call.organisation or error.metadata.get("organisation"),
                           "operation": call.spec.full_name, "outcome": error.reason})  # fmt: skip

    async def credential_used(
        self, ctx: CallContext, spec: OperationSpec, credential: Credential, outcome: str
    ) -> None:
        """The engine's report of every upstream call: which caller used which credential, and how it went."""
        self._metrics.credential_uses.labels(credential.kind, outcome).inc()
        await self.record({
            "type": "credential_use", "caller": ctx.caller, "organisation": ctx.organisation,
            "operation": spec.full_name, "credential": credential.credential_id, "kind": credential.kind,
            "outcome": outcome,
        }, after_effect=not spec.is_read)  # fmt: skip


class Audit:
    """A data write's intent before it can reach Encord (its outcome comes with each credential use);
    an admin call's intent before its change and its outcome after."""

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail

    @staticmethod
    def applies(spec: OperationSpec, kind: CallKind) -> bool:
        return spec.admin is not None or not spec.is_read  # a data read has no effect to announce

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        spec = call.spec
        if spec.admin is not None:
            await self._admin(call, proceed)
            return
        await self._trail.record({"type": "call", "phase": "intent", "caller": call.caller_name,
                                  "organisation": call.organisation, "operation": spec.full_name})  # fmt: skip
        await proceed(call)

    async def _admin(self, call: Call, proceed: Proceed) -> None:
        assert call.request is not None
        event: dict[str, Any] = {"type": "admin", "caller": call.caller_name, "operation": call.spec.full_name}
        if call.organisation:
            event["organisation"] = call.organisation
        event.update(subject(call.request))
        write = not call.spec.is_read
        if write:
            # Durable before the change is made: a change without its audit entry cannot happen, even when
            # the process is killed right after committing it.
            await self._trail.record({**event, "phase": "intent"})
        try:
            await proceed(call)
        except GatewayError as error:
            await self._trail.record({**event, "outcome": error.code.name}, after_effect=write)
            raise
        await self._trail.record({**event, "outcome": "OK"}, after_effect=write)


def subject(request: message.Message) -> dict[str, Any]:
    """What an admin request acts on (SUBJECT_FIELDS that are set)."""
    fields = request.DESCRIPTOR.fields_by_name
    found: dict[str, Any] = {}
    for name in SUBJECT_FIELDS:
        if name in fields:
            value = getattr(request, name)
            if value:
                found[name] = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
    return found
