"""The cache's backend interface: what the engine needs from any store of cached reads (in-process, Redis).

Two promises every backend keeps, whatever it stores in:

- **A fetch belongs to nobody.** Concurrent identical misses share one upstream fetch (`coalesce`) that
  runs as a task of its own, bounded by the deadline of the caller that started it (itself capped by the
  operation's limit). A waiter that is cancelled or times out leaves, the others keep waiting; a waiter
  whose deadline is longer than the fetch's does not inherit it: when the fetch runs out of time, that
  waiter fetches again within its own deadline. A fetch nobody waits for any more still finishes and
  stores its answer (it is a read, and bounded).
- **Invalidation wins.** Each (organisation, method) has a generation that every `invalidate` moves on.
  A read notes the generation before it fetches; `put` refuses to store an answer fetched under an older
  generation, and a miss after an invalidation never joins a fetch that started before it. So once a write
  has returned, no read that was in flight during it can put its stale answer back.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class CacheKey:
    """What decides an upstream answer: who asks (organisation, credential), what, and how."""

    organisation: str
    method: str  # fully qualified RPC name
    credential: str  # credential identity (public), never key material
    request: bytes  # deterministic serialisation of the request message


Fetch = Callable[[float], Coroutine[Any, Any, bytes]]
"""An upstream fetch, given the absolute `time.monotonic()` deadline its wire calls may use."""


class CacheBackend(Protocol):
    """Cached upstream reads by key, with per-(organisation, method) generations and coalesced misses."""

    async def get(self, key: CacheKey) -> bytes | None:
        """The live entry for `key`, or None."""

    async def generation(self, organisation: str, method: str) -> int:
        """The scope's current generation: note it before fetching, hand it to `put` and `coalesce`."""

    async def put(self, key: CacheKey, value: bytes, ttl: float, generation: int) -> bool:
        """Store `value` for `ttl` seconds unless the scope was invalidated since `generation`; True if stored."""

    async def invalidate(self, organisation: str, method: str) -> int:
        """Move the scope's generation on and drop its entries; returns how many entries were dropped."""

    async def coalesce(self, key: CacheKey, generation: int, fetch: Fetch, deadline: float) -> tuple[bytes, bool]:
        """Wait, until `deadline`, for the one fetch of (`key`, `generation`), starting it if none runs.

        Returns (value, whether this call started the fetch that answered). A waiter's cancellation or
        deadline ends only its own wait.
        """
