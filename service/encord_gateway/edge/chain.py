"""The call chain shared by both edges: authenticate, time, count, execute, and turn failures into statuses."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Protocol

import grpc
from google.protobuf import message

from ..errors import GatewayError
from ..operations.catalog import OperationSpec
from ..operations.engine import CallContext, Engine, Outcome
from ..telemetry.metrics import Metrics

log = logging.getLogger(__name__)

BEARER_PREFIX = "bearer "
MAX_TOKEN_LENGTH = 4096


class CallerIdentity(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def organisation(self) -> str: ...


class Authenticator(Protocol):
    def authenticate(self, token: str) -> CallerIdentity | None: ...


def unauthenticated(message: str, reason: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.UNAUTHENTICATED, message, reason=reason)


class CallChain:
    """Runs one RPC for either edge; every call is counted under its gRPC service and method."""

    def __init__(self, engine: Engine, authenticator: Authenticator, metrics: Metrics, default_timeout: float) -> None:
        self._engine = engine
        self._authenticator = authenticator
        self._metrics = metrics
        self._default_timeout = default_timeout

    def authenticate(self, metadata: Mapping[str, str]) -> CallerIdentity:
        header = metadata.get("authorization")
        if not header:
            raise unauthenticated("missing 'authorization: Bearer <token>'", "MISSING_CREDENTIALS")
        if len(header) > MAX_TOKEN_LENGTH or not header[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
            raise unauthenticated("authorization must be 'Bearer <token>'", "MALFORMED_CREDENTIALS")
        caller = self._authenticator.authenticate(header[len(BEARER_PREFIX) :].strip())
        if caller is None:
            raise unauthenticated("the bearer token is not valid", "INVALID_TOKEN")
        return caller

    async def run(
        self, spec: OperationSpec, request: message.Message, metadata: Mapping[str, str], time_remaining: float | None
    ) -> Outcome:
        labels = ("unary", spec.service, spec.method)
        self._metrics.started.labels(*labels).inc()
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            caller = self.authenticate(metadata)
            budget = self._default_timeout if time_remaining is None else min(time_remaining, self._default_timeout)
            ctx = CallContext(caller.name, caller.organisation, time.monotonic() + budget)
            return await self._engine.execute(spec, request, ctx)
        except GatewayError as error:
            code = error.code
            if code == grpc.StatusCode.UNAUTHENTICATED:
                self._metrics.auth_failures.labels(error.reason).inc()
            raise
        except Exception:
            # A bug, not bad input: log it with its traceback, give the caller nothing internal.
            log.exception("unexpected failure in %s", spec.full_name)
            code = grpc.StatusCode.INTERNAL
            raise GatewayError(code, "internal error", reason="INTERNAL") from None
        finally:
            self._metrics.handled.labels(*labels, code.name).inc()
            self._metrics.handling_seconds.labels(*labels).observe(time.perf_counter() - started)
