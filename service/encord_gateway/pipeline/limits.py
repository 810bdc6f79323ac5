"""Per-caller limits on data calls: a token bucket for the request rate and a cap on calls in flight.

Admin calls are not limited here: they are few, and an operator locked out by a busy service would be worse.
"""

from __future__ import annotations

import grpc

from ..access.limits import Limiter, LimitExceeded
from ..errors import GatewayError
from ..operations.catalog import OperationSpec
from .call import Call, CallKind, Proceed


class Limits:
    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter

    @staticmethod
    def applies(spec: OperationSpec, kind: CallKind) -> bool:
        return spec.admin is None

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        caller = call.caller
        assert caller is not None, "limits apply after authentication"
        try:
            admission = await self._limiter.acquire(caller.name, caller.policy.limits)
        except LimitExceeded as exceeded:
            raise GatewayError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"caller {caller.name!r} is over its {exceeded.kind} limit",
                reason="CALLER_RATE_LIMITED" if exceeded.kind == "rate" else "CALLER_CONCURRENCY_LIMITED",
                retry_after=exceeded.retry_after,
            ) from None
        async with admission:
            await proceed(call)
