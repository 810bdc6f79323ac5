"""The access log: one line per call, with what an operator needs to follow it.

Fields: method, edge, caller, organisation, code, reason (of a failure), duration, cache verdict,
upstream attempts, messages streamed, request id. Never a token, a key or a request body.
Logger `encord_gateway.access` at INFO; with --log-format json each line is one JSON object.

A call only notes its fields; the lines are made and written in batches, a moment later (at most
BATCH_SECONDS, or BATCH_LINES at a time, and when the gateway stops). Made one at a time between calls, a
log record costs a cached read several times what it costs in a batch, where the logging code stays warm.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .call import Call, Proceed

log = logging.getLogger("encord_gateway.access")

BATCH_SECONDS = 0.1
BATCH_LINES = 256


class AccessLog:
    def __init__(self) -> None:
        self._pending: list[tuple[float, dict[str, Any]]] = []
        self._scheduled: asyncio.TimerHandle | None = None

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        try:
            await proceed(call)
        finally:
            if log.isEnabledFor(logging.INFO):
                self._note(call)

    def _note(self, call: Call) -> None:
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
        self._pending.append((time.time(), fields))
        if len(self._pending) >= BATCH_LINES:
            self.flush()
        elif self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_later(BATCH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write every noted line now."""
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        pending, self._pending = self._pending, []
        for created, fields in pending:
            text = " ".join(f"{key}={value}" for key, value in fields.items() if value != "" and key != "request_id")
            record = log.makeRecord(
                log.name,
                logging.INFO,
                "",
                0,
                "call %s request_id=%s",
                (text, fields["request_id"]),
                None,
                extra={"fields": fields, "request_id": fields["request_id"]},
            )
            record.created, record.msecs = created, int(created * 1000) % 1000
            log.handle(record)
