"""The in-process cache backend: entries expire, stay bounded, invalidate by scope, and coalesce misses."""

from __future__ import annotations

import asyncio
import time

import pytest
from encord_gateway.cache import CacheBackend, CacheKey, MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def key(org: str = "a", method: str = "m", credential: str = "c", request: bytes = b"r") -> CacheKey:
    return CacheKey(org, method, credential, request)


def later(seconds: float = 30.0) -> float:
    return time.monotonic() + seconds


def test_the_memory_cache_is_a_cache_backend() -> None:
    backend: CacheBackend = MemoryCache()  # mypy checks the protocol; this pins it at run time too
    assert all(callable(getattr(backend, name)) for name in ("get", "put", "invalidate", "generation", "coalesce"))


async def test_entry_is_served_until_its_ttl_then_expires() -> None:
    clock = Clock()
    cache = MemoryCache(clock=clock)
    await cache.put(key(), b"v", ttl=10, generation=0)
    clock.now = 9.9
    assert await cache.get(key()) == b"v"
    clock.now = 10.0
    assert await cache.get(key()) is None
    assert len(cache) == 0


async def test_entries_of_another_organisation_or_credential_are_never_served() -> None:
    cache = MemoryCache()
    await cache.put(key(org="a", credential="c1"), b"team-a", ttl=60, generation=0)
    assert await cache.get(key(org="b", credential="c1")) is None
    assert await cache.get(key(org="a", credential="c2")) is None


async def test_least_recently_used_entry_goes_first_when_full() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.put(key(request=b"1"), b"1", ttl=60, generation=0)
    await cache.put(key(request=b"2"), b"2", ttl=60, generation=0)
    assert await cache.get(key(request=b"1")) == b"1"  # 1 is now the most recent
    await cache.put(key(request=b"3"), b"3", ttl=60, generation=0)
    assert await cache.get(key(request=b"2")) is None
    assert await cache.get(key(request=b"1")) == b"1"


async def test_invalidation_drops_only_that_organisations_entries_of_that_method() -> None:
    cache = MemoryCache()
    for k in (key(org="a", method="List", request=b"1"), key(org="a", method="List", request=b"2")):
        await cache.put(k, b"x", ttl=60, generation=0)
    await cache.put(key(org="b", method="List"), b"x", ttl=60, generation=0)
    await cache.put(key(org="a", method="Get"), b"x", ttl=60, generation=0)
    assert await cache.invalidate("a", "List") == 2
    assert await cache.get(key(org="b", method="List")) == b"x"
    assert await cache.get(key(org="a", method="Get")) == b"x"


async def test_invalidation_moves_only_its_scopes_generation_on() -> None:
    cache = MemoryCache()
    await cache.invalidate("a", "List")
    assert (await cache.generation("a", "List"), await cache.generation("a", "Get")) == (1, 0)
    assert await cache.generation("b", "List") == 0


async def test_an_answer_fetched_under_an_older_generation_is_not_stored() -> None:
    cache = MemoryCache()
    before = await cache.generation("a", "m")
    await cache.invalidate("a", "m")
    assert await cache.put(key(), b"stale", ttl=60, generation=before) is False
    assert await cache.get(key()) is None
    assert await cache.put(key(), b"fresh", ttl=60, generation=await cache.generation("a", "m")) is True
    assert await cache.get(key()) == b"fresh"


async def test_concurrent_identical_misses_make_one_upstream_call() -> None:
    cache = MemoryCache()
    calls = 0
    release = asyncio.Event()

    async def fetch(deadline: float) -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()
        return b"answer"

    tasks = [asyncio.create_task(cache.coalesce(key(), 0, fetch, later())) for _ in range(20)]
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert {value for value, _ in results} == {b"answer"}
    assert sum(fetched for _, fetched in results) == 1


async def test_a_failed_fetch_fails_every_waiter_and_the_next_call_tries_again() -> None:
    cache = MemoryCache()
    release = asyncio.Event()

    async def failing(deadline: float) -> bytes:
        await release.wait()
        raise RuntimeError("upstream down")

    tasks = [asyncio.create_task(cache.coalesce(key(), 0, failing, later())) for _ in range(3)]
    release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)

    async def working(deadline: float) -> bytes:
        return b"ok"

    assert await cache.coalesce(key(), 0, working, later()) == (b"ok", True)


@pytest.mark.parametrize("ttl", [0.0, -1.0])
async def test_a_non_positive_ttl_is_never_served(ttl: float) -> None:
    cache = MemoryCache()
    assert await cache.put(key(), b"v", ttl=ttl, generation=0) is False
    assert await cache.get(key()) is None
