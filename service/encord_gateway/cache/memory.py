"""In-process TTL cache with an LRU bound, invalidation by (organisation, method), and singleflight."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CacheKey:
    """What decides an upstream answer: who asks (organisation, credential), what, and how."""

    organisation: str
    method: str  # fully qualified RPC name
    credential: str  # credential identity (public), never key material
    request: bytes  # deterministic serialisation of the request message


class ResponseCache:
    """Serialised responses by key; entries expire after their TTL or when a write invalidates them."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[CacheKey, tuple[float, bytes]] = OrderedDict()
        self._by_scope: dict[tuple[str, str], set[CacheKey]] = {}
        self._inflight: dict[CacheKey, asyncio.Future[bytes]] = {}
        self._max_entries = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: CacheKey, value: bytes, ttl: float) -> None:
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        self._by_scope.setdefault((key.organisation, key.method), set()).add(key)
        while len(self._entries) > self._max_entries:
            self._drop(next(iter(self._entries)))

    def invalidate(self, organisation: str, method: str) -> int:
        """Drop every entry of `method` for `organisation`; returns how many were dropped."""
        keys = self._by_scope.pop((organisation, method), set())
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

    async def coalesce(self, key: CacheKey, fetch: Callable[[], Awaitable[bytes]]) -> tuple[bytes, bool]:
        """Run `fetch` once for concurrent identical misses; returns (value, whether this call fetched)."""
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending), False
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await fetch()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it, none is also fine
            raise
        else:
            future.set_result(value)
            return value, True
        finally:
            del self._inflight[key]
