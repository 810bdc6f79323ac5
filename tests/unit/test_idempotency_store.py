"""The in-process idempotency store keeps to its bounds (ids and bytes of answers) and its window, and never
drops a claim in flight or the answer its waiters are about to read."""

from __future__ import annotations

import asyncio
import hashlib

from encord_gateway.pipeline import MemoryIdempotencyStore

WINDOW = 60.0


def fingerprint(request: str) -> str:
    return hashlib.sha256(request.encode()).hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def answered(store: MemoryIdempotencyStore, key: str, response: bytes) -> None:
    assert (await store.claim(key, fingerprint(key), WINDOW)).first
    await store.complete(key, fingerprint(key), response, WINDOW)


async def remembered(store: MemoryIdempotencyStore, key: str) -> bytes | None:
    claim = await store.claim(key, fingerprint(key), WINDOW)
    if claim.first:
        await store.abandon(key, fingerprint(key))
    return claim.response


async def test_the_oldest_answers_go_first_when_the_bytes_of_answers_exceed_the_bound() -> None:
    store = MemoryIdempotencyStore(max_bytes=250)
    for key in ("a", "b", "c"):
        await answered(store, key, key.encode() * 100)

    assert store.bytes_held == 200
    assert await remembered(store, "a") is None
    assert await remembered(store, "b") == b"b" * 100
    assert await remembered(store, "c") == b"c" * 100


async def test_the_oldest_answers_go_first_when_there_are_too_many_ids() -> None:
    store = MemoryIdempotencyStore(max_entries=2)
    for key in ("a", "b", "c"):
        await answered(store, key, b"answer " + key.encode())

    assert len(store) == 2
    assert await remembered(store, "a") is None
    assert await remembered(store, "c") == b"answer c"


async def test_a_claim_in_flight_is_never_evicted_and_its_waiter_gets_the_answer_even_when_it_is_too_big() -> None:
    store = MemoryIdempotencyStore(max_entries=1, max_bytes=10)
    assert (await store.claim("big", fingerprint("big"), WINDOW)).first
    await answered(store, "other", b"x")  # over the id bound: "other" may go, "big" may not
    waiting = asyncio.create_task(store.claim("big", fingerprint("big"), WINDOW))
    await asyncio.sleep(0)

    await store.complete("big", fingerprint("big"), b"y" * 100, WINDOW)

    assert (await asyncio.wait_for(waiting, 5)).response == b"y" * 100


async def test_an_answer_is_forgotten_after_its_window_and_the_id_runs_again() -> None:
    clock = Clock()
    store = MemoryIdempotencyStore(clock=clock)
    await answered(store, "a", b"first")
    clock.now += WINDOW - 1
    assert await remembered(store, "a") == b"first"
    clock.now += 2

    assert (await store.claim("a", fingerprint("a"), WINDOW)).first
    assert store.bytes_held == 0
