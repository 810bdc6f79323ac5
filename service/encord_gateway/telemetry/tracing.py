"""Traces: OpenTelemetry spans for each call, its cache lookups, its credential resolution and each upstream
attempt, exported by OTLP/HTTP when an endpoint is configured (off by default).

Spans come from the OpenTelemetry SDK and its instrumentation: the grpc.aio server interceptor and the
aiohttp server middleware make the call's span (continuing a caller's W3C `traceparent`), the aiohttp
client instrumentation makes one span per HTTP attempt to Encord (and sends `traceparent` on). The
gateway adds spans only where no instrumentation sees: the cache, the credential resolver, and one span
per upstream call around its attempts. With tracing off, none of this is installed and nothing is spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import grpc
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .. import __version__
from ..cache.backend import CacheBackend, CacheKey, Fetch

SERVICE_NAME = "encord-gateway"
TRACER_NAME = "encord_gateway"


def otlp_provider(endpoint: str, service_name: str = SERVICE_NAME) -> TracerProvider:
    """A tracer provider exporting in batches to an OTLP/HTTP endpoint (e.g. http://collector:4318/v1/traces).

    The exporter is imported here, so that a gateway without tracing never loads it.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "service.version": __version__}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def tracer_of(provider: trace.TracerProvider | None) -> trace.Tracer | None:
    """The gateway's tracer from `provider`, or None when tracing is off (callers then skip spans entirely)."""
    return provider.get_tracer(TRACER_NAME, __version__) if provider is not None else None


def grpc_interceptors(provider: trace.TracerProvider | None) -> Sequence[grpc.aio.ServerInterceptor] | None:
    """The grpc.aio server's tracing interceptor (a span per RPC), or None when tracing is off."""
    if provider is None:
        return None
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return (aio_server_interceptor(tracer_provider=provider),)


def aiohttp_middlewares(provider: trace.TracerProvider | None) -> Sequence[Any]:
    """The REST app's tracing middleware (a span per request), or none when tracing is off."""
    if provider is None:
        return ()
    from opentelemetry.instrumentation.aiohttp_server import create_aiohttp_middleware

    return (create_aiohttp_middleware(tracer_provider=provider),)


def aiohttp_trace_configs(provider: trace.TracerProvider | None) -> list[aiohttp.TraceConfig]:
    """The upstream session's tracing hooks (a span per HTTP request, `traceparent` sent), or none."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    config: aiohttp.TraceConfig = create_trace_config(tracer_provider=provider)
    return [config]


class TracedCache:
    """A cache backend whose lookups and coalesced fetches are spans (installed only when tracing is on)."""

    def __init__(self, inner: CacheBackend, provider: trace.TracerProvider) -> None:
        self._inner = inner
        tracer = tracer_of(provider)
        assert tracer is not None
        self._tracer = tracer

    async def get(self, key: CacheKey) -> bytes | None:
        with self._tracer.start_as_current_span("cache get") as span:
            found = await self._inner.get(key)
            span.set_attribute("encord_gateway.cache.hit", found is not None)
            return found

    async def generation(self, organisation: str, method: str) -> int:
        return await self._inner.generation(organisation, method)

    async def put(self, key: CacheKey, value: bytes, ttl: float, generation: int) -> bool:
        return await self._inner.put(key, value, ttl, generation)

    async def invalidate(self, organisation: str, method: str) -> int:
        with self._tracer.start_as_current_span("cache invalidate") as span:
            dropped = await self._inner.invalidate(organisation, method)
            span.set_attribute("encord_gateway.cache.dropped", dropped)
            return dropped

    async def coalesce(self, key: CacheKey, generation: int, fetch: Fetch, deadline: float) -> tuple[bytes, bool]:
        with self._tracer.start_as_current_span("cache fetch") as span:
            value, started = await self._inner.coalesce(key, generation, fetch, deadline)
            span.set_attribute("encord_gateway.cache.fetched", started)  # False: joined another call's fetch
            return value, started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # anything else a backend offers (sizes, close) passes through
