"""The access log: one line per call, with what an operator needs to follow it.

Fields: method, edge, caller, organisation, code, reason (of a failure), duration, cache verdict,
upstream attempts, messages streamed, whether a write was answered from an earlier one (idempotent_replay),
request id. Never a token, a key or a request body.
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

from .call import REPLAY_METADATA, Call, Proceed

log = logging.getLogger("encord_gateway.access")

BATCH_SECONDS = 0.1
BATCH_LINES = 256


class AccessLog:
    def __init__(self) -> None:
        self._pending: list[tuple[Any, ...]] = []
        self._scheduled: asyncio.TimerHandle | None = None

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        try:
            await proceed(call)
        finally:
            if log.isEnabledFor(logging.INFO):
                self._note(call)

    def _note(self, call: Call) -> None:
        # The least work here, between calls: the facts as they stand; the line is made in the batch.
        # (Not the Call itself, which may hold a large request.)
        error = call.error
        self._pending.append((
            time.time(), time.perf_counter() - call.started, call.spec, call.kind, call.edge, call.caller_name,
            call.organisation, call.code, call.outcome.cache if call.outcome is not None else None,
            call.record.upstream_attempts, call.request_id, call.sent, error.reason if error is not None else None,
            REPLAY_METADATA in call.response_metadata,
        ))  # fmt: skip
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
        for (
            created,
            seconds,
            spec,
            kind,
            edge,
            caller,
            organisation,
            code,
            cache,
            attempts,
            request_id,
            sent,
            reason,
            replay,
        ) in pending:
            fields: dict[str, Any] = {
                "method": f"{spec.service}/{spec.method}",
                "edge": edge,
                "caller": caller,
                "organisation": organisation or "",
                "code": code.name,
                "duration_ms": round(seconds * 1000, 3),
                "cache": cache or "",
                "upstream_attempts": attempts,
                "request_id": request_id,
            }
            if kind.streams_responses:
                fields["messages"] = sent
            if reason is not None:
                fields["reason"] = reason
            if replay:
                fields["idempotent_replay"] = True
            text = " ".join(f"{key}={value}" for key, value in fields.items() if value != "" and key != "request_id")
            record = log.makeRecord(
                log.name,
                logging.INFO,
                "",
                0,
                "call %s request_id=%s",
                (text, request_id),
                None,
                extra={"fields": fields, "request_id": request_id},
            )
            record.created, record.msecs = created, int(created * 1000) % 1000
            log.handle(record)
