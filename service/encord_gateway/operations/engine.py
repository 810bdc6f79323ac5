"""Executes an OperationSpec: validate, consult the cache, resolve the credential, call Encord, map back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf import message

from ..cache.memory import CacheKey, ResponseCache
from ..errors import GatewayError
from ..telemetry.metrics import Metrics
from ..upstream.client import UpstreamClient
from ..upstream.credentials import Credential, CredentialResolver
from ..upstream.errors import malformed
from .catalog import OperationSpec
from .wiremap import MalformedUpstreamResult

if TYPE_CHECKING:
    from .results import ResultStep


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


CredentialObserver = Callable[[CallContext, OperationSpec, Credential, str], Awaitable[None]]


class Engine:
    """The one code path every RPC takes, whatever its edge (gRPC or REST)."""

    def __init__(
        self,
        upstream: UpstreamClient,
        credentials: CredentialResolver,
        cache: ResponseCache,
        metrics: Metrics,
        steps: Mapping[str, ResultStep] | None = None,
    ) -> None:
        self._steps: Mapping[str, ResultStep] = steps or {}
        self._upstream = upstream
        self._credentials = credentials
        self._cache = cache
        self._metrics = metrics
        self.observer: CredentialObserver | None = None  # told of every upstream use of a credential

    async def execute(self, spec: OperationSpec, request: message.Message, ctx: CallContext) -> Outcome:
        """Run a validated, authorised upstream operation."""
        step = self._step(spec)
        if step is not None:
            step.check(spec, request)
        credential = self._credentials.resolve(ctx.organisation, spec, request)
        if spec.cache_ttl <= 0:
            response = await self._call(spec, request, ctx, credential)
            self._invalidate(spec, ctx)
            return Outcome(response, None)

        key = CacheKey(
            ctx.organisation, spec.full_name, credential.credential_id, request.SerializeToString(deterministic=True)
        )
        cached = self._cache.get(key)
        counter = self._metrics.cache_requests
        if cached is not None:
            counter.labels(spec.service, spec.method, "hit").inc()
            return Outcome(spec.response_class.FromString(cached), "hit")
        counter.labels(spec.service, spec.method, "miss").inc()

        async def fetch() -> bytes:
            response = await self._call(spec, request, ctx, credential)
            return response.SerializeToString()

        value, fetched = await self._cache.coalesce(key, fetch)
        if fetched:
            self._cache.put(key, value, spec.cache_ttl)
        return Outcome(spec.response_class.FromString(value), "miss")

    async def _call(
        self, spec: OperationSpec, request: message.Message, ctx: CallContext, credential: Credential
    ) -> message.Message:
        assert spec.plan is not None, f"{spec.full_name} is not an upstream operation"
        call = spec.plan.wire_call(request)
        try:
            result = await self._upstream.send(call, credential, ctx.deadline)
            step = self._step(spec)
            if step is not None:
                response = await step.finish(spec, result, request, ctx)
            else:
                try:
                    response = spec.plan.response(spec.response_class, result, request)
                except MalformedUpstreamResult as exc:
                    raise malformed(str(exc), label=call.label) from None
        except GatewayError as error:
            await self._observe(ctx, spec, credential, error.code.name)
            raise
        await self._observe(ctx, spec, credential, "OK")
        return response

    def _step(self, spec: OperationSpec) -> ResultStep | None:
        name = spec.operation.result_handler if spec.operation is not None else ""
        return self._steps[name] if name else None

    def check_steps(self, specs: Mapping[str, OperationSpec]) -> None:
        """Fail at start-up, not at call time, when the proto names a result step nobody provides."""
        for spec in specs.values():
            if spec.operation is not None and spec.operation.result_handler:
                if spec.operation.result_handler not in self._steps:
                    raise ValueError(f"{spec.full_name} names unknown result_handler {spec.operation.result_handler!r}")

    async def _observe(self, ctx: CallContext, spec: OperationSpec, credential: Credential, outcome: str) -> None:
        self._credentials.record_use(credential)
        if self.observer is not None:
            await self.observer(ctx, spec, credential, outcome)

    def _invalidate(self, spec: OperationSpec, ctx: CallContext) -> None:
        for target in spec.invalidates:
            service, _, method = target.rpartition(".")
            dropped = self._cache.invalidate(ctx.organisation, target)
            if dropped:
                self._metrics.cache_invalidations.labels(service, method).inc(dropped)
