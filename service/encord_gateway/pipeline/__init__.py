"""The interceptor pipeline both edges share, for unary and streaming calls alike.

An ordered list of small interceptors, each given the call (`Call`) and the next step: request id,
metrics, access log, tracing, the error boundary, deadline, authentication, validation, authorisation,
limits, idempotency and audit, then the dispatch to the admin API or the engine. A new concern is a new
interceptor (one module here) and one line in `standard_pipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace

from ..access.limits import Limiter
from ..operations.engine import Engine
from ..telemetry.metrics import Metrics
from .access_log import AccessLog
from .audit import Audit, AuditSink, AuditTrail
from .authentication import Authentication, Authenticator
from .authorization import Authorization
from .call import Call, CallerIdentity, CallKind, Interceptor, Peer, Pipeline, Proceed, RequestReader, ResponseSender
from .deadline import Deadline
from .dispatch import AdminCall, AdminHandler, Dispatch
from .errors import Errors
from .idempotency import DEFAULT_WINDOW_SECONDS, Idempotency
from .idempotency_store import Claim, IdempotencyStore, MemoryIdempotencyStore
from .limits import Limits
from .metrics import CallMetrics
from .request_id import RequestIds
from .tracing import CallSpan
from .validation import Validation

__all__ = [
    "AdminCall",
    "AdminHandler",
    "AuditSink",
    "AuditTrail",
    "Authenticator",
    "Call",
    "CallKind",
    "CallerIdentity",
    "Claim",
    "IdempotencyStore",
    "Interceptor",
    "MemoryIdempotencyStore",
    "Peer",
    "Pipeline",
    "Proceed",
    "RequestReader",
    "ResponseSender",
    "standard_interceptors",
    "standard_pipeline",
]


def standard_interceptors(
    authenticator: Authenticator,
    limiter: Limiter,
    metrics: Metrics,
    audit: AuditTrail,
    *,
    default_timeout: float,
    idempotency: IdempotencyStore | None = None,
    idempotency_window: float = DEFAULT_WINDOW_SECONDS,
    tracer_provider: trace.TracerProvider | None = None,
) -> list[Interceptor]:
    """The gateway's interceptors, in order. Order matters: a call that fails authentication, validation,
    policy or limits never reaches the cache or Encord, and so can neither read another team's cached answer
    nor cost an Encord call; the observers sit outside the error boundary, so they see every call's final code."""
    interceptors: list[Interceptor] = [
        RequestIds(tracing=tracer_provider is not None),  # first: every answer, refusals included, names the call
        CallMetrics(metrics),
        AccessLog(),
    ]
    if tracer_provider is not None:
        interceptors.append(CallSpan())
    interceptors += [
        Errors(),  # a bug is INTERNAL from here on out
        Deadline(default_timeout),
        Authentication(authenticator),  # before any request byte is read
        Validation(),
        Authorization(audit),
        Limits(limiter),
        Idempotency(idempotency or MemoryIdempotencyStore(), metrics, idempotency_window),
        Audit(audit),  # last: a write's intent is recorded only when nothing else stands in its way
    ]
    return interceptors


def standard_pipeline(
    engine: Engine,
    authenticator: Authenticator,
    limiter: Limiter,
    metrics: Metrics,
    audit: AuditTrail,
    *,
    default_timeout: float,
    admin_handlers: Mapping[str, AdminHandler],
    idempotency: IdempotencyStore | None = None,
    idempotency_window: float = DEFAULT_WINDOW_SECONDS,
    tracer_provider: trace.TracerProvider | None = None,
) -> Pipeline:
    """The gateway's pipeline: the standard interceptors, then the dispatch to the admin API or the engine."""
    interceptors = standard_interceptors(
        authenticator,
        limiter,
        metrics,
        audit,
        default_timeout=default_timeout,
        idempotency=idempotency,
        idempotency_window=idempotency_window,
        tracer_provider=tracer_provider,
    )
    return Pipeline(interceptors, Dispatch(engine, admin_handlers))
