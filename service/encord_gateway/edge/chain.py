"""The call chain shared by both edges: authenticate, authorise, limit, execute, count and audit.

Order matters: a call that fails authentication, validation, policy or limits never reaches the
cache or the upstream, and so can neither read another team's cached answer nor cost an Encord call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from google.protobuf import message

from ..access.authorize import authorize_admin, authorize_operation, choose_organisation
from ..access.limits import Limiter, LimitExceeded
from ..access.policy import Policy
from ..errors import GatewayError, invalid_argument
from ..operations import validate
from ..operations.catalog import OperationSpec
from ..operations.engine import CallContext, Engine, Outcome, assemble_client_stream
from ..telemetry.metrics import Metrics
from ..upstream.credentials import Credential
from ..vault.errors import AuditError

log = logging.getLogger(__name__)

BEARER_PREFIX = "bearer "
DEADLINE_MARGIN_SECONDS = 0.25
"""Time kept back from a gRPC caller's deadline (at most a tenth of it) to answer the gateway's own
DEADLINE_EXCEEDED: enough for a busy gateway (many calls timing out at once) to still answer first."""
MAX_AUTHORIZATION_LENGTH = 4096


class CallerIdentity(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def policy(self) -> Policy: ...


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> CallerIdentity | None: ...
    async def caller_for_certificate(self, subject: str, sans: Sequence[str]) -> CallerIdentity | None: ...


class AuditSink(Protocol):
    async def append_async(self, event: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Peer:
    """The transport's view of the caller: the client certificate's subject and SANs, under mTLS."""

    certificate_subject: str | None = None
    certificate_sans: tuple[str, ...] = field(default_factory=tuple)


AdminHandler = Callable[[message.Message, "AdminCall"], Awaitable[message.Message]]
RequestReader = Callable[[], Awaitable[message.Message]]
"""Reads and parses the request (a REST body, gRPC bytes); called once the caller is authenticated,
so that nothing an anonymous caller sends is read, and inside the call's accounting, so that a
request that cannot be read is counted like any other refusal."""


@dataclass(frozen=True)
class AdminCall:
    """What an admin handler knows about its call."""

    caller: str
    organisation: str | None
    method: str


def unauthenticated(text: str, reason: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.UNAUTHENTICATED, text, reason=reason)


class CallChain:
    """Runs one RPC for either edge; every call is counted under its gRPC service and method."""

    def __init__(
        self,
        engine: Engine,
        authenticator: Authenticator,
        limiter: Limiter,
        metrics: Metrics,
        default_timeout: float,
        admin_handlers: Mapping[str, AdminHandler],
        audit: AuditSink | None = None,
    ) -> None:
        self._engine = engine
        self._authenticator = authenticator
        self._limiter = limiter
        self._metrics = metrics
        self._default_timeout = default_timeout
        self._admin_handlers = admin_handlers
        self._audit = audit

    async def authenticate(self, metadata: Mapping[str, str], peer: Peer | None) -> CallerIdentity:
        """The caller, from headers alone (bearer token or client certificate): no request body is needed."""
        header = metadata.get("authorization")
        if header:
            token = header[len(BEARER_PREFIX) :].strip()
            if (
                len(header) > MAX_AUTHORIZATION_LENGTH
                or header[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX
                or not (token.isascii() and token.isprintable())  # tokens are ASCII; bytes that are not never match
            ):
                raise unauthenticated("authorization must be 'Bearer <token>'", "MALFORMED_CREDENTIALS")
            caller = await self._authenticator.authenticate(token)
            if caller is None:
                raise unauthenticated("the bearer token is not valid (unknown, expired or revoked)", "INVALID_TOKEN")
            return caller
        if peer is not None and peer.certificate_subject is not None:
            caller = await self._authenticator.caller_for_certificate(peer.certificate_subject, peer.certificate_sans)
            if caller is None:
                raise unauthenticated("the client certificate is not mapped to a caller", "UNKNOWN_CERTIFICATE")
            return caller
        raise unauthenticated("missing 'authorization: Bearer <token>'", "MISSING_CREDENTIALS")

    @contextmanager
    def _handled(self, spec: OperationSpec, kind: str) -> Iterator[None]:
        """Count the call under its gRPC type, service and method; turn a bug into INTERNAL, logged."""
        labels = (kind, spec.service, spec.method)
        self._metrics.started.labels(*labels).inc()
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            yield
        except GatewayError as error:
            code = error.code
            if code == grpc.StatusCode.UNAUTHENTICATED:
                self._metrics.auth_failures.labels(error.reason).inc()
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED  # the caller went away (or its stream was closed)
            raise
        except Exception:
            # A bug, not bad input: log it with its traceback, give the caller nothing internal.
            log.exception("unexpected failure in %s", spec.full_name)
            code = grpc.StatusCode.INTERNAL
            raise GatewayError(code, "internal error", reason="INTERNAL") from None
        finally:
            self._metrics.handled.labels(*labels, code.name).inc()
            self._metrics.handling_seconds.labels(*labels).observe(time.perf_counter() - started)

    def _deadline(self, spec: OperationSpec, time_remaining: float | None) -> float:
        """When the gateway gives up on Encord: the operation's bound, or a little before the caller's deadline,
        so that the caller gets the gateway's DEADLINE_EXCEEDED (with its details, counted in metrics and
        audit) rather than grpc's cancellation racing it."""
        limit = spec.deadline_limit(self._default_timeout)
        if time_remaining is None:
            return time.monotonic() + limit
        margin = min(DEADLINE_MARGIN_SECONDS, time_remaining / 10)
        return time.monotonic() + min(time_remaining - margin, limit)

    async def _authorize(
        self, spec: OperationSpec, request: message.Message, caller: CallerIdentity, metadata: Mapping[str, str]
    ) -> str:
        """The organisation the call acts for, once the caller's policy allows it (audited when not)."""
        organisation = choose_organisation(caller.name, caller.policy, metadata)
        try:
            authorize_operation(caller.name, caller.policy, organisation, spec, request)
        except GatewayError as error:
            await self._record({"type": "access_denied", "caller": caller.name, "organisation": organisation,
                                "operation": spec.full_name, "outcome": error.reason})  # fmt: skip
            raise
        return organisation

    @asynccontextmanager
    async def _admitted(self, caller: CallerIdentity) -> AsyncIterator[None]:
        try:
            admission = await self._limiter.acquire(caller.name, caller.policy.limits)
        except LimitExceeded as exceeded:
            raise GatewayError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"caller {caller.name!r} is over its {exceeded.kind} limit",
                reason="CALLER_RATE_LIMITED" if exceeded.kind == "rate" else "CALLER_CONCURRENCY_LIMITED",
                retry_after=exceeded.retry_after,
            ) from None
        async with admission:
            yield

    async def run(
        self,
        spec: OperationSpec,
        read: RequestReader,
        metadata: Mapping[str, str],
        time_remaining: float | None,
        peer: Peer | None = None,
    ) -> Outcome:
        """A unary call: authenticated before its request is read."""
        with self._handled(spec, "unary"):
            caller = await self.authenticate(metadata, peer)
            request = await read()
            return await self._unary(spec, request, caller, metadata, time_remaining)

    async def run_client_stream(
        self,
        spec: OperationSpec,
        messages: AsyncIterator[message.Message],
        metadata: Mapping[str, str],
        time_remaining: float | None,
        peer: Peer | None = None,
    ) -> Outcome:
        """A client stream: authenticated before a byte of it is read, then assembled into one request."""
        with self._handled(spec, "client_stream"):
            caller = await self.authenticate(metadata, peer)
            request = await assemble_client_stream(spec, messages)
            return await self._unary(spec, request, caller, metadata, time_remaining)

    async def run_server_stream(
        self,
        spec: OperationSpec,
        read: RequestReader,
        metadata: Mapping[str, str],
        time_remaining: float | None,
        peer: Peer | None = None,
    ) -> AsyncIterator[message.Message]:
        """A server stream: the same checks as a unary call, then every message the engine produces."""
        with self._handled(spec, "server_stream"):
            caller = await self.authenticate(metadata, peer)
            request = await read()
            validate.validate(request)
            deadline = self._deadline(spec, time_remaining)
            organisation = await self._authorize(spec, request, caller, metadata)
            async with self._admitted(caller):
                await self._record_intent(spec, caller.name, organisation)
                context = CallContext(caller.name, organisation, deadline)
                async for item in self._engine.stream(spec, request, context):
                    yield item

    async def run_file_stream(
        self,
        spec: OperationSpec,
        messages: AsyncIterator[message.Message],
        metadata: Mapping[str, str],
        time_remaining: float | None,
        peer: Peer | None = None,
    ) -> AsyncIterator[message.Message]:
        """A bidirectional stream of files: authenticated before a byte of it is read; its first message (the call's
        fields: where the files go) validated and authorised as a server stream's request is; then every message
        the engine produces about the files as they arrive."""
        with self._handled(spec, "bidi_stream"):
            caller = await self.authenticate(metadata, peer)
            first = await anext(messages, None)
            if first is None:
                raise invalid_argument([("(request)", "the stream carried no message")])
            validate.validate(first)
            deadline = self._deadline(spec, time_remaining)
            organisation = await self._authorize(spec, first, caller, metadata)
            async with self._admitted(caller):
                await self._record_intent(spec, caller.name, organisation)
                context = CallContext(caller.name, organisation, deadline)
                async for item in self._engine.file_stream(spec, first, messages, context):
                    yield item

    async def _unary(
        self,
        spec: OperationSpec,
        request: message.Message,
        caller: CallerIdentity,
        metadata: Mapping[str, str],
        time_remaining: float | None,
    ) -> Outcome:
        validate.validate(request)
        deadline = self._deadline(spec, time_remaining)
        if spec.admin is not None:
            return await self._admin(spec, request, caller)
        organisation = await self._authorize(spec, request, caller, metadata)
        async with self._admitted(caller):
            await self._record_intent(spec, caller.name, organisation)
            return await self._engine.execute(spec, request, CallContext(caller.name, organisation, deadline))

    async def _admin(self, spec: OperationSpec, request: message.Message, caller: CallerIdentity) -> Outcome:
        event: dict[str, Any] = {"type": "admin", "caller": caller.name, "operation": spec.full_name}
        try:
            organisation = authorize_admin(caller.name, caller.policy, spec, request)
        except GatewayError as error:
            await self._record({**event, "type": "access_denied", "outcome": error.reason})
            raise
        handler = self._admin_handlers[spec.full_name]
        if organisation:
            event["organisation"] = organisation
        event.update(_subject(request))
        if not spec.is_read:
            # Durable before the change is made: a change without its audit entry cannot happen, even when
            # the process is killed right after committing it.
            await self._record({**event, "phase": "intent"})
        try:
            response = await handler(request, AdminCall(caller.name, organisation, spec.full_name))
        except GatewayError as error:
            await self._record({**event, "outcome": error.code.name}, after_effect=not spec.is_read)
            raise
        await self._record({**event, "outcome": "OK"}, after_effect=not spec.is_read)
        return Outcome(response, None)

    async def credential_used(
        self, ctx: CallContext, spec: OperationSpec, credential: Credential, outcome: str
    ) -> None:
        """The engine's report of every upstream call: which caller used which credential, and how it went."""
        self._metrics.credential_uses.labels(credential.kind, outcome).inc()
        await self._record({
            "type": "credential_use", "caller": ctx.caller, "organisation": ctx.organisation,
            "operation": spec.full_name, "credential": credential.credential_id, "kind": credential.kind,
            "outcome": outcome,
        }, after_effect=not spec.is_read)  # fmt: skip

    async def _record_intent(self, spec: OperationSpec, caller: str, organisation: str) -> None:
        """A write's intent, recorded before it can reach Encord (a read has no effect to announce)."""
        if not spec.is_read:
            await self._record({"type": "call", "phase": "intent", "caller": caller,
                                "organisation": organisation, "operation": spec.full_name})  # fmt: skip

    async def _record(self, event: Mapping[str, Any], *, after_effect: bool = False) -> None:
        """Append an audit event.

        Before anything was changed, a failed append refuses the call (UNAVAILABLE, nothing done, safe to
        retry). After a change was made (a write's outcome) it must not: answering UNAVAILABLE for a write
        that happened makes callers retry and do it twice. Such a failure is logged and counted instead.
        """
        if self._audit is None:
            return
        try:
            await self._audit.append_async(event)
        except AuditError as exc:
            stage = "outcome" if after_effect else "intent"
            self._metrics.audit_failures.labels(stage).inc()
            if after_effect:
                log.error("audit event for %s not recorded after it was carried out: %s", event.get("operation"), exc)
                return
            raise GatewayError(
                grpc.StatusCode.UNAVAILABLE, "the audit log cannot be written; call refused", reason="AUDIT_UNAVAILABLE"
            ) from exc


SUBJECT_FIELDS = ("organisation", "name", "caller", "credential_id", "token_id", "identity", "resource_type",
                  "resource_hash", "scopes")  # fmt: skip
"""Request fields that say what an admin call acts on: recorded (HMAC'd) with it. Never a secret field."""


def _subject(request: message.Message) -> dict[str, Any]:
    fields = request.DESCRIPTOR.fields_by_name
    subject: dict[str, Any] = {}
    for name in SUBJECT_FIELDS:
        if name in fields:
            value = getattr(request, name)
            if value:
                subject[name] = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
    return subject
