"""Coalesced upstream fetches: one detached task per (key, generation), shared by every waiter within its deadline."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc

from ..errors import GatewayError
from .backend import CacheKey, Fetch


@dataclass
class _Flight:
    """One upstream fetch shared by every waiter of (key, generation); runs as a task of its own."""

    task: asyncio.Task[bytes]
    deadline: float  # what its wire calls were given: the deadline of the caller that started it


def _deadline_exceeded() -> GatewayError:
    # The same reason as when the upstream client itself times out: to the caller, Encord did not answer in time,
    # whether it waited on its own call or on another caller's identical one.
    return GatewayError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "the deadline expired while waiting for Encord's answer",
        reason="UPSTREAM_TIMEOUT",
    )


class Flights:
    """The fetches in flight in this process; what `CacheBackend.coalesce` promises, for any backend."""

    def __init__(self) -> None:
        self._flights: dict[tuple[CacheKey, int], _Flight] = {}

    def __len__(self) -> int:
        return len(self._flights)

    async def coalesce(self, key: CacheKey, generation: int, fetch: Fetch, deadline: float) -> tuple[bytes, bool]:
        while True:
            flight = self._flights.get((key, generation))
            started = flight is None
            if flight is None:
                flight = self._start(key, generation, fetch, deadline)
            try:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    return await asyncio.shield(flight.task), started
            except TimeoutError:
                raise _deadline_exceeded() from None
            except GatewayError as error:
                if error.code != grpc.StatusCode.DEADLINE_EXCEEDED or flight.deadline >= deadline:
                    raise
                # The fetch ran out of the time of the caller that started it; this one has more: fetch again.
                if self._flights.get((key, generation)) is flight:
                    del self._flights[(key, generation)]

    def _start(self, key: CacheKey, generation: int, fetch: Fetch, deadline: float) -> _Flight:
        """The fetch runs as a task of its own: no caller's cancellation reaches it; its deadline bounds it."""
        task = asyncio.get_running_loop().create_task(fetch(deadline), name=f"cache fetch {key.method}")
        flight = _Flight(task, deadline)
        self._flights[(key, generation)] = flight

        def finished(done: asyncio.Task[bytes]) -> None:
            if self._flights.get((key, generation)) is flight:
                del self._flights[(key, generation)]
            if not done.cancelled():
                done.exception()  # retrieved by the waiters; marked so a waiter-less failure is not reported

        task.add_done_callback(finished)
        return flight


def _loop_time(deadline: float) -> float:
    """`deadline` (time.monotonic()) on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())
