"""Clients of the engines replicas share: Redis (cache, limits) and PostgreSQL (callers, tokens, audit).

Both are made to fail fast rather than retry: a replica that cannot reach Redis serves uncached and
limits locally at once, instead of holding every call while a client library backs off and retries.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)

DEFAULT_REDIS_TIMEOUT = 0.25
"""Seconds a Redis command may take before the caller carries on without Redis (loopback or one zone away)."""

POSTGRES_CONNECT_ATTEMPTS = 20
"""PostgreSQL may still be starting when a replica does (a pod beside its database): retry the first connection."""


def redis_client(url: str, timeout: float = DEFAULT_REDIS_TIMEOUT, *, blocking_reads: bool = False) -> Redis:
    """A Redis client that never retries on its own; `blocking_reads` for a subscriber waiting on messages."""
    return Redis.from_url(
        url,
        socket_timeout=None if blocking_reads else timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_error=[],
        decode_responses=False,
        client_name="encord-gateway",
        health_check_interval=0,
    )


async def postgres_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, wait: float = 5.0) -> Any:
    """An asyncpg pool on `dsn`, retrying the first connection for a few seconds (the database may be starting)."""
    import asyncpg  # imported on use: the embedded defaults never need it

    delay = 0.1
    for attempt in range(POSTGRES_CONNECT_ATTEMPTS):
        try:
            return await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, timeout=wait, command_timeout=wait
            )
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == POSTGRES_CONNECT_ATTEMPTS - 1:
                raise
            log.info("PostgreSQL not reachable yet (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")
