"""Idempotent writes (AIP-155): a write repeated with the same request id by the same caller within the
window is answered with the first call's answer, without a second call to Encord.

The carrier is the request id itself: `x-request-id` (REST header or gRPC metadata), which every RPC takes
without any change to its message. Only an id the caller chose counts (never one the gateway generated
or took from a trace). The same id with a different request (another method, organisation or body) is
INVALID_ARGUMENT (REQUEST_ID_REUSED). Unary and client-streaming data writes take part; a failed write
is not remembered, so a retry after a failure runs again.
"""

from __future__ import annotations

import hashlib

import grpc

from ..errors import GatewayError
from ..operations.catalog import OperationSpec
from ..operations.engine import Outcome
from ..telemetry.metrics import Metrics
from .call import REPLAY_METADATA, Call, CallKind, Proceed
from .idempotency_store import IdempotencyStore

DEFAULT_WINDOW_SECONDS = 3600.0


def fingerprint(call: Call) -> str:
    """What makes two calls the same request: method, organisation and the request's canonical bytes."""
    assert call.request is not None
    digest = hashlib.sha256()
    for part in (call.spec.full_name, call.organisation or ""):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    digest.update(call.request.SerializeToString(deterministic=True))
    return digest.hexdigest()


class Idempotency:
    def __init__(self, store: IdempotencyStore, metrics: Metrics, window: float = DEFAULT_WINDOW_SECONDS) -> None:
        self._store = store
        self._metrics = metrics
        self._window = window

    @staticmethod
    def applies(spec: OperationSpec, kind: CallKind) -> bool:
        return not spec.is_read and spec.admin is None and kind in (CallKind.UNARY, CallKind.CLIENT_STREAM)

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        if not call.request_id_given:  # only an id the caller chose names a write
            await proceed(call)
            return
        key = f"{call.caller_name}\n{call.request_id}"
        print_ = fingerprint(call)
        claim = await self._store.claim(key, print_, self._window)
        if claim.conflict:
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request id {call.request_id!r} was already used by this caller for a different request; "
                "use a new id for a new request",
                reason="REQUEST_ID_REUSED",
            )
        if claim.response is not None:
            call.outcome = Outcome(call.spec.response_class.FromString(claim.response), None)
            call.response_metadata[REPLAY_METADATA] = "true"
            self._metrics.idempotent_replays.labels(call.spec.service, call.spec.method).inc()
            return
        try:
            await proceed(call)
        except BaseException:
            await self._store.abandon(key, print_)
            raise
        assert call.outcome is not None
        await self._store.complete(key, print_, call.outcome.response.SerializeToString(), self._window)
