"""Assembles one gateway: vault-backed credentials, access control, cache, engine, admin API, listeners."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider

from .access.store import AccessStore
from .admin.handlers import AdminService
from .backends import build_cache, build_idempotency, build_limiter
from .cache.backend import CacheBackend
from .config import Settings
from .edge import grpc_server, rest, tls
from .edge.httpserver import RestLimits, RestRunner
from .operations.catalog import OperationSpec, load_catalog
from .operations.engine import Engine
from .operations.results import local_steps, result_steps
from .pipeline import AuditTrail as CallAuditTrail
from .pipeline import IdempotencyStore, standard_pipeline
from .telemetry.metrics import Metrics
from .telemetry.tracing import TracedCache, otlp_provider
from .upstream.client import UpstreamClient
from .upstream.credentials import CredentialResolver, ResolverSettings
from .upstream.isolation import BreakerSettings
from .vault.audit import AuditTrail
from .vault.credentials import Vault

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
        self,
        settings: Settings,
        upstream_url: str,
        vault: Vault,
        tokens: AccessStore,
        audit: AuditTrail | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        """`tracer_provider` overrides the one made from `settings.otlp_endpoint` (tests pass an in-memory one)."""
        self.settings = settings
        self.vault = vault
        self.metrics = Metrics()
        self.specs: dict[str, OperationSpec] = load_catalog()
        self._owns_tracer_provider = tracer_provider is None and bool(settings.otlp_endpoint)
        if tracer_provider is None and settings.otlp_endpoint:
            tracer_provider = otlp_provider(settings.otlp_endpoint)
        self.tracer_provider = tracer_provider
        self.upstream = UpstreamClient(
            upstream_url,
            self.metrics,
            max_connections=settings.upstream_max_connections,
            organisation_concurrency=settings.upstream_organisation_concurrency,
            breaker=BreakerSettings(settings.circuit_failures, settings.circuit_open_seconds),
            max_response_bytes=settings.upstream_max_response_bytes,
            tracer_provider=tracer_provider,
        )
        self.cache: CacheBackend = build_cache(settings, self._shared_cache_changed)
        self.limiter = build_limiter(settings)
        self.idempotency = idempotency if idempotency is not None else build_idempotency(settings)
        if tracer_provider is not None:
            self.cache = TracedCache(self.cache, tracer_provider)
        self.resolver = CredentialResolver(
            vault,
            ResolverSettings(vault_threads=settings.vault_threads),
            metrics=self.metrics,
            tracer_provider=tracer_provider,
        )
        self.engine = Engine(
            self.upstream, self.resolver, self.cache, self.metrics, result_steps(vault, self.resolver), local_steps()
        )
        self.engine.check_steps(self.specs)
        admin = AdminService(vault, tokens, self.resolver, self.upstream, self.specs, audit, self.resolver.forget)
        trail = CallAuditTrail(audit, self.metrics)
        self.pipeline = standard_pipeline(
            self.engine,
            tokens,
            self.limiter,
            self.metrics,
            trail,
            default_timeout=settings.default_timeout,
            admin_handlers=admin.handlers(self.specs),
            idempotency=self.idempotency,
            idempotency_window=settings.idempotency_window,
            tracer_provider=tracer_provider,
        )
        self.engine.observer = trail.credential_used
        self._grpc, self._health = grpc_server.build_server(
            self.specs,
            self.pipeline,
            secure=settings.tls,
            tracer_provider=tracer_provider,
            reuse_port=settings.reuse_port,
        )
        self._runners: list[web.AppRunner] = []
        self._unsealer: asyncio.Task[None] | None = None
        self.started = False

    @property
    def ready(self) -> bool:
        """Serving and able to use credentials: a sealed vault makes the gateway not ready."""
        return self.started and not self.vault.sealed

    def _shared_cache_changed(self, available: bool) -> None:
        self.metrics.shared_cache_available.set(1 if available else 0)

    async def start(self) -> Endpoints:
        s = self.settings
        await self.upstream.start()
        await self.resolver.start()
        start_cache = getattr(self.cache, "start", None)
        if start_cache is not None:  # a shared cache subscribes to invalidations; it serves uncached until it has
            await start_cache()
        else:
            self.metrics.shared_cache_available.set(1)  # the in-process cache is always there
        address = f"{s.host}:{s.grpc_port}"
        try:
            if s.tls:
                grpc_port = self._grpc.add_secure_port(address, tls.grpc_credentials(s))
            else:
                grpc_port = self._grpc.add_insecure_port(address)
        except RuntimeError:  # grpcio reports a failed bind as RuntimeError; callers expect OSError
            grpc_port = 0
        if grpc_port == 0:
            raise OSError(f"cannot listen for gRPC on {address}: the address is in use or not available")
        await self._grpc.start()
        ssl_context = tls.rest_ssl_context(s) if s.tls else None
        limits = RestLimits(
            s.rest_header_timeout, s.rest_body_timeout, s.rest_max_body_bytes, s.rest_max_document_bytes
        )
        rest_app = rest.build_app(self.specs, self.pipeline, limits, self.tracer_provider)
        rest_runner = RestRunner(rest_app, limits, self._rest_rejected)
        rest_port = await self._serve(rest_runner, s.rest_port, ssl_context)
        metrics_port = await self._serve(
            web.AppRunner(self._metrics_app(), access_log=None), s.metrics_port, None, reuse_port=False
        )
        self.started = True
        await self._health_changed()
        self._unsealer = asyncio.create_task(self._keep_unsealing())
        scheme = "https" if s.tls else "http"
        return Endpoints(
            grpc=f"{s.host}:{grpc_port}",
            rest=f"{scheme}://{s.host}:{rest_port}",
            metrics=f"http://{s.host}:{metrics_port}/metrics",
        )

    async def _health_changed(self) -> None:
        self.metrics.vault_sealed.set(1 if self.vault.sealed else 0)
        await grpc_server.set_serving(self._health, self.specs, self.ready)

    async def _keep_unsealing(self) -> None:
        """While sealed, retry the key-encryption key now and then; report readiness when it comes."""
        while True:
            if self.vault.sealed:
                unsealed = await asyncio.to_thread(self.vault.try_unseal)
                if unsealed:
                    log.info("credential vault unsealed")
                    self.resolver.forget()
                    await self._health_changed()
            await asyncio.sleep(self.settings.unseal_interval)

    def _rest_rejected(self, reason: str) -> None:
        self.metrics.http_rejected.labels(reason).inc()

    async def _serve(
        self, runner: web.AppRunner, port: int, ssl_context: object, *, reuse_port: bool | None = None
    ) -> int:
        await runner.setup()
        shared = self.settings.reuse_port if reuse_port is None else reuse_port
        site = web.TCPSite(runner, self.settings.host, port, reuse_port=shared, ssl_context=ssl_context)  # type: ignore[arg-type]
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
            sealed = self.vault.sealed
            body: dict[str, object] = {"ready": self.ready, "vault_sealed": sealed}
            if sealed:
                body["seal_reason"] = self.vault.status().seal_reason
            return web.json_response(body, status=200 if self.ready else 503)

        app = web.Application()
        app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)])
        return app

    async def stop(self) -> None:
        self.started = False
        if self._unsealer is not None:
            self._unsealer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._unsealer
        await grpc_server.mark_not_serving(self._health)
        await self._grpc.stop(SHUTDOWN_GRACE_SECONDS)
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        self.pipeline.flush()
        await self.upstream.close()
        await self.resolver.close()
        for component in (self.cache, self.limiter, self.idempotency):
            close = getattr(component, "close", None)
            if close is not None:
                await close()
        if self._owns_tracer_provider and self.tracer_provider is not None:
            await asyncio.to_thread(self.tracer_provider.shutdown)  # export what is still buffered
