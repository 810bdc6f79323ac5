"""The audit trail every replica shares: one hash chain in PostgreSQL, anchored by a MACed head row.

Entries are the file log's lines (vault/audit.py), byte for byte: `{"seq", "time", "event", "prev", "hash"}`
with identifiers HMAC'd and `hash` an HMAC over the rest, so the same reader and the same checks apply.
Replicas append in batches (group commit); each batch locks the head row, chains onto it, inserts its
entries and moves the head, in one transaction. So the replicas keep one chain, not one each, and a
batch is either wholly in it or not at all.

The key that HMACs identifiers and the chain comes from outside the database (`ENCORD_GATEWAY_AUDIT_KEY`,
base64; a Kubernetes Secret), so that whoever can write the database cannot re-chain an edited entry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from encord_gateway.cluster.connections import postgres_pool
from encord_gateway.vault.audit import (
    FAILURE_BLOCK,
    FAILURE_CONTINUE,
    GENESIS,
    AuditLine,
    ChainCheck,
    _canonical,
    _chain_hash,
    _head_mac,
    _parse_line,
    _subkey,
    hash_fields,
    hash_identifier,
)
from encord_gateway.vault.errors import AuditError, InvalidArgumentError, VaultError

log = logging.getLogger(__name__)

SCHEMA = "encord_gateway"
MIN_KEY_BYTES = 16
_BATCH_LIMIT = 512
_QUEUE_LIMIT = 10_000
_SCHEMA_LOCK = 0x656777_0002

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.audit_entries (seq BIGINT PRIMARY KEY, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {SCHEMA}.audit_head (
    id INT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL);
"""


