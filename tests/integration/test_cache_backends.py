"""One cache contract, run against the in-process backend and the shared Redis backend; then what only
replicas sharing Redis can show: a write on one invalidates the other's reads at once, and the cache
survives Redis going away and coming back by itself.

Two `RedisCache` objects with their own connections stand for two replicas (the cluster tests do the
same with real gateway processes behind Envoy).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from encord_gateway.cache import CacheBackend, CacheKey, MemoryCache
from encord_gateway.cache.redis import UNAVAILABLE, RedisCache
from encord_gateway.cluster import engines
from encord_gateway.cluster.connections import redis_client
from encord_gateway.cluster.engines import Engine

METHOD = "encord.gateway.v1.ProjectService/GetProject"
OTHER_METHOD = "encord.gateway.v1.ProjectService/ListProjects"
AVAILABLE_WITHIN = 10.0


def key(request: bytes = b"project-1", organisation: str = "acme", method: str = METHOD) -> CacheKey:
    return CacheKey(organisation, method, "sshkey_01", request)


def later(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


async def shared_cache(url: str, prefix: str) -> RedisCache:
    cache = RedisCache(redis_client(url), redis_client(url, blocking_reads=True), prefix=prefix)
    await cache.start()
    assert await cache.wait_available(AVAILABLE_WITHIN), "the cache did not subscribe to Redis"
    return cache


Factory = Callable[[], Awaitable[CacheBackend]]


@pytest.fixture(params=["memory", "redis"])
async def new_cache(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Opens caches of one backend; each Redis-backed test gets its own key prefix."""
    made: list[RedisCache] = []
    if request.param == "memory":

        async def factory() -> CacheBackend:
            return MemoryCache()
    else:
        server: Engine = request.getfixturevalue("redis_engine")
        prefix = "t" + secrets.token_hex(4)

        async def factory() -> CacheBackend:
            made.append(await shared_cache(server.url, prefix))
            return made[-1]

    yield factory
    for cache in made:
        await cache.close()


# ---- the contract ---------------------------------------------------------------------------------------


async def test_a_stored_answer_is_served_until_its_scope_is_invalidated(new_cache: Factory) -> None:
    cache = await new_cache()
    generation = await cache.generation("acme", METHOD)
    assert await cache.put(key(), b"answer", 60, generation)
    assert await cache.get(key()) == b"answer"
    assert await cache.invalidate("acme", METHOD) >= 0
    assert await cache.get(key()) is None


async def test_an_answer_fetched_before_an_invalidation_is_refused(new_cache: Factory) -> None:
    cache = await new_cache()
    generation = await cache.generation("acme", METHOD)
    await cache.invalidate("acme", METHOD)
    assert not await cache.put(key(), b"stale", 60, generation)
    assert await cache.get(key()) is None


async def test_invalidation_touches_only_its_organisation_and_method(new_cache: Factory) -> None:
    cache = await new_cache()
    kept = [key(organisation="globex"), key(method=OTHER_METHOD)]
    for each in [key(), *kept]:
        assert await cache.put(each, b"v", 60, await cache.generation(each.organisation, each.method))
    await cache.invalidate("acme", METHOD)
    assert await cache.get(key()) is None
    assert [await cache.get(each) for each in kept] == [b"v", b"v"]


async def test_credentials_and_requests_never_share_an_entry(new_cache: Factory) -> None:
    cache = await new_cache()
    generation = await cache.generation("acme", METHOD)
    await cache.put(key(), b"mine", 60, generation)
    assert await cache.get(CacheKey("acme", METHOD, "another_credential", b"project-1")) is None
    assert await cache.get(key(b"project-2")) is None


async def test_concurrent_misses_share_one_fetch(new_cache: Factory) -> None:
    cache = await new_cache()
    calls: list[float] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def fetch(deadline: float) -> bytes:
        calls.append(deadline)
        started.set()
        await release.wait()
        return b"answer"

    waiters = [asyncio.create_task(cache.coalesce(key(), 7, fetch, later())) for _ in range(5)]
    await started.wait()
    release.set()
    results = await asyncio.gather(*waiters)
    assert sorted(started for _, started in results) == [False] * 4 + [True]
    assert {value for value, _ in results} == {b"answer"}
    assert len(calls) == 1


