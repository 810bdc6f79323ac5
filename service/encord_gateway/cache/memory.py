"""In-process cache backend: TTL entries under an LRU bound, generations per scope, detached coalesced fetches."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from .backend import CacheKey, Fetch
from .flights import Flights

Scope = tuple[str, str]  # (organisation, method): what one write invalidates


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
        self._flights = Flights()
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

    async def coalesce(self, key: CacheKey, generation: int, fetch: Fetch, deadline: float) -> tuple[bytes, bool]:
        return await self._flights.coalesce(key, generation, fetch, deadline)
