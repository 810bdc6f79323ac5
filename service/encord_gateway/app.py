"""Assembles one gateway: upstream client, vault-backed credentials, cache, engine, and the three listeners."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from .cache.memory import ResponseCache
from .config import Settings
from .edge import grpc_server, rest
from .edge.chain import Authenticator, CallChain
from .operations.catalog import OperationSpec, load_catalog
from .operations.engine import Engine
from .telemetry.metrics import Metrics
from .upstream.client import UpstreamClient
from .upstream.credentials import CredentialResolver, SignerSource

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


@dataclass
class Endpoints:
    grpc: str
    rest: str
    metrics: str


class Gateway:
    """A running gateway; `start()` binds the ports (failing loudly if taken), `stop()` drains them."""

    def __init__(
        self, settings: Settings, upstream_url: str, vault: SignerSource, authenticator: Authenticator
    ) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.specs: dict[str, OperationSpec] = load_catalog()
        self.upstream = UpstreamClient(upstream_url, self.metrics)
        self.cache = ResponseCache(settings.cache_max_entries)
        self.engine = Engine(self.upstream, CredentialResolver(vault), self.cache, self.metrics)
        self.chain = CallChain(self.engine, authenticator, self.metrics, settings.default_timeout)
        self._grpc, self._health = grpc_server.build_server(self.specs, self.chain)
        self._runners: list[web.AppRunner] = []
        self.ready = False

    async def start(self) -> Endpoints:
        s = self.settings
        await self.upstream.start()
        address = f"{s.host}:{s.grpc_port}"
        try:
            grpc_port = self._grpc.add_insecure_port(address)
        except RuntimeError:  # grpcio reports a failed bind as RuntimeError; callers expect OSError
            grpc_port = 0
        if grpc_port == 0:
            raise OSError(f"cannot listen for gRPC on {address}: the address is in use or not available")
        await self._grpc.start()
        rest_port = await self._serve(rest.build_app(self.specs, self.chain), s.rest_port)
        metrics_port = await self._serve(self._metrics_app(), s.metrics_port)
        await grpc_server.mark_serving(self._health, self.specs)
        self.ready = True
        return Endpoints(
            grpc=f"{s.host}:{grpc_port}",
            rest=f"http://{s.host}:{rest_port}",
            metrics=f"http://{s.host}:{metrics_port}/metrics",
        )

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, port, reuse_port=False)
        await site.start()
        self._runners.append(runner)
        server = site._server  # aiohttp exposes the bound socket only here; needed for port 0
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    def _metrics_app(self) -> web.Application:
        async def metrics(_: web.Request) -> web.Response:
            body = self.metrics.exposition()
            return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def readyz(_: web.Request) -> web.Response:
            return web.json_response({"ready": self.ready}, status=200 if self.ready else 503)

        app = web.Application()
        app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)])
        return app

    async def stop(self) -> None:
        self.ready = False
        await grpc_server.mark_not_serving(self._health)
        await self._grpc.stop(SHUTDOWN_GRACE_SECONDS)
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        await self.upstream.close()
