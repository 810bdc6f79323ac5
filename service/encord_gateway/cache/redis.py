"""Shared cache backend: entries and generations in Redis, an in-process layer kept coherent by broadcast.

Every replica reads through two layers. The in-process layer (a `MemoryCache`) answers hits without a
network round trip; Redis holds what any replica fetched, so one replica's miss fills the others' hits.

How the backend's two promises (cache.backend) hold across replicas:

- **Invalidation wins, everywhere.** A scope's generation lives in Redis. `invalidate` moves it on and
  publishes the scope on a channel every replica subscribes to, in one script, so no replica can store
  an answer under the old generation afterwards (`put` is a check-and-set script). Each replica, on the
  message, drops the scope from its in-process layer and acknowledges; `invalidate` returns once every
  replica that was subscribed has acknowledged (bounded by `ack_timeout`). So when a write returns, no
  replica still holds the stale read, and none can put it back: its in-process put is refused when an
  invalidation message arrived since it noted the local generation, its Redis put when the shared
  generation moved.
- **A fetch belongs to nobody.** Coalescing is per replica (`Flights`); replicas do not wait on each
  other's fetches.

Generations start from a random base the first time a scope is seen, so a Redis that restarted empty
never hands out a generation a read in flight noted before the restart.

Without Redis (down, restarting, unreachable), the in-process layer cannot hear invalidations, so it is
not used either: reads go to Encord uncached, writes invalidate locally and remember the scope, and when
the subscription is back (re-established by itself, with backoff) the remembered scopes are invalidated
in Redis before the cache is used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .backend import CacheKey, Fetch
from .flights import Flights
from .memory import MemoryCache

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "egw"
DEFAULT_ACK_TIMEOUT = 1.0
"""Seconds a write waits for every subscribed replica to confirm it dropped the stale entries."""

UNAVAILABLE = -1
"""The generation handed out while Redis is unreachable: `put` never stores under it."""

HEARTBEAT_SECONDS = 1.0
"""How often the subscriber pings Redis; a subscription silent for three of these is treated as broken."""

_GENERATION_BITS = 48

# Keys of one scope share a hash tag ({scope}) so the scripts stay valid on a Redis Cluster.
_PUT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'g', ARGV[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""

_INVALIDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
local generation = redis.call('INCR', KEYS[1])
return {generation, redis.call('PUBLISH', ARGV[2], ARGV[3])}
"""


@dataclass
class _AckWait:
    needed: int
    received: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()


