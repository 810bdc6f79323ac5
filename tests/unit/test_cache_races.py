"""The two races of a shared cache, reproduced with real asyncio tasks ordered by events (no sleeps).

1. The caller whose miss started a coalesced fetch is cancelled, or its deadline is short: the other
   waiters must still get the answer, each within its own deadline (fetching again if need be).
2. A write invalidates a method while a read of it is in flight: the read's stale answer must not be
   stored afterwards, and a read that starts after the write must not share the stale fetch.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from encord_gateway.cache import CacheKey, MemoryCache
from encord_gateway.errors import GatewayError

KEY = CacheKey("acme", "encord.gateway.v1.ProjectService/ListProjects", "cred", b"request")


def later(seconds: float = 30.0) -> float:
    return time.monotonic() + seconds


class Upstream:
    """A fetch that waits until released, or gives up at its deadline as the upstream client does."""

    def __init__(self, answer: bytes = b"answer") -> None:
        self.answer = answer
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.deadlines: list[float] = []

    async def fetch(self, deadline: float) -> bytes:
        self.deadlines.append(deadline)
        self.started.set()
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                await self.release.wait()
        except TimeoutError:
            raise GatewayError(grpc.StatusCode.DEADLINE_EXCEEDED, "no answer", reason="UPSTREAM_TIMEOUT") from None
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return self.answer


async def join(cache: MemoryCache, upstream: Upstream, deadline: float) -> asyncio.Task[tuple[bytes, bool]]:
    """Start a waiter and return once it is registered (coalesce runs up to its first await synchronously)."""
    joined = asyncio.Event()

    async def wait() -> tuple[bytes, bool]:
        joined.set()
        return await cache.coalesce(KEY, 0, upstream.fetch, deadline)

    task = asyncio.create_task(wait())
    await joined.wait()
    return task


# ---- 1. a fetch belongs to nobody ------------------------------------------------------------------------


async def test_cancelling_the_leader_does_not_fail_the_waiters() -> None:
    cache, upstream = MemoryCache(), Upstream()
    leader = await join(cache, upstream, later())
    await upstream.started.wait()
    followers = [await join(cache, upstream, later()) for _ in range(3)]

    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    upstream.release.set()

    assert await asyncio.gather(*followers) == [(b"answer", False)] * 3
    assert len(upstream.deadlines) == 1
    assert not upstream.cancelled.is_set()


async def test_waiters_do_not_inherit_the_leaders_deadline() -> None:
    cache, upstream = MemoryCache(), Upstream()
    leader_deadline, follower_deadline = later(0.05), later()
    leader = await join(cache, upstream, leader_deadline)
    follower = await join(cache, upstream, follower_deadline)

    with pytest.raises(GatewayError) as caught:
        await leader  # the shared fetch gives up at the leader's deadline, and so does the leader ...
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    while len(upstream.deadlines) < 2:  # ... the follower, with time left, fetches again
        upstream.started.clear()
        await upstream.started.wait()
    upstream.release.set()

    assert await follower == (b"answer", True)
    assert upstream.deadlines == [leader_deadline, follower_deadline]


async def test_a_waiter_gives_up_at_its_own_deadline_while_the_fetch_goes_on() -> None:
    cache, upstream = MemoryCache(), Upstream()
    leader = await join(cache, upstream, later())
    impatient = await join(cache, upstream, later(0.02))

    with pytest.raises(GatewayError) as caught:
        await impatient
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    upstream.release.set()
    assert await leader == (b"answer", True)


async def test_a_fetch_whose_callers_all_went_away_still_stores_its_answer() -> None:
    cache, upstream = MemoryCache(), Upstream()
    stored = asyncio.Event()

    async def fetch(deadline: float) -> bytes:
        value = await upstream.fetch(deadline)
        await cache.put(KEY, value, 60, 0)
        stored.set()
        return value

    waiter = asyncio.create_task(cache.coalesce(KEY, 0, fetch, later()))
    await upstream.started.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    upstream.release.set()
    await stored.wait()
    assert await cache.get(KEY) == b"answer"
    assert not upstream.cancelled.is_set()


# ---- 2. invalidation wins ---------------------------------------------------------------------------------


async def read_through(cache: MemoryCache, upstream: Upstream) -> tuple[bytes, bool]:
    """What the engine does on a miss: note the generation, fetch (coalesced), store under that generation."""
    generation = await cache.generation(KEY.organisation, KEY.method)

    async def fetch(deadline: float) -> bytes:
        value = await upstream.fetch(deadline)
        await cache.put(KEY, value, 60, generation)
        return value

    return await cache.coalesce(KEY, generation, fetch, later())


async def test_a_read_in_flight_during_an_invalidation_does_not_store_its_stale_answer() -> None:
    cache, stale = MemoryCache(), Upstream(b"without the new project")
    reader = asyncio.create_task(read_through(cache, stale))
    await stale.started.wait()  # the read has asked Encord ...

    await cache.invalidate(KEY.organisation, KEY.method)  # ... a write lands and invalidates the method ...
    stale.release.set()  # ... then the read's (older) answer arrives

    assert await reader == (b"without the new project", True)  # its own caller still gets it
    assert await cache.get(KEY) is None  # but the next read misses and sees the write


async def test_a_read_after_an_invalidation_does_not_join_a_fetch_that_started_before_it() -> None:
    cache, stale, fresh = MemoryCache(), Upstream(b"old"), Upstream(b"new")
    old_reader = asyncio.create_task(read_through(cache, stale))
    await stale.started.wait()
    await cache.invalidate(KEY.organisation, KEY.method)

    new_reader = asyncio.create_task(read_through(cache, fresh))
    await fresh.started.wait()  # a fetch of its own, not the one in flight
    fresh.release.set()
    stale.release.set()

    assert (await new_reader, await old_reader) == ((b"new", True), (b"old", True))
    assert await cache.get(KEY) == b"new"
