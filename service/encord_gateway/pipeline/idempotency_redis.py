"""Idempotent writes remembered in Redis, so that a write retried on another replica is still answered once.

Each (caller, request id) is one Redis string: `P<fingerprint>` while the first call is in flight (leased,
so that a replica killed mid-call holds the id for at most the lease), then `A<fingerprint><answer>` for
the window. Claiming, completing and abandoning are each one script, so two replicas never both run a
write. A repeat that finds the id in flight elsewhere polls it (backing off to a quarter second) until
it is answered or abandoned; its own deadline bounds the wait.

Without Redis the replica falls back to its own in-process store, as the shared caller limits do, and
asks Redis again a second later: a write is never refused because Redis is away, and a retry that lands
on the same replica is still answered once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .idempotency_store import Claim, MemoryIdempotencyStore

log = logging.getLogger(__name__)

FINGERPRINT_LENGTH = 64
"""A fingerprint is a SHA-256 in hex (pipeline/idempotency.py)."""
RETRY_REDIS_AFTER_SECONDS = 1.0
"""After Redis failed, ids are remembered by this replica alone for this long before Redis is asked again."""
FIRST_POLL_SECONDS = 0.01
LONGEST_POLL_SECONDS = 0.25

_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], 'P' .. ARGV[1], 'PX', ARGV[2])
return false
"""

_COMPLETE = """
if redis.call('GET', KEYS[1]) == 'P' .. ARGV[1] then
  redis.call('SET', KEYS[1], 'A' .. ARGV[1] .. ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""

_ABANDON = """
if redis.call('GET', KEYS[1]) == 'P' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisIdempotencyStore:
    """The `IdempotencyStore` of replicas sharing Redis; falls back to an in-process one while Redis is away."""

    def __init__(self, client: Redis, *, prefix: str = "egw", lease_seconds: float = 120.0) -> None:
        self._client = client
        self._prefix = prefix
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self._claim = client.register_script(_CLAIM)
        self._complete = client.register_script(_COMPLETE)
        self._abandon = client.register_script(_ABANDON)
        self._local = MemoryIdempotencyStore()
        self._claimed_locally: set[str] = set()
        self._local_until = 0.0

    @property
    def shared(self) -> bool:
        """False while ids are remembered by this replica alone (Redis failed less than a second ago)."""
        return time.monotonic() >= self._local_until

    def _key(self, key: str) -> str:
        return f"{self._prefix}:idem:{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}"

    def _away(self, what: str, exc: BaseException) -> None:
        log.warning("idempotent writes: Redis unavailable to %s (%s); remembering ids per replica for a while", what,
                    type(exc).__name__)  # fmt: skip
        self._local_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS

    async def _claim_locally(self, key: str, fingerprint: str, window: float) -> Claim:
        claim = await self._local.claim(key, fingerprint, window)
        if claim.first:
            self._claimed_locally.add(key)
        return claim

    async def claim(self, key: str, fingerprint: str, window: float) -> Claim:
        assert len(fingerprint) == FINGERPRINT_LENGTH
        wait = FIRST_POLL_SECONDS
        while True:
            if not self.shared:
                return await self._claim_locally(key, fingerprint, window)
            try:
                held = await self._claim(keys=[self._key(key)], args=[fingerprint, self._lease_ms])
            except (RedisError, OSError) as exc:
                self._away("claim a request id", exc)
                continue
            if held is None:
                return Claim(first=True)
            state, held_fingerprint = held[:1], held[1 : 1 + FINGERPRINT_LENGTH].decode("ascii", "replace")
            if held_fingerprint != fingerprint:
                return Claim(conflict=True)
            if state == b"A":
                return Claim(response=bytes(held[1 + FINGERPRINT_LENGTH :]))
            await asyncio.sleep(wait)  # in flight on a replica: its outcome decides what this call gets
            wait = min(wait * 2, LONGEST_POLL_SECONDS)

    async def complete(self, key: str, fingerprint: str, response: bytes, window: float) -> None:
        if key in self._claimed_locally:
            self._claimed_locally.discard(key)
            await self._local.complete(key, fingerprint, response, window)
            return
        try:
            await self._complete(keys=[self._key(key)], args=[fingerprint, response, max(1, int(window * 1000))])
        except (RedisError, OSError) as exc:
            # The write was made; a repeat finds the id in flight until its lease ends, then runs again.
            self._away("remember an answer", exc)

    async def abandon(self, key: str, fingerprint: str) -> None:
        if key in self._claimed_locally:
            self._claimed_locally.discard(key)
            await self._local.abandon(key, fingerprint)
            return
        try:
            await self._abandon(keys=[self._key(key)], args=[fingerprint])
        except (RedisError, OSError) as exc:
            self._away("forget a failed write", exc)

    async def close(self) -> None:
        await self._client.aclose()
