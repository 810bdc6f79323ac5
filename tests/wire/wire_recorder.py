"""A recording upstream: logs every request exactly as received, then forwards it unchanged to the sandbox.

It runs an aiohttp server on its own event loop in a background thread, so that the synchronous SDK
(requests) and a gateway subprocess can both call it while a test waits on either.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from yarl import URL

START_TIMEOUT_SECONDS = 10.0
UPSTREAM_TIMEOUT_SECONDS = 30.0

# Hop-by-hop or transport-owned headers: the forwarding client sets its own.
NOT_FORWARDED = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
# What the SDK and the gateway read from an answer besides status and body.
RELAYED = ("Content-Type", "Retry-After")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived on the socket: the raw request target, headers in order, body bytes."""

    method: str
    target: str  # path plus "?query", exactly as sent (aiohttp's raw_path)
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None when it was not sent."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class RecordingUpstream:
    """Start with `start()`, read what arrived with `take()`, stop with `stop()` (idempotent)."""

    def __init__(self, forward_to: str) -> None:
        self.forward_to = forward_to.rstrip("/")
        self.url = ""
        self._log: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="recording-upstream", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> RecordingUpstream:
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(START_TIMEOUT_SECONDS)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(START_TIMEOUT_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_SECONDS)
        self._loop.close()

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def take(self) -> list[RecordedRequest]:
        """Everything recorded since the last `clear()`/`take()`, in arrival order; empties the log."""
        with self._lock:
            taken, self._log = self._log, []
        return taken

    async def _serve(self) -> int:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_SECONDS), cookie_jar=aiohttp.DummyCookieJar()
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port: int = self._runner.addresses[0][1]  # port 0: the one the system picked
        return port

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = tuple((key.decode("latin-1"), value.decode("latin-1")) for key, value in request.raw_headers)
        recorded = RecordedRequest(request.method, request.raw_path, headers, body)
        with self._lock:
            self._log.append(recorded)
        return await self._forward(recorded)

    async def _forward(self, recorded: RecordedRequest) -> web.Response:
        assert self._session is not None
        forwarded = [(key, value) for key, value in recorded.headers if key.lower() not in NOT_FORWARDED]
        async with self._session.request(
            recorded.method,
            URL(self.forward_to + recorded.target, encoded=True),  # encoded: the v2 signature covers these bytes
            data=recorded.body or None,
            headers=forwarded,
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            relayed = {name: answer.headers[name] for name in RELAYED if name in answer.headers}
            return web.Response(status=answer.status, body=body, headers=relayed)
