"""In-process cache backend: TTL entries under an LRU bound, generations per scope, detached coalesced fetches."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from ..errors import GatewayError
from .backend import CacheKey, Fetch

Scope = tuple[str, str]  # (organisation, method): what one write invalidates


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


class MemoryCache:
    """The embedded `CacheBackend`: one process, nothing shared; what `make run` uses."""

    def __init__(
        self,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[CacheKey, tuple[float, bytes]] = OrderedDict()
        self._by_scope: dict[Scope, set[CacheKey]] = {}
        self._generations: dict[Scope, int] = {}
        self._flights: dict[tuple[CacheKey, int], _Flight] = {}
        self._max_entries = max_entries
        self._clock = clock  # entry expiry (tests move it); deadlines are always time.monotonic()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: CacheKey) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def generation(self, organisation: str, method: str) -> int:
        return self._generations.get((organisation, method), 0)

    async def put(self, key: CacheKey, value: bytes, ttl: float, generation: int) -> bool:
        scope = (key.organisation, key.method)
        if ttl <= 0 or generation != self._generations.get(scope, 0):
            return False  # a write invalidated the scope while this answer was being fetched
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        self._by_scope.setdefault(scope, set()).add(key)
        while len(self._entries) > self._max_entries:
            self._drop(next(iter(self._entries)))
        return True

    async def invalidate(self, organisation: str, method: str) -> int:
        scope = (organisation, method)
        self._generations[scope] = self._generations.get(scope, 0) + 1
        keys = self._by_scope.pop(scope, set())
        for key in keys:
            self._entries.pop(key, None)
        return len(keys)

    def _drop(self, key: CacheKey) -> None:
        self._entries.pop(key, None)
        scope = self._by_scope.get((key.organisation, key.method))
        if scope is not None:
            scope.discard(key)
            if not scope:
                del self._by_scope[(key.organisation, key.method)]

    # ---- coalescing -----------------------------------------------------------------------------

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
