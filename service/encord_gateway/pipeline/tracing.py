"""What the call's span says about it: the request id, caller, organisation, outcome and cache verdict.

The span itself comes from the edge's instrumentation (grpc.aio interceptor, aiohttp middleware; see
telemetry/tracing.py); this interceptor is in the pipeline only when tracing is on.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from .call import Call, Proceed


class CallSpan:
    async def intercept(self, call: Call, proceed: Proceed) -> None:
        span = trace.get_current_span()
        try:
            await proceed(call)
        finally:
            if span.is_recording():
                span.set_attributes(
                    {
                        "encord_gateway.request_id": call.request_id,
                        "encord_gateway.method": call.spec.full_name,
                        "encord_gateway.caller": call.caller_name,
                        "encord_gateway.organisation": call.organisation or "",
                        "encord_gateway.upstream_attempts": call.record.upstream_attempts,
                        "rpc.grpc.status_code": call.code.value[0],
                    }
                )
                if call.outcome is not None and call.outcome.cache:
                    span.set_attribute("encord_gateway.cache", call.outcome.cache)
                if call.error is not None:
                    span.set_status(Status(StatusCode.ERROR, f"{call.code.name} {call.error.reason}"))
