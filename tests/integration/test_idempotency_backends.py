"""One idempotency-store contract, run against the in-process store and the Redis-shared one; then what only
the shared one shows: two replicas agree on a request id, and losing Redis never refuses a write."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from encord_gateway.cluster import engines
from encord_gateway.cluster.connections import redis_client
from encord_gateway.cluster.engines import Engine
from encord_gateway.pipeline import IdempotencyStore, MemoryIdempotencyStore
from encord_gateway.pipeline.idempotency_redis import RedisIdempotencyStore
from redis.asyncio import Redis

Factory = Callable[[], IdempotencyStore]
WINDOW = 60.0


def fingerprint(request: str) -> str:
    return hashlib.sha256(request.encode()).hexdigest()


@pytest.fixture(params=["memory", "redis"])
async def new_store(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    clients: list[Redis] = []
    if request.param == "memory":
        shared = MemoryIdempotencyStore()  # one process: every "replica" is the same store

        def factory() -> IdempotencyStore:
            return shared
    else:
        server: Engine = request.getfixturevalue("redis_engine")
        prefix = "i" + secrets.token_hex(4)

        def factory() -> IdempotencyStore:
            clients.append(redis_client(server.url))
            return RedisIdempotencyStore(clients[-1], prefix=prefix)

    yield factory
    for client in clients:
        await client.aclose()


def key() -> str:
    return f"svc-a\n{secrets.token_hex(8)}"


async def test_the_first_call_runs_and_a_repeat_gets_its_answer(new_store: Factory) -> None:
    store, id_ = new_store(), key()
    first = await store.claim(id_, fingerprint("create Cars"), WINDOW)
    assert first.first and first.response is None and not first.conflict
    await store.complete(id_, fingerprint("create Cars"), b"\x0a\x03abc", WINDOW)

    again = await store.claim(id_, fingerprint("create Cars"), WINDOW)

    assert (again.first, again.response, again.conflict) == (False, b"\x0a\x03abc", False)


async def test_the_same_id_for_another_request_is_a_conflict_in_flight_and_after(new_store: Factory) -> None:
    store, id_ = new_store(), key()
    assert (await store.claim(id_, fingerprint("create Cars"), WINDOW)).first
    assert (await store.claim(id_, fingerprint("create Bikes"), WINDOW)).conflict
    await store.complete(id_, fingerprint("create Cars"), b"answer", WINDOW)
    assert (await store.claim(id_, fingerprint("create Bikes"), WINDOW)).conflict


async def test_a_repeat_while_the_first_is_in_flight_waits_for_its_answer(new_store: Factory) -> None:
    first_replica, second_replica, id_ = new_store(), new_store(), key()
    assert (await first_replica.claim(id_, fingerprint("create"), WINDOW)).first

    waiting = asyncio.create_task(second_replica.claim(id_, fingerprint("create"), WINDOW))
    await asyncio.sleep(0)  # let it find the id in flight
    assert not waiting.done()
    await first_replica.complete(id_, fingerprint("create"), b"answer", WINDOW)

    assert (await asyncio.wait_for(waiting, 10)).response == b"answer"


async def test_a_failed_first_call_is_forgotten_so_that_the_waiting_repeat_runs_it(new_store: Factory) -> None:
    first_replica, second_replica, id_ = new_store(), new_store(), key()
    assert (await first_replica.claim(id_, fingerprint("create"), WINDOW)).first
    waiting = asyncio.create_task(second_replica.claim(id_, fingerprint("create"), WINDOW))
    await asyncio.sleep(0)

    await first_replica.abandon(id_, fingerprint("create"))

    assert (await asyncio.wait_for(waiting, 10)).first


async def test_only_the_claimant_completes_an_id(new_store: Factory) -> None:
    store, id_ = new_store(), key()
    assert (await store.claim(id_, fingerprint("create"), WINDOW)).first
    await store.complete(id_, fingerprint("another"), b"forged", WINDOW)  # not the claim's request: ignored
    await store.complete(id_, fingerprint("create"), b"answer", WINDOW)
    assert (await store.claim(id_, fingerprint("create"), WINDOW)).response == b"answer"


async def test_without_redis_a_replica_remembers_ids_itself_and_never_refuses_a_write(tmp_path: Path) -> None:
    server = engines.start_redis(tmp_path / "redis")
    store = RedisIdempotencyStore(redis_client(server.url), prefix="down")
    try:
        shared_id = key()
        assert (await store.claim(shared_id, fingerprint("create"), WINDOW)).first
        assert store.shared
        server.stop()
        await store.complete(shared_id, fingerprint("create"), b"answer", WINDOW)  # lost with Redis: no error

        id_ = key()
        assert (await store.claim(id_, fingerprint("create"), WINDOW)).first  # Redis is gone: claimed here
        assert not store.shared
        await store.complete(id_, fingerprint("create"), b"answer", WINDOW)
        assert (await store.claim(id_, fingerprint("create"), WINDOW)).response == b"answer"
        assert (await store.claim(id_, fingerprint("another"), WINDOW)).conflict
    finally:
        await store.close()
