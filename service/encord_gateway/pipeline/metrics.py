"""Prometheus accounting of every call under grpc-prometheus's names, whichever edge it came in on."""

from __future__ import annotations

import time
from typing import Any

import grpc

from ..telemetry.metrics import Metrics
from .call import Call, Proceed


class _Series:
    """One RPC's labelled children, looked up once rather than on every call."""

    __slots__ = ("handled", "seconds", "started")

    def __init__(self, metrics: Metrics, labels: tuple[str, str, str]) -> None:
        self.started = metrics.started.labels(*labels)
        self.seconds = metrics.handling_seconds.labels(*labels)
        self.handled: dict[grpc.StatusCode, Any] = {
            code: metrics.handled.labels(*labels, code.name) for code in (grpc.StatusCode.OK,)
        }


class CallMetrics:
    """grpc_server_started_total, grpc_server_handled_total, grpc_server_handling_seconds; and refusals
    before any operation (encord_gateway_auth_failures_total, by reason)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._series: dict[tuple[str, str], _Series] = {}

    def _of(self, call: Call) -> _Series:
        key = (call.kind.value, call.spec.full_name)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(self._metrics, (call.kind.value, call.spec.service, call.spec.method))
        return series

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        series = self._of(call)
        series.started.inc()
        try:
            await proceed(call)
        finally:
            handled = series.handled.get(call.code)
            if handled is None:
                labels = (call.kind.value, call.spec.service, call.spec.method, call.code.name)
                handled = series.handled[call.code] = self._metrics.handled.labels(*labels)
            handled.inc()
            series.seconds.observe(time.perf_counter() - call.started)
            if call.code == grpc.StatusCode.UNAUTHENTICATED and call.error is not None:
                self._metrics.auth_failures.labels(call.error.reason).inc()
