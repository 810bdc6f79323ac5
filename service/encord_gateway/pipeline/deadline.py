"""The call's deadline, the same on both edges: the caller's (gRPC `grpc-timeout`; REST `grpc-timeout` or
`Request-Timeout`), capped by the operation's own bound.

The gateway stops waiting for Encord a little before the caller's deadline (`call.deadline`), so that the
caller receives the gateway's DEADLINE_EXCEEDED, with its details, counted in metrics and audit, rather
than a bare cancellation racing it. A REST call is bounded as a whole too, as grpc bounds a gRPC call, so
that one that waits anywhere (a lane, a coalesced fetch) ends at its deadline on either edge.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from ..errors import GatewayError
from .call import Call, Proceed

DEADLINE_MARGIN_SECONDS = 0.25
"""Time kept back from a caller's deadline (at most a tenth of it) to answer the gateway's own
DEADLINE_EXCEEDED: enough for a busy gateway (many calls timing out at once) to still answer first."""


class Deadline:
    def __init__(self, default_timeout: float) -> None:
        self._default_timeout = default_timeout

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        limit = call.spec.deadline_limit(self._default_timeout)
        remaining = call.time_remaining
        now = time.monotonic()
        if remaining is None:
            call.deadline = now + limit
            await proceed(call)
            return
        margin = min(DEADLINE_MARGIN_SECONDS, remaining / 10)
        call.deadline = now + min(remaining - margin, limit)
        if call.edge == "grpc":  # grpc itself ends the call at the caller's deadline
            await proceed(call)
            return
        try:
            # Half the margin later than the upstream bound: Encord's own timeout, with its details, wins.
            async with asyncio.timeout_at(asyncio.get_running_loop().time() + remaining - margin / 2):
                await proceed(call)
        except TimeoutError:
            raise GatewayError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"the call did not finish within its deadline of {remaining:g} s",
                reason="DEADLINE_EXCEEDED",
            ) from None
