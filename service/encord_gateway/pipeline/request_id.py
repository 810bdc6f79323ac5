"""Request ids: the caller's `x-request-id`, else the trace id of a W3C `traceparent`, else a new one.

The id is echoed in the response metadata (gRPC) and headers (REST), put into every log line and audit
event of the call (telemetry.context) and into the ErrorInfo metadata of a failed call (`request_id`),
so that a caller, an operator reading logs and an auditor all name the call the same way.
"""

from __future__ import annotations

import random
import re

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..errors import GatewayError
from ..telemetry import context
from .call import REQUEST_ID_METADATA, Call, Proceed

TRACEPARENT = "traceparent"
MAX_REQUEST_ID_LENGTH = 128
# Printable ASCII without spaces, quotes or separators: safe in a header, a log line and a metric-free label.
_VALID = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{MAX_REQUEST_ID_LENGTH}}}")
_PROPAGATOR = TraceContextTextMapPropagator()


def new_request_id() -> str:
    """A fresh id: 32 hex digits, the shape of a W3C trace id. Unique, not secret (it is echoed and logged,
    and never an idempotency key), so the process's PRNG serves: no system call per request."""
    return f"{random.getrandbits(128):032x}"


def _trace_id(call: Call, tracing: bool) -> str | None:
    """The trace the call belongs to: the current span's (tracing on), else the caller's `traceparent`."""
    if not tracing and TRACEPARENT not in call.metadata:
        return None
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid and TRACEPARENT in call.metadata:
        extracted = _PROPAGATOR.extract(call.metadata)
        span_context = trace.get_current_span(extracted).get_span_context()
    return trace.format_trace_id(span_context.trace_id) if span_context.is_valid else None


class RequestIds:
    """Names the call; the outermost interceptor, so that even a refusal carries the id."""

    def __init__(self, tracing: bool = False) -> None:
        self._tracing = tracing

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        given = call.metadata.get(REQUEST_ID_METADATA)
        if given is not None and _VALID.fullmatch(given):
            call.record.request_id, call.request_id_given = given, True
        else:
            if given is not None:  # refused by the Validation interceptor, under an id of our own
                call.header_problems.append(
                    (
                        REQUEST_ID_METADATA,
                        f"must be 1 to {MAX_REQUEST_ID_LENGTH} characters of A-Z a-z 0-9 . _ : @ / + = -",
                    )
                )
            call.record.request_id = _trace_id(call, self._tracing) or new_request_id()
        call.response_metadata[REQUEST_ID_METADATA] = call.record.request_id
        token = context.enter(call.record)
        try:
            await proceed(call)
        except GatewayError as error:
            # First, so that the bounds on ErrorInfo metadata (edge/status.py) never cut it off.
            error.metadata = {"request_id": call.record.request_id, **error.metadata}
            raise
        finally:
            context.leave(token)