def parse_key(text: str) -> bytes:
    """The audit key from its base64 text; refuses one too short to key an HMAC safely."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError("ENCORD_GATEWAY_AUDIT_KEY must be base64 (e.g. `openssl rand -base64 32`)") from None
    if len(key) < MIN_KEY_BYTES:
        raise VaultError(f"ENCORD_GATEWAY_AUDIT_KEY must hold at least {MIN_KEY_BYTES} bytes")
    return key


@dataclass
class _Pending:
    event: dict[str, Any]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class PostgresAuditLog:
    """Appends audit events to the shared chain from one writer task per replica (see the module docstring)."""

    def __init__(self, pool: Any, key: bytes, *, failure_mode: str = FAILURE_BLOCK, timeout: float = 2.0) -> None:
        if failure_mode not in (FAILURE_BLOCK, FAILURE_CONTINUE):
            raise InvalidArgumentError(f"audit failure mode must be {FAILURE_BLOCK!r} or {FAILURE_CONTINUE!r}")
        self._pool = pool
        self._salt = key
        self._chain_key = _subkey(key, b"chain")
        self._head_key = _subkey(key, b"head")
        self.failure_mode = failure_mode
        self.timeout = timeout
        self._failures = 0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(_QUEUE_LIMIT)
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(
        cls, dsn: str, key: bytes, *, failure_mode: str = FAILURE_BLOCK, write_timeout: float = 2.0
    ) -> PostgresAuditLog:
        """Connect, create the tables on first use (genesis head), start the writer."""
        import asyncpg

        try:
            pool = await postgres_pool(dsn, max_size=4)
        except (OSError, asyncpg.PostgresError) as exc:
            raise VaultError(f"cannot reach the audit database: {exc}") from None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await conn.execute(_DDL)
                await conn.execute(
                    f"INSERT INTO {SCHEMA}.audit_head (id, seq, hash, mac) VALUES (1, 0, $1, $2)"
                    " ON CONFLICT (id) DO NOTHING",
                    GENESIS, _head_mac(_subkey(key, b"head"), 0, GENESIS),
                )  # fmt: skip
        except BaseException:
            await pool.close()
            raise
        trail = cls(pool, key, failure_mode=failure_mode, timeout=write_timeout)
        trail._writer = asyncio.create_task(trail._run(), name="audit writer (PostgreSQL)")
        return trail

    @property
    def failures(self) -> int:
        return self._failures

    def hash_value(self, value: str) -> str:
        return hash_identifier(self._salt, value)

    # --- appending ---------------------------------------------------------------------------------

    async def append_async(self, event: Mapping[str, Any]) -> None:
        """Write one event (identifiers hashed); waits at most `timeout` seconds for its transaction."""
        if self._closed:
            self._fail("the audit log is closed")
            return
        pending = _Pending(hash_fields(self._salt, event))
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            self._fail("the audit queue is full: the audit database is not being written")
            return
        try:
            await asyncio.wait_for(asyncio.shield(pending.done), self.timeout)
        except TimeoutError:
            self._fail(f"writing to the audit database did not complete within {self.timeout:g} s")
        except AuditError as exc:
            self._fail(str(exc))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _BATCH_LIMIT and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as exc:  # the database failed: every waiter of this batch hears why
                message = f"cannot write the audit database ({type(exc).__name__}: {exc})"
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(AuditError(message))
                        pending.done.exception()  # a waiter that timed out no longer retrieves it
                continue
            finally:
                for _ in batch:
                    self._queue.task_done()
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_result(None)

    async def _write(self, batch: list[_Pending]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            head = await conn.fetchrow(f"SELECT seq, hash FROM {SCHEMA}.audit_head WHERE id = 1 FOR UPDATE")
            seq, prev = int(head["seq"]), str(head["hash"])
            rows = []
            for pending in batch:
                seq += 1
                entry = {"seq": seq, "time": datetime.now(UTC).isoformat(), "event": pending.event, "prev": prev}
                prev = _chain_hash(self._chain_key, entry)
                rows.append((seq, _canonical({**entry, "hash": prev}).decode("utf-8")))
            await conn.executemany(f"INSERT INTO {SCHEMA}.audit_entries (seq, line) VALUES ($1, $2)", rows)
            await conn.execute(
                f"UPDATE {SCHEMA}.audit_head SET seq = $1, hash = $2, mac = $3 WHERE id = 1",
                seq, prev, _head_mac(self._head_key, seq, prev),
            )  # fmt: skip

    def _fail(self, message: str) -> None:
        if self.failure_mode == FAILURE_BLOCK:
            raise AuditError(f"audit event not recorded: {message}")
        self._failures += 1
        log.warning("audit event not recorded (continuing): %s", message)

    # --- reading and checking ----------------------------------------------------------------------

    async def recent(self, limit: int) -> list[AuditLine]:
        """The last `limit` entries, oldest first; a damaged one is reported in its place, never fatal."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT seq, line FROM {SCHEMA}.audit_entries ORDER BY seq DESC LIMIT $1", limit)
        return [_parse_line(int(row["seq"]), (str(row["line"]) + "\n").encode()) for row in reversed(rows)]

    async def verify(self) -> ChainCheck:
        """Every entry chains onto the one before and the chain reaches its MACed head (`line` = seq)."""
        prev, seq = GENESIS, 0
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            head = await conn.fetchrow(f"SELECT seq, hash, mac FROM {SCHEMA}.audit_head WHERE id = 1")
            async for row in conn.cursor(f"SELECT seq, line FROM {SCHEMA}.audit_entries ORDER BY seq"):
                number = int(row["seq"])
                try:
                    entry = json.loads(row["line"])
                    claimed = entry.pop("hash")
                    ok = (
                        number == seq + 1
                        and entry.get("seq") == number
                        and entry.get("prev") == prev
                        and hmac.compare_digest(str(claimed), _chain_hash(self._chain_key, entry))
                    )
                except (ValueError, KeyError, TypeError, AttributeError):
                    ok = False
                if not ok:
                    return ChainCheck(False, number, "edited, removed, reordered or inserted entry")
                prev, seq = str(claimed), number
        if head is None:
            return ChainCheck(False, None, "the chain's head row is missing")
        head_seq, head_hash = int(head["seq"]), str(head["hash"])
        if not hmac.compare_digest(str(head["mac"]), _head_mac(self._head_key, head_seq, head_hash)):
            return ChainCheck(False, None, "the head does not carry a valid MAC (edited, or another key)")
        if head_seq > seq:
            return ChainCheck(False, seq + 1, f"the chain ends at entry {seq} but its head records entry {head_seq}")
        if head_seq != seq or head_hash != prev:
            return ChainCheck(False, None, f"entry {head_seq} is not the one the head records")
        return ChainCheck(True)

    async def close(self) -> None:
        """Let queued events reach the database (within `timeout`), then stop."""
        self._closed = True
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await self._queue.join()
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresAuditLog(failure_mode={self.failure_mode!r})"