class RedisCache:
    """The shared `CacheBackend`: Redis plus a coherent in-process layer; what replicas use."""

    def __init__(
        self,
        client: Redis,
        subscriber: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_local_entries: int = 10_000,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        on_availability: Callable[[bool], None] | None = None,
    ) -> None:
        self._client = client
        self._subscriber_client = subscriber
        self._prefix = prefix
        self._max_local = max_local_entries
        self._ack_timeout = ack_timeout
        self._on_availability = on_availability
        self._replica = secrets.token_hex(8)
        self._channel = f"{prefix}:invalidate".encode()
        self._ack_channel = f"{prefix}:ack:{self._replica}".encode()
        self._local = MemoryCache(max_local_entries)
        self._flights = Flights()
        self._available = False
        self._missed: set[tuple[str, str]] = set()  # scopes written while Redis was away
        self._acks: dict[str, _AckWait] = {}
        self._put_script = client.register_script(_PUT)
        self._invalidate_script = client.register_script(_INVALIDATE)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.acks_missed = 0
        """Invalidations that returned before every replica confirmed (a replica stuck or slow)."""

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe in the background; the cache works (uncached) until the subscription is up."""
        self._listener = asyncio.create_task(self._listen(), name="cache invalidation subscriber")

    async def wait_available(self, within: float) -> bool:
        """Wait until the subscription is up (tests, start-up); False if it is not within `within` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._subscribed.wait()
        return self._available

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._client.aclose()
        await self._subscriber_client.aclose()

    @property
    def available(self) -> bool:
        """Whether Redis is reachable and this replica hears invalidations (else it serves uncached)."""
        return self._available

    def __len__(self) -> int:
        return len(self._local)

    # --- keys ------------------------------------------------------------------------------------

    def _scope(self, organisation: str, method: str) -> str:
        return _digest(organisation.encode(), method.encode())[:32]

    def _generation_key(self, scope: str) -> str:
        return f"{self._prefix}:{{{scope}}}:gen"

    def _entry_key(self, scope: str, key: CacheKey) -> str:
        return f"{self._prefix}:{{{scope}}}:e:{_digest(key.credential.encode(), key.request)}"

    # --- CacheBackend ----------------------------------------------------------------------------

    async def get(self, key: CacheKey) -> bytes | None:
        if not self._available:
            return None
        local = self._local
        found = await local.get(key)
        if found is not None:
            return found
        # Noted before asking Redis: an invalidation heard meanwhile keeps Redis's answer out of this layer.
        epoch = await local.generation(key.organisation, key.method)
        scope = self._scope(key.organisation, key.method)
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.get(self._generation_key(scope))
            pipe.hmget(self._entry_key(scope, key), "g", "v")
            pipe.pttl(self._entry_key(scope, key))
            current, (stored, value), ttl_ms = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._command_failed("get", exc)
            return None
        if value is None or current is None or stored != current or ttl_ms <= 0:
            return None
        await local.put(key, value, ttl_ms / 1000, epoch)
        return bytes(value)

    async def generation(self, organisation: str, method: str) -> int:
        if not self._available:
            return UNAVAILABLE
        key = self._generation_key(self._scope(organisation, method))
        base = str(secrets.randbits(_GENERATION_BITS))
        try:
            # The first read of a scope gives it a random base (see the module docstring); later ones read it.
            previous = await self._client.set(key, base, nx=True, get=True)
        except (RedisError, OSError) as exc:
            self._command_failed("generation", exc)
            return UNAVAILABLE
        return int(previous if previous is not None else base)

    async def put(self, key: CacheKey, value: bytes, ttl: float, generation: int) -> bool:
        if generation == UNAVAILABLE or ttl <= 0 or not self._available:
            return False
        local = self._local
        epoch = await local.generation(key.organisation, key.method)
        scope = self._scope(key.organisation, key.method)
        try:
            stored = await self._put_script(
                keys=[self._generation_key(scope), self._entry_key(scope, key)],
                args=[str(generation), value, max(1, int(ttl * 1000))],
            )
        except (RedisError, OSError) as exc:
            self._command_failed("put", exc)
            return False
        if not stored:
            return False  # a write on some replica invalidated the scope while this answer was being fetched
        await local.put(key, value, ttl, epoch)
        return True

    async def invalidate(self, organisation: str, method: str) -> int:
        dropped = await self._local.invalidate(organisation, method)
        if not self._available:
            self._missed.add((organisation, method))
            return dropped
        try:
            await self._broadcast(organisation, method)
        except (RedisError, OSError) as exc:
            self._command_failed("invalidate", exc)
            self._missed.add((organisation, method))
        return dropped

    async def coalesce(self, key: CacheKey, generation: int, fetch: Fetch, deadline: float) -> tuple[bytes, bool]:
        return await self._flights.coalesce(key, generation, fetch, deadline)

    # --- broadcast -------------------------------------------------------------------------------

    async def _broadcast(self, organisation: str, method: str, *, confirmed: bool = True) -> None:
        """Move the shared generation on and (if `confirmed`) wait until every subscribed replica dropped the scope."""
        scope = self._scope(organisation, method)
        message_id = secrets.token_hex(8)
        wait = self._acks[message_id] = _AckWait(needed=0)
        message = json.dumps({"origin": self._replica, "id": message_id, "organisation": organisation,
                              "method": method}).encode()  # fmt: skip
        try:
            _, receivers = await self._invalidate_script(
                keys=[self._generation_key(scope)],
                args=[str(secrets.randbits(_GENERATION_BITS)), self._channel, message],
            )
            wait.needed = int(receivers)
            if not confirmed or wait.received >= wait.needed:
                return
            try:
                async with asyncio.timeout(self._ack_timeout):
                    await wait.done.wait()
            except TimeoutError:
                self.acks_missed += 1
                log.warning(
                    "cache invalidation of %s: %d of %d replicas confirmed within %.2f s",
                    method, wait.received, wait.needed, self._ack_timeout,
                )  # fmt: skip
        finally:
            del self._acks[message_id]

    def _acknowledged(self, message_id: str) -> None:
        wait = self._acks.get(message_id)
        if wait is not None:
            wait.received += 1
            if wait.needed and wait.received >= wait.needed:
                wait.done.set()

    async def _heard(self, raw: bytes) -> None:
        """Another replica's (or our own) invalidation: drop the scope here, then confirm to its origin."""
        try:
            message = json.loads(raw)
            organisation, method = str(message["organisation"]), str(message["method"])
            origin, message_id = str(message["origin"]), str(message["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed cache invalidation message")
            return
        await self._local.invalidate(organisation, method)
        try:
            await self._client.publish(f"{self._prefix}:ack:{origin}", message_id)
        except (RedisError, OSError) as exc:
            self._command_failed("acknowledge", exc)

    # --- subscription ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Keep the subscription up; while it is down the cache is not used (see the module docstring)."""
        backoff = 0.05
        while True:
            try:
                await self._subscription()
            except asyncio.CancelledError:
                self._set_available(False)
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if self._available:
                    log.warning("shared cache unavailable (%s); serving uncached until Redis is back", exc)
                self._set_available(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _subscription(self) -> None:
        pubsub = self._subscriber_client.pubsub()
        try:
            await pubsub.subscribe(self._channel, self._ack_channel)
            confirmed = 0
            last_heard = time.monotonic()
            next_ping = last_heard + HEARTBEAT_SECONDS
            handlers: dict[bytes, Callable[[bytes], Awaitable[None]]] = {
                self._channel: self._heard,
                self._ack_channel: self._ack_message,
            }
            while True:
                message: dict[str, Any] | None = await pubsub.get_message(timeout=HEARTBEAT_SECONDS / 2)
                now = time.monotonic()
                if message is not None:
                    last_heard = now
                    kind = message["type"]
                    if kind == b"subscribe" or kind == "subscribe":
                        confirmed += 1
                        if confirmed == 2:
                            await self._subscribed_again()
                    elif kind == b"message" or kind == "message":
                        await handlers[message["channel"]](message["data"])
                elif now - last_heard > 3 * HEARTBEAT_SECONDS:
                    raise TimeoutError("the cache invalidation subscription went silent")
                if now >= next_ping:
                    await pubsub.ping()
                    next_ping = now + HEARTBEAT_SECONDS
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _ack_message(self, raw: bytes) -> None:
        self._acknowledged(raw.decode("ascii", "replace"))

    async def _subscribed_again(self) -> None:
        """Subscribed (again): replay the invalidations Redis missed, then let the cache be used.

        The writes behind them returned long ago, so nobody waits for confirmations (which this very
        subscription would have to deliver)."""
        for organisation, method in sorted(self._missed):
            try:
                await self._broadcast(organisation, method, confirmed=False)
            except (RedisError, OSError) as exc:
                self._command_failed("invalidate", exc)
                return  # the subscription will fail too and come back here
            self._missed.discard((organisation, method))
        self._set_available(True)

    def _set_available(self, available: bool) -> None:
        if available == self._available:
            return
        # Whatever the in-process layer held may have missed invalidations: start it afresh either way.
        self._local = MemoryCache(self._max_local)
        self._available = available
        if available:
            self._subscribed.set()
            log.info("shared cache available")
        else:
            self._subscribed.clear()
        if self._on_availability is not None:
            self._on_availability(available)

    def _command_failed(self, what: str, exc: BaseException) -> None:
        log.debug("shared cache %s failed: %s", what, exc)