# ---- replicas sharing Redis -----------------------------------------------------------------------------


@pytest.fixture
async def replicas(redis_engine: Engine) -> AsyncIterator[tuple[RedisCache, RedisCache]]:
    prefix = "r" + secrets.token_hex(4)
    first, second = await shared_cache(redis_engine.url, prefix), await shared_cache(redis_engine.url, prefix)
    yield first, second
    await first.close()
    await second.close()


async def test_one_replicas_fetch_is_the_others_hit(replicas: tuple[RedisCache, RedisCache]) -> None:
    a, b = replicas
    assert await a.put(key(), b"answer", 60, await a.generation("acme", METHOD))
    assert await b.get(key()) == b"answer"


async def test_a_write_on_one_replica_drops_the_others_in_process_entry_before_it_returns(
    replicas: tuple[RedisCache, RedisCache],
) -> None:
    a, b = replicas
    await a.put(key(), b"before the write", 60, await a.generation("acme", METHOD))
    assert await b.get(key()) == b"before the write"  # now held in b's in-process layer too
    assert len(b) == 1

    await a.invalidate("acme", METHOD)

    # No waiting: when a's invalidate returned, b had already dropped the entry and confirmed it.
    assert len(b) == 0
    assert await b.get(key()) is None


async def test_a_read_in_flight_on_one_replica_during_a_write_on_the_other_is_not_stored(
    replicas: tuple[RedisCache, RedisCache],
) -> None:
    a, b = replicas
    noted = await b.generation("acme", METHOD)  # b's read starts fetching from Encord...
    await a.invalidate("acme", METHOD)  # ...a write on a returns meanwhile...
    assert not await b.put(key(), b"stale", 60, noted)  # ...so b's answer is refused, in Redis and in-process
    assert await b.get(key()) is None
    assert await a.get(key()) is None


async def test_generations_start_from_a_random_base_so_a_restarted_redis_cannot_repeat_one(
    replicas: tuple[RedisCache, RedisCache],
) -> None:
    a, _ = replicas
    generations = {await a.generation("acme", f"{METHOD}/{n}") for n in range(8)}
    assert len(generations) == 8
    assert UNAVAILABLE not in generations


async def test_without_redis_the_cache_serves_uncached_and_recovers_by_itself(tmp_path: Path) -> None:
    server = engines.start_redis(tmp_path / "redis")
    a = b = None
    try:
        a, b = await shared_cache(server.url, "x"), await shared_cache(server.url, "x")
        await a.put(key(), b"answer", 60, await a.generation("acme", METHOD))
        assert await b.get(key()) == b"answer"

        server.stop()
        # Each notices on its own; until then nothing is asked of it. Then: no entry, no generation, no error.
        assert await _until(lambda: not a.available and not b.available)
        assert await b.get(key()) is None
        assert await a.generation("acme", METHOD) == UNAVAILABLE
        assert not await a.put(key(), b"x", 60, UNAVAILABLE)
        await a.invalidate("acme", METHOD)  # a write while Redis is away: remembered, replayed later

        server = engines.start_redis(tmp_path / "redis", port=server.port)
        assert await a.wait_available(AVAILABLE_WITHIN) and await b.wait_available(AVAILABLE_WITHIN)
        generation = await a.generation("acme", METHOD)
        assert await a.put(key(), b"fresh", 60, generation)
        assert await b.get(key()) == b"fresh"
    finally:
        for cache in (a, b):
            if cache is not None:
                await cache.close()
        server.stop()


async def _until(condition: Callable[[], bool], within: float = AVAILABLE_WITHIN) -> bool:
    """Yield to the loop until `condition` holds (the subscribers run on it), at most `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
