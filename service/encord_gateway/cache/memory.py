"""In-process cache backend: TTL entries under an LRU bound, generations per scope, detached coalesced fetches."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from ..errors import GatewayError
from .backend import CacheKey, Fetch

Scope = tuple[str, str]  # (organisation, method): what one write invalidates

MAX_FETCH_SECONDS = 60.0
"""How long a coalesced fetch may outlive the deadline of the caller that started it, when later waiters
have longer deadlines. It bounds the deadline given to the fetch's wire calls; each waiter still gives up
at its own deadline."""


@dataclass
class _Flight:
    """One upstream fetch shared by every waiter of (key, generation); runs as a task of its own."""

    task: asyncio.Task[bytes]
    deadline: float  # the longest deadline among its waiters (absolute time.monotonic())
    waiters: int = 0
    timer: asyncio.TimerHandle | None = field(default=None)


def _deadline_exceeded() -> GatewayError:
    return GatewayError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "the deadline expired while waiting for Encord's answer",
        reason="DEADLINE_EXCEEDED",
    )


class MemoryCache:
    """The embedded `CacheBackend`: one process, nothing shared; what `make run` uses."""

    def __init__(
        self,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        max_fetch_seconds: float = MAX_FETCH_SECONDS,
    ) -> None:
        self._entries: OrderedDict[CacheKey, tuple[float, bytes]] = OrderedDict()
        self._by_scope: dict[Scope, set[CacheKey]] = {}
        self._generations: dict[Scope, int] = {}
        self._flights: dict[tuple[CacheKey, int], _Flight] = {}
        self._max_entries = max_entries
        self._clock = clock  # entry expiry (tests move it); deadlines are always time.monotonic()
        self._max_fetch_seconds = max_fetch_seconds

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
        flight = self._flights.get((key, generation))
        started = flight is None
        if flight is None:
            flight = self._start(key, generation, fetch, deadline)
        elif deadline > flight.deadline:
            flight.deadline = deadline  # the timer notices when it fires
        flight.waiters += 1
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                return await asyncio.shield(flight.task), started
        except TimeoutError:
            raise _deadline_exceeded() from None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if flight.task.cancelled() and (current is None or not current.cancelling()):
                raise _deadline_exceeded() from None  # the fetch ran out of time, not this waiter
            raise
        finally:
            flight.waiters -= 1
            if flight.waiters == 0:
                flight.task.cancel()  # nobody waits any more: stop asking Encord

    def _start(self, key: CacheKey, generation: int, fetch: Fetch, deadline: float) -> _Flight:
        upstream_deadline = max(deadline, time.monotonic() + self._max_fetch_seconds)
        task = asyncio.get_running_loop().create_task(fetch(upstream_deadline), name=f"cache fetch {key.method}")
        flight = _Flight(task, deadline)
        self._flights[(key, generation)] = flight

        def finished(done: asyncio.Task[bytes]) -> None:
            if self._flights.get((key, generation)) is flight:
                del self._flights[(key, generation)]
            if flight.timer is not None:
                flight.timer.cancel()
            if not done.cancelled():
                done.exception()  # retrieved by the waiters; marked so a waiter-less failure is not reported

        task.add_done_callback(finished)
        self._arm(flight)
        return flight

    def _arm(self, flight: _Flight) -> None:
        """Cancel the fetch once the longest deadline among its waiters has passed."""

        def expire() -> None:
            if time.monotonic() >= flight.deadline:
                flight.task.cancel()
            else:
                self._arm(flight)  # a later waiter brought a longer deadline

        delay = max(0.0, flight.deadline - time.monotonic())
        flight.timer = asyncio.get_running_loop().call_later(delay, expire)


def _loop_time(deadline: float) -> float:
    """`deadline` (time.monotonic()) on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())
