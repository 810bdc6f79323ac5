"""One caller-limits contract, run against the per-process limiter and the Redis-shared one; then what only
the shared one shows: two replicas draw on one budget, and losing Redis never refuses a caller."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from encord_gateway.access.limits import CallerLimiter, Limiter, LimitExceeded, Ticket
from encord_gateway.access.policy import Limits
from encord_gateway.access.shared_limits import RedisLimiter
from encord_gateway.cluster import engines
from encord_gateway.cluster.connections import redis_client
from encord_gateway.cluster.engines import Engine

Factory = Callable[[], Limiter]


@pytest.fixture(params=["local", "redis"])
async def new_limiter(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    clients = []
    if request.param == "local":

        def factory() -> Limiter:
            return CallerLimiter()
    else:
        server: Engine = request.getfixturevalue("redis_engine")
        prefix = "l" + secrets.token_hex(4)

        def factory() -> Limiter:
            clients.append(redis_client(server.url))
            return RedisLimiter(clients[-1], prefix=prefix)

    yield factory
    for client in clients:
        await client.aclose()


async def settle(limiter: Limiter) -> None:
    if isinstance(limiter, RedisLimiter):
        await limiter.settle()


async def test_a_caller_gets_its_burst_at_once_and_then_is_told_when_to_retry(new_limiter: Factory) -> None:
    limiter = new_limiter()
    limits = Limits(requests_per_second=1, burst=3)
    for _ in range(3):
        (await limiter.acquire("team-a", limits)).release()
    with pytest.raises(LimitExceeded) as refused:
        await limiter.acquire("team-a", limits)
    assert refused.value.kind == "rate"
    assert 0 < refused.value.retry_after <= 1.0


async def test_callers_have_budgets_of_their_own(new_limiter: Factory) -> None:
    limiter = new_limiter()
    limits = Limits(requests_per_second=1, burst=1)
    (await limiter.acquire("team-a", limits)).release()
    (await limiter.acquire("team-b", limits)).release()
    with pytest.raises(LimitExceeded):
        await limiter.acquire("team-a", limits)


async def test_calls_in_flight_are_capped_and_a_finished_call_frees_its_slot(new_limiter: Factory) -> None:
    limiter = new_limiter()
    limits = Limits(requests_per_second=1000, burst=1000, max_concurrent=2)
    held: list[Ticket] = [await limiter.acquire("team-a", limits) for _ in range(2)]
    with pytest.raises(LimitExceeded) as refused:
        await limiter.acquire("team-a", limits)
    assert refused.value.kind == "concurrency"
    held.pop().release()
    await settle(limiter)
    held.append(await limiter.acquire("team-a", limits))
    for ticket in held:
        async with ticket:
            pass


# ---- shared through Redis ---------------------------------------------------------------------------------


async def test_two_replicas_draw_on_one_rate_budget(redis_engine: Engine) -> None:
    prefix = "s" + secrets.token_hex(4)
    clients = [redis_client(redis_engine.url), redis_client(redis_engine.url)]
    a, b = (RedisLimiter(client, prefix=prefix) for client in clients)
    limits = Limits(requests_per_second=1, burst=4)
    admitted = 0
    for replica in (a, b, a, b, a, b, a, b):
        try:
            (await replica.acquire("team-a", limits)).release()
            admitted += 1
        except LimitExceeded:
            pass
    assert admitted == 4  # not 4 per replica
    for client in clients:
        await client.aclose()


async def test_two_replicas_share_the_concurrency_cap(redis_engine: Engine) -> None:
    prefix = "c" + secrets.token_hex(4)
    clients = [redis_client(redis_engine.url), redis_client(redis_engine.url)]
    a, b = (RedisLimiter(client, prefix=prefix) for client in clients)
    limits = Limits(requests_per_second=1000, burst=1000, max_concurrent=1)
    held = await a.acquire("team-a", limits)
    with pytest.raises(LimitExceeded):
        await b.acquire("team-a", limits)
    held.release()
    await a.settle()
    (await b.acquire("team-a", limits)).release()
    for client in clients:
        await client.aclose()


async def test_without_redis_each_replica_limits_on_its_own_and_never_refuses_for_that(tmp_path: Path) -> None:
    server = engines.start_redis(tmp_path / "redis")
    client = redis_client(server.url)
    limiter = RedisLimiter(client, prefix="down")
    limits = Limits(requests_per_second=1, burst=2)
    (await limiter.acquire("team-a", limits)).release()
    server.stop()
    (await limiter.acquire("team-a", limits)).release()  # Redis is gone: admitted by the local limiter
    assert not limiter.shared
    (await limiter.acquire("team-a", limits)).release()
    with pytest.raises(LimitExceeded):  # ...which still enforces the caller's limits
        await limiter.acquire("team-a", limits)
    await client.aclose()
