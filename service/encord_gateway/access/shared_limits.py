"""Caller limits shared by every replica: one Redis script per call decides rate and concurrency together.

The rate is a GCRA (the token bucket as one timestamp per caller: the theoretical arrival time of the next
request), on Redis's clock, so replicas with skewed clocks still share one bucket: a caller limited to N
requests per second gets N across the cluster, and `burst` at once after being idle. Concurrency is a
sorted set of the calls in flight, each with a lease that ends at its deadline bound: a replica killed
mid-call cannot hold its caller's slots for longer than that.

Without Redis the replica falls back to its own `CallerLimiter` (each replica then allows the caller's
limits on its own) and tries Redis again a second later: a caller is never refused because Redis is away.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
import time
from types import TracebackType

from redis.asyncio import Redis
from redis.exceptions import RedisError

from encord_gateway.access.limits import CallerLimiter, LimitDefaults, LimitExceeded, Ticket, effective_limits
from encord_gateway.access.policy import Limits

log = logging.getLogger(__name__)

RETRY_REDIS_AFTER_SECONDS = 1.0
"""After Redis failed a call, limits stay local for this long before Redis is asked again."""

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local lease_ms = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {0, -1} end
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - tonumber(ARGV[2]) * interval
if now < allowed_at then return {0, math.ceil(allowed_at - now)} end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
redis.call('ZADD', KEYS[2], now_ms + lease_ms, ARGV[5])
redis.call('PEXPIRE', KEYS[2], lease_ms)
return {1, 0}
"""


class SharedTicket:
    """A call admitted through Redis: leaving gives its slot back (in the background: nothing waits on it)."""

    __slots__ = ("_key", "_limiter", "_member", "_released")

    def __init__(self, limiter: RedisLimiter, key: str, member: str) -> None:
        self._limiter = limiter
        self._key = key
        self._member = member
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._release(self._key, self._member)

    async def __aenter__(self) -> SharedTicket:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class RedisLimiter:
    """The `Limiter` of replicas sharing Redis; falls back to a local `CallerLimiter` while Redis is away."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "egw",
        lease_seconds: float = 60.0,
        defaults: LimitDefaults | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self._defaults = defaults or LimitDefaults()
        self._local = CallerLimiter(self._defaults)
        self._admit = client.register_script(_ADMIT)
        self._members = itertools.count()
        self._replica = secrets.token_hex(6)
        self._local_until = 0.0
        self._releases: set[asyncio.Task[None]] = set()

    @property
    def shared(self) -> bool:
        """False while limits are enforced by this replica alone (Redis failed less than a second ago)."""
        return time.monotonic() >= self._local_until

    async def acquire(self, caller: str, limits: Limits) -> Ticket:
        if not self.shared:
            return self._local.admit(caller, limits)
        effective = effective_limits(limits, self._defaults)
        digest = hashlib.sha256(caller.encode("utf-8")).hexdigest()[:32]
        rate_key = f"{self._prefix}:lim:{{{digest}}}:rate"
        flight_key = f"{self._prefix}:lim:{{{digest}}}:flight"
        member = f"{self._replica}:{next(self._members)}"
        interval_us = 1_000_000 / effective.requests_per_second
        try:
            admitted, wait_us = await self._admit(
                keys=[rate_key, flight_key],
                args=[f"{interval_us:.3f}", effective.burst, effective.max_concurrent, self._lease_ms, member],
            )
        except (RedisError, OSError) as exc:
            log.warning("shared caller limits unavailable (%s); limiting per replica for a while", exc)
            self._local_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
            return self._local.admit(caller, limits)
        if not admitted:
            if int(wait_us) < 0:
                raise LimitExceeded("concurrency", self._defaults.concurrency_retry_after)
            raise LimitExceeded("rate", int(wait_us) / 1_000_000)
        return SharedTicket(self, flight_key, member)

    def _release(self, key: str, member: str) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self._forget(key, member))
        except RuntimeError:
            return  # no loop (shutting down): the lease ends by itself
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _forget(self, key: str, member: str) -> None:
        try:
            await self._client.zrem(key, member)
        except (RedisError, OSError) as exc:
            log.debug("could not give a concurrency slot back (its lease ends by itself): %s", exc)

    async def settle(self) -> None:
        """Wait until every slot given back so far is back in Redis (tests; shutdown)."""
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)

    async def close(self) -> None:
        await self.settle()
        await self._client.aclose()
