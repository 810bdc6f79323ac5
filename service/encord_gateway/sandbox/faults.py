"""Injected faults for resilience tests: answer v1/v2 calls late, with a chosen status and body, or not at all."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .records import new_hash
from .requestlog import FAULT, LoggedCall, RequestLog

# A fault must never hang a test run (or a shutdown) for long; the SDK's own read timeout is 180 s (§4.3).
MAX_DELAY_SECONDS = 60.0
# A fault that gives a body or headers but no status answers as an overloaded upstream would.
DEFAULT_STATUS = 503
# aiohttp frames the response itself; a fault overriding these would produce broken HTTP, not a modelled fault.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})

_FAULT_KEYS = frozenset({"match", "times", "delay_seconds", "status", "headers", "body", "reset"})
_MATCH_KEYS = frozenset({"api", "query_type", "query_method", "method", "path_prefix"})

BLOB_API = "blob"
"""The `api` of requests to signed URLs (blobs.py): faulted only by faults that name it."""

FAULT_ID = web.RequestKey("fault_id", str)
"""Set on a request a delay-only fault let through, so its normal request-log entry names the fault."""


class FaultError(ValueError):
    """A fault specification the control API refuses (HTTP 400)."""


@dataclass(frozen=True)
class RequestFacts:
    """What a fault can match on, known before authentication."""

    api: str
    method: str
    path: str
    query_type: str | None
    query_method: str | None
    resource_id: str | None
    resource_type: str | None


@dataclass(frozen=True)
class FaultMatch:
    """Every given member must equal the request's (`path_prefix`: must start the path); none given matches all."""

    api: str | None = None
    query_type: str | None = None
    query_method: str | None = None
    method: str | None = None
    path_prefix: str | None = None

    def matches(self, facts: RequestFacts) -> bool:
        if facts.api == BLOB_API and self.api != BLOB_API:
            return False  # the bucket behind signed URLs fails only when a fault names it
        return (
            (self.api is None or self.api == facts.api)
            and (self.query_type is None or self.query_type == facts.query_type)
            and (self.query_method is None or self.query_method == facts.query_method)
            and (self.method is None or self.method == facts.method)
            and (self.path_prefix is None or facts.path.startswith(self.path_prefix))
        )


@dataclass
class Fault:
    id: str
    match: FaultMatch
    times: int
    """How many matching requests it applies to; 0 = every one until the faults are cleared."""
    delay_seconds: float = 0.0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    reset: bool = False
    hits: int = 0

    @property
    def answers(self) -> bool:
        """False for a delay-only fault: the call is then answered normally, only late."""
        return self.reset or self.status is not None or self.body is not None or bool(self.headers)

    @property
    def remaining(self) -> int | None:
        return None if self.times == 0 else max(self.times - self.hits, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "match": {k: v for k, v in vars(self.match).items() if v is not None},
            "times": self.times,
            "delay_seconds": self.delay_seconds,
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body,
            "reset": self.reset,
            "hits": self.hits,
            "remaining": self.remaining,
        }


def _optional_str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise FaultError(f"'{key}' must be a string")
    return value


def parse_fault(raw: Any) -> Fault:
    """A fault from its control-API JSON; FaultError names the first problem."""
    if not isinstance(raw, dict):
        raise FaultError("the body must be a JSON object")
    if unknown := sorted(set(raw) - _FAULT_KEYS):
        raise FaultError(f"unknown members: {', '.join(unknown)}")
    match_raw = raw.get("match", {})
    if not isinstance(match_raw, dict):
        raise FaultError("'match' must be a JSON object")
    if unknown := sorted(set(match_raw) - _MATCH_KEYS):
        raise FaultError(f"unknown 'match' members: {', '.join(unknown)}")
    match = FaultMatch(**{k: _optional_str(match_raw, k) for k in _MATCH_KEYS})
    if match.api not in (None, "v1", "v2", BLOB_API):
        raise FaultError("'match.api' must be 'v1', 'v2' or 'blob'")

    times = raw.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 0:
        raise FaultError("'times' must be a non-negative integer (0: until cleared)")
    delay = raw.get("delay_seconds", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise FaultError(f"'delay_seconds' must be a number from 0 to {MAX_DELAY_SECONDS:g}")
    status = raw.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599):
        raise FaultError("'status' must be an HTTP status from 200 to 599")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise FaultError("'headers' must be an object of string values")
    if framing := sorted(h for h in headers if h.lower() in FRAMING_HEADERS):
        raise FaultError(f"the sandbox frames responses itself; cannot set {', '.join(framing)}")
    body = _optional_str(raw, "body")
    reset = raw.get("reset", False)
    if not isinstance(reset, bool):
        raise FaultError("'reset' must be true or false")
    if reset and (status is not None or body is not None or headers):
        raise FaultError("'reset' closes the connection without answering; it takes no status, headers or body")
    return Fault(new_hash(), match, times, float(delay), status, dict(headers), body, reset)


class FaultTable:
    """Registered faults, first registered first matched; exhausted ones stay listed until cleared."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._stopping = asyncio.Event()

    def __bool__(self) -> bool:
        return any(f.remaining != 0 for f in self._faults)

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def take(self, facts: RequestFacts) -> Fault | None:
        """The first live fault matching `facts`, counted as used (before any await, so concurrent calls agree)."""
        for fault in self._faults:
            if fault.remaining != 0 and fault.match.matches(facts):
                fault.hits += 1
                return fault
        return None

    def entries(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]

    def clear(self) -> None:
        self._faults.clear()

    async def wait(self, delay_seconds: float) -> None:
        """Sleep out a fault's delay, cut short when the server stops so a shutdown never waits on a fault."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay_seconds)

    async def on_shutdown(self, app: web.Application) -> None:
        self._stopping.set()


def reset_connection(request: web.Request) -> None:
    """Close the connection with a TCP RST, as a crashed proxy would; the client sees a reset, not an answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger on, timeout 0: close() discards unsent data and sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def answer(fault: Fault) -> web.Response:
    headers = {"Content-Type": "text/plain; charset=utf-8", **fault.headers}
    body = fault.body.encode("utf-8") if fault.body is not None else b""
    return web.Response(status=fault.status or DEFAULT_STATUS, body=body, headers=headers)


def log_fault(log: RequestLog, facts: RequestFacts, fault: Fault, status: int | None) -> None:
    log.record(
        LoggedCall(
            api=facts.api,
            method=facts.method,
            path=facts.path,
            query_type=facts.query_type,
            query_method=facts.query_method,
            resource_id=facts.resource_id,
            resource_type=facts.resource_type,
            user=None,
            status=status,
            outcome=FAULT,
            fault=fault.id,
        )
    )


async def apply(
    request: web.Request, table: FaultTable, fault: Fault, facts: RequestFacts, log: RequestLog
) -> web.Response | None:
    """Wait out the fault's delay, then its answer; None when the call should now be handled normally."""
    if fault.delay_seconds:
        await table.wait(fault.delay_seconds)
    if not fault.answers:
        request[FAULT_ID] = fault.id
        return None
    if fault.reset:
        log_fault(log, facts, fault, None)
        reset_connection(request)
        return web.Response()  # never sent: aiohttp finds the transport closed and drops the connection
    response = answer(fault)
    log_fault(log, facts, fault, response.status)
    return response
