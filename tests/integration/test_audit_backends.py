"""One audit-trail contract, run against the file log and the PostgreSQL chain every replica shares.

Two writers (two gateway processes on one data directory, or two replicas on one database) keep one chain;
an edited entry, a removed one, and entries cut from the end are each detected; identifiers are HMAC'd.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from encord_gateway.cluster.engines import Engine
from encord_gateway.vault.audit import AuditLog, AuditTrail, hash_identifier
from encord_gateway.vault.audit_postgres import SCHEMA, PostgresAuditLog
from engines import fresh_database


@dataclass
class Backend:
    """Opens writers of one trail, and damages it the way someone with write access to its storage could."""

    open: Callable[[], Awaitable[AuditTrail]]
    edit_entry: Callable[[int], Awaitable[None]]
    drop_last: Callable[[], Awaitable[None]]
    key: bytes


async def close(trail: AuditTrail) -> None:
    if isinstance(trail, PostgresAuditLog):
        await trail.close()
    elif isinstance(trail, AuditLog):
        trail.close()


@pytest.fixture(params=["file", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened: list[AuditTrail] = []
    if request.param == "file":
        path = tmp_path / "audit" / "audit.log"

        async def open_file() -> AuditTrail:
            opened.append(AuditLog(path))
            return opened[-1]

        async def edit_file(seq: int) -> None:
            lines = path.read_bytes().splitlines(keepends=True)
            lines[seq - 1] = lines[seq - 1].replace(b'"outcome":"OK"', b'"outcome":"NO"')
            path.write_bytes(b"".join(lines))

        async def drop_file() -> None:
            path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))

        await open_file()
        key = (path.parent / "audit.log.salt").read_bytes()
        yield Backend(open_file, edit_file, drop_file, key)
    else:
        server: Engine = request.getfixturevalue("postgres_engine")
        dsn = fresh_database(server)
        key = os.urandom(32)

        async def open_database() -> AuditTrail:
            opened.append(await PostgresAuditLog.open(dsn, key))
            return opened[-1]

        async def sql(statement: str, *args: object) -> None:
            connection = await asyncpg.connect(dsn)
            try:
                await connection.execute(statement, *args)
            finally:
                await connection.close()

        async def edit_row(seq: int) -> None:
            await sql(f"UPDATE {SCHEMA}.audit_entries SET line = replace(line, '\"outcome\":\"OK\"',"
                      " '\"outcome\":\"NO\"') WHERE seq = $1", seq)  # fmt: skip

        async def drop_row() -> None:
            await sql(f"DELETE FROM {SCHEMA}.audit_entries WHERE seq = (SELECT max(seq) FROM {SCHEMA}.audit_entries)")

        yield Backend(open_database, edit_row, drop_row, key)
    for trail in opened:
        await close(trail)


def event(n: int, caller: str = "team-a") -> dict[str, object]:
    return {"type": "admin", "caller": caller, "operation": "CreateCaller", "name": f"caller-{n}", "outcome": "OK"}


async def test_events_read_back_in_order_with_identifiers_hashed(backend: Backend) -> None:
    trail = await backend.open()
    for n in range(5):
        await trail.append_async(event(n))
    recent = await trail.recent(3)
    assert [line.entry["seq"] for line in recent if line.entry] == [3, 4, 5]
    last = recent[-1].entry
    assert last is not None
    assert last["event"]["caller"] == hash_identifier(backend.key, "team-a")  # searchable, not readable
    assert last["event"]["name"] == hash_identifier(backend.key, "caller-4")
    assert last["event"]["outcome"] == "OK" and "team-a" not in json.dumps(last)
    assert (await trail.verify()).ok


async def test_two_writers_keep_one_chain(backend: Backend) -> None:
    first, second = await backend.open(), await backend.open()
    await asyncio.gather(*(writer.append_async(event(n)) for n in range(40) for writer in (first, second)))
    check = await first.verify()
    assert check.ok, check
    assert len(await second.recent(1000)) == 80


async def test_an_edited_entry_is_detected_and_named(backend: Backend) -> None:
    trail = await backend.open()
    for n in range(4):
        await trail.append_async(event(n))
    await backend.edit_entry(2)
    check = await trail.verify()
    assert not check.ok and check.line == 2


async def test_entries_cut_from_the_end_are_detected(backend: Backend) -> None:
    trail = await backend.open()
    for n in range(4):
        await trail.append_async(event(n))
    await backend.drop_last()
    check = await trail.verify()
    assert not check.ok
    assert "head" in check.problem


async def test_the_postgres_trail_refuses_a_key_that_is_not_base64_or_too_short() -> None:
    from encord_gateway.vault.audit_postgres import parse_key
    from encord_gateway.vault.errors import VaultError

    with pytest.raises(VaultError, match="base64"):
        parse_key("not base64!")
    with pytest.raises(VaultError, match="at least"):
        parse_key(base64.b64encode(b"short").decode())
    assert parse_key(base64.b64encode(b"k" * 32).decode()) == b"k" * 32
