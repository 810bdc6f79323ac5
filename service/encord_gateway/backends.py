"""Which engine keeps each piece of state, chosen by configuration: the embedded defaults or the shared engines.

| state               | embedded (one process; `make run`)   | shared (several replicas)                     |
| ------------------- | ------------------------------------ | --------------------------------------------- |
| credentials         | SQLite vault + key file              | OpenBao KV v2 + Transit (vault/config.py)     |
| callers and tokens  | `<data dir>/access/tokens.db`        | PostgreSQL (access/postgres.py)               |
| audit trail         | `<data dir>/audit/audit.log`         | PostgreSQL, one chain (vault/audit_postgres)  |
| read cache          | in-process                           | Redis + in-process layer (cache/redis.py)     |
| caller limits       | in-process                           | Redis (access/shared_limits.py)               |
| write request ids   | in-process                           | Redis (pipeline/idempotency_redis.py)         |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .access.limits import CallerLimiter, Limiter
from .access.store import AccessStore, EmbeddedAccessStore
from .cache.backend import CacheBackend
from .cache.memory import MemoryCache
from .config import Settings
from .pipeline.idempotency_store import IdempotencyStore, MemoryIdempotencyStore
from .vault import Vault
from .vault.audit import AuditConfig, AuditLog, AuditTrail

if TYPE_CHECKING:  # imported on use: the embedded defaults never need Redis
    from redis.asyncio import Redis


@dataclass
class State:
    """What a gateway process opens before it serves, and closes after."""

    vault: Vault
    access: AccessStore
    audit: AuditTrail
    audit_config: AuditConfig

    async def close(self) -> None:
        await close_audit(self.audit)
        await self.access.close()
        self.vault.close()


async def open_access_store(settings: Settings) -> AccessStore:
    if settings.access_backend == "postgres":
        from .access.postgres import PostgresAccessStore

        return await PostgresAccessStore.open(settings.postgres_dsn)
    return EmbeddedAccessStore.open(settings.data_dir / "access")


async def open_audit_trail(config: AuditConfig) -> AuditTrail:
    if config.backend == "postgres":
        from .vault.audit_postgres import PostgresAuditLog, parse_key

        return await PostgresAuditLog.open(
            config.postgres_dsn, parse_key(config.key), failure_mode=config.failure_mode, write_timeout=config.timeout
        )
    return AuditLog.from_config(config)


async def close_audit(audit: AuditTrail) -> None:
    close = getattr(audit, "close", None)
    if close is not None:
        result = close()
        if hasattr(result, "__await__"):
            await result


async def open_state(settings: Settings) -> State:
    """The vault, the access store and the audit trail, each on the engine the settings name."""
    vault = Vault.open(settings.data_dir / "vault")
    access: AccessStore | None = None
    try:
        access = await open_access_store(settings)
        audit_config = AuditConfig.from_env(settings.data_dir)
        audit = await open_audit_trail(audit_config)
    except BaseException:
        if access is not None:
            await access.close()
        vault.close()
        raise
    return State(vault, access, audit, audit_config)


def build_cache(settings: Settings, on_availability: Callable[[bool], None] | None = None) -> CacheBackend:
    """The read cache (not yet started: a Redis cache subscribes in `start()`)."""
    if settings.cache_backend == "redis":
        from .cache.redis import RedisCache
        from .cluster.connections import redis_client

        return RedisCache(
            _redis(settings),
            redis_client(settings.redis_url, settings.redis_timeout, blocking_reads=True),
            prefix=settings.redis_prefix,
            max_local_entries=settings.cache_max_entries,
            ack_timeout=settings.cache_invalidation_timeout,
            on_availability=on_availability,
        )
    return MemoryCache(settings.cache_max_entries)


def _longest_call(settings: Settings) -> float:
    """Seconds a call may take at most: what a claim made for a call is leased for, so that a replica killed
    mid-call holds it no longer (a limiter's slot, a write's request id)."""
    return settings.default_timeout + 30.0


def _redis(settings: Settings) -> Redis:
    from .cluster.connections import redis_client

    return redis_client(settings.redis_url, settings.redis_timeout)


def build_limiter(settings: Settings) -> Limiter:
    if settings.limits_backend == "redis":
        from .access.shared_limits import RedisLimiter

        return RedisLimiter(_redis(settings), prefix=settings.redis_prefix, lease_seconds=_longest_call(settings))
    return CallerLimiter()


def build_idempotency(settings: Settings) -> IdempotencyStore:
    """Where write request ids are remembered: this process, or Redis for every replica."""
    if settings.idempotency_backend == "redis":
        from .pipeline.idempotency_redis import RedisIdempotencyStore

        return RedisIdempotencyStore(
            _redis(settings), prefix=settings.redis_prefix, lease_seconds=_longest_call(settings)
        )
    return MemoryIdempotencyStore()
