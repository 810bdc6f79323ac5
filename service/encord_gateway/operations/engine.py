"""Executes an OperationSpec: validate, consult the cache, resolve the credential, call Encord, map back."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import message

from ..cache.memory import CacheKey, ResponseCache
from ..telemetry.metrics import Metrics
from ..upstream.client import UpstreamClient
from ..upstream.credentials import CredentialResolver
from ..upstream.errors import malformed
from ..upstream.signing import Signer
from . import validate
from .catalog import OperationSpec
from .wiremap import MalformedUpstreamResult


@dataclass(frozen=True)
class CallContext:
    """Who is calling, for which organisation, and until when (absolute `time.monotonic()`)."""

    caller: str
    organisation: str
    deadline: float


@dataclass(frozen=True)
class Outcome:
    response: message.Message
    cache: str | None  # "hit", "miss", or None for calls that are not cached


class Engine:
    """The one code path every RPC takes, whatever its edge (gRPC or REST)."""

    def __init__(
        self,
        upstream: UpstreamClient,
        credentials: CredentialResolver,
        cache: ResponseCache,
        metrics: Metrics,
    ) -> None:
        self._upstream = upstream
        self._credentials = credentials
        self._cache = cache
        self._metrics = metrics

    async def execute(self, spec: OperationSpec, request: message.Message, ctx: CallContext) -> Outcome:
        validate.validate(request)
        credential = self._credentials.resolve(ctx.organisation)
        if spec.cache_ttl <= 0:
            response = await self._call(spec, request, ctx, credential.signer)
            self._invalidate(spec, ctx)
            return Outcome(response, None)

        key = CacheKey(
            ctx.organisation, spec.full_name, credential.identity, request.SerializeToString(deterministic=True)
        )
        cached = self._cache.get(key)
        counter = self._metrics.cache_requests
        if cached is not None:
            counter.labels(spec.service, spec.method, "hit").inc()
            return Outcome(spec.response_class.FromString(cached), "hit")
        counter.labels(spec.service, spec.method, "miss").inc()

        async def fetch() -> bytes:
            response = await self._call(spec, request, ctx, credential.signer)
            return response.SerializeToString()

        value, fetched = await self._cache.coalesce(key, fetch)
        if fetched:
            self._cache.put(key, value, spec.cache_ttl)
        return Outcome(spec.response_class.FromString(value), "miss")

    async def _call(
        self, spec: OperationSpec, request: message.Message, ctx: CallContext, signer: Signer
    ) -> message.Message:
        call = spec.plan.wire_call(request)
        result = await self._upstream.send(call, signer, ctx.deadline)
        try:
            return spec.plan.response(spec.response_class, result, request)
        except MalformedUpstreamResult as exc:
            raise malformed(str(exc), label=call.label) from None

    def _invalidate(self, spec: OperationSpec, ctx: CallContext) -> None:
        for target in spec.operation.invalidates:
            service, _, method = target.rpartition(".")
            dropped = self._cache.invalidate(ctx.organisation, target)
            if dropped:
                self._metrics.cache_invalidations.labels(service, method).inc(dropped)
