"""The access log: one line per call, when it ends, with what an operator needs to follow it.

Fields: method, edge, caller, organisation, code, reason (of a failure), duration, cache verdict,
upstream attempts, messages streamed, request id. Never a token, a key or a request body.
Logger `encord_gateway.access` at INFO; with --log-format json each line is one JSON object.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .call import Call, Proceed

log = logging.getLogger("encord_gateway.access")


class AccessLog:
    async def intercept(self, call: Call, proceed: Proceed) -> None:
        try:
            await proceed(call)
        finally:
            if log.isEnabledFor(logging.INFO):
                self._write(call)

    @staticmethod
    def _write(call: Call) -> None:
        spec = call.spec
        fields: dict[str, Any] = {
            "method": f"{spec.service}/{spec.method}",
            "edge": call.edge,
            "caller": call.caller_name,
            "organisation": call.organisation or "",
            "code": call.code.name,
            "duration_ms": round((time.perf_counter() - call.started) * 1000, 3),
            "cache": call.outcome.cache if call.outcome is not None and call.outcome.cache else "",
            "upstream_attempts": call.record.upstream_attempts,
            "request_id": call.request_id,
        }
        if call.kind.streams_responses:
            fields["messages"] = call.sent
        if call.error is not None:
            fields["reason"] = call.error.reason
        text = " ".join(f"{key}={value}" for key, value in fields.items() if value != "" and key != "request_id")
        log.info("call %s request_id=%s", text, call.request_id, extra={"fields": fields})
