"""The response cache: entries expire, stay bounded, invalidate by scope, and coalesce misses."""

from __future__ import annotations

import asyncio

import pytest
from encord_gateway.cache.memory import CacheKey, ResponseCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def key(org: str = "a", method: str = "m", credential: str = "c", request: bytes = b"r") -> CacheKey:
    return CacheKey(org, method, credential, request)


def test_entry_is_served_until_its_ttl_then_expires() -> None:
    clock = Clock()
    cache = ResponseCache(clock=clock)
    cache.put(key(), b"v", ttl=10)
    clock.now = 9.9
    assert cache.get(key()) == b"v"
    clock.now = 10.0
    assert cache.get(key()) is None
    assert len(cache) == 0


def test_entries_of_another_organisation_or_credential_are_never_served() -> None:
    cache = ResponseCache()
    cache.put(key(org="a", credential="c1"), b"team-a", ttl=60)
    assert cache.get(key(org="b", credential="c1")) is None
    assert cache.get(key(org="a", credential="c2")) is None


def test_least_recently_used_entry_goes_first_when_full() -> None:
    cache = ResponseCache(max_entries=2)
    cache.put(key(request=b"1"), b"1", ttl=60)
    cache.put(key(request=b"2"), b"2", ttl=60)
    assert cache.get(key(request=b"1")) == b"1"  # 1 is now the most recent
    cache.put(key(request=b"3"), b"3", ttl=60)
    assert cache.get(key(request=b"2")) is None
    assert cache.get(key(request=b"1")) == b"1"


def test_invalidation_drops_only_that_organisations_entries_of_that_method() -> None:
    cache = ResponseCache()
    cache.put(key(org="a", method="List", request=b"1"), b"x", ttl=60)
    cache.put(key(org="a", method="List", request=b"2"), b"x", ttl=60)
    cache.put(key(org="b", method="List"), b"x", ttl=60)
    cache.put(key(org="a", method="Get"), b"x", ttl=60)
    assert cache.invalidate("a", "List") == 2
    assert cache.get(key(org="b", method="List")) == b"x"
    assert cache.get(key(org="a", method="Get")) == b"x"


async def test_concurrent_identical_misses_make_one_upstream_call() -> None:
    cache = ResponseCache()
    calls = 0
    release = asyncio.Event()

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()
        return b"answer"

    tasks = [asyncio.create_task(cache.coalesce(key(), fetch)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert {value for value, _ in results} == {b"answer"}
    assert sum(fetched for _, fetched in results) == 1


async def test_a_failed_fetch_fails_every_waiter_and_the_next_call_tries_again() -> None:
    cache = ResponseCache()
    release = asyncio.Event()

    async def failing() -> bytes:
        await release.wait()
        raise RuntimeError("upstream down")

    tasks = [asyncio.create_task(cache.coalesce(key(), failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)

    async def working() -> bytes:
        return b"ok"

    assert await cache.coalesce(key(), working) == (b"ok", True)


@pytest.mark.parametrize("ttl", [0.0, -1.0])
def test_a_non_positive_ttl_is_never_served(ttl: float) -> None:
    cache = ResponseCache()
    cache.put(key(), b"v", ttl=ttl)
    assert cache.get(key()) is None
