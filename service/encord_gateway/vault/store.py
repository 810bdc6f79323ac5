"""Vault storage: the small backend interface, and its embedded SQLite implementation."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from encord_gateway.vault.barrier import RecordIdentity
from encord_gateway.vault.errors import StoreConflictError, VaultError
from encord_gateway.vault.files import check_private_file, ensure_private_file

SCHEMA_VERSION = 2
"""1: keyring and records; 2: adds `meta` (clear-text vault state such as the encryption counter)."""


@dataclass(frozen=True)
class StoredRecord:
    """One credential as a backend holds it: public metadata in the clear, the secret as barrier output."""

    kind: str
    organisation: str
    id: str
    version: int
    metadata: Mapping[str, Any]
    ciphertext: bytes = field(repr=False)

    @property
    def identity(self) -> RecordIdentity:
        return RecordIdentity(self.kind, self.organisation, self.id, self.version)


class Backend(Protocol):
    """What the vault needs from storage; SQLite and OpenBao KV v2 implement it, one contract suite
    (tests/integration/test_vault_backends.py) holds both to it.

    Record versions are the vault's: a record's version is part of its associated data, and every
    rewrite of a record stores version n + 1 with `cas=n`.
    """

    @property
    def name(self) -> str:
        """Short backend name for status output ("sqlite", "openbao-kv")."""
        ...

    @property
    def description(self) -> str:
        """Where the data lives (a path or a URL and mount), never a credential."""
        ...

    def get_keyring(self) -> bytes | None:
        """The KEK-wrapped keyring, or None before the vault is initialised."""
        ...

    def create_keyring(self, wrapped: bytes) -> bytes:
        """Store the first keyring unless one exists; return whichever is stored (first opener wins)."""
        ...

    def put_keyring(self, wrapped: bytes, *, previous: bytes | None = None) -> None:
        """Replace the keyring (after rotation); durable before it returns.

        With `previous`, only if the stored keyring is still exactly those bytes (else
        `StoreConflictError`): two rotators must never both install "term n + 1" with different keys.
        """
        ...

    def get_meta(self, name: str) -> str | None:
        """A clear-text vault state value (never secret), or None."""
        ...

    def put_meta(self, name: str, value: str) -> None:
        """Store a clear-text vault state value durably."""
        ...

    def update_meta(self, name: str, change: Callable[[str | None], str]) -> str:
        """Replace a value by `change(current)` atomically (no other writer in between, whichever replica);
        durable before it returns the new value. `change` may run more than once."""
        ...

    def get_record(self, kind: str, organisation: str, id: str) -> StoredRecord | None: ...

    def put_record(self, record: StoredRecord, *, cas: int | None = None) -> None:
        """Insert or replace, durably. `cas` (as in KV v2): 0 = only if absent, n = only if at version n."""
        ...

    def list_records(self, kind: str | None = None, organisation: str | None = None) -> list[StoredRecord]: ...

    def delete_record(self, kind: str, organisation: str, id: str) -> bool: ...

    def close(self) -> None: ...


def open_sqlite(path: Path, what: str) -> sqlite3.Connection:
    """A connection whose every committed write survives a crash or power loss.

    WAL lets readers proceed during a write; synchronous=FULL fsyncs the WAL at each commit, which is
    what "durable before acknowledged" needs (NORMAL may lose the last commits on power loss).
    The file is created 0600 before SQLite touches it; SQLite gives its -wal and -shm files the
    same mode as the database.
    """
    ensure_private_file(path)
    check_private_file(path, what)
    try:
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise VaultError(f"{what} {path}: SQLite refused WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError as exc:
        raise VaultError(f"{what} {path} cannot be opened: {exc}") from None
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One IMMEDIATE transaction: the write lock is taken up front, so two writers cannot deadlock
    upgrading from read to write; committed (and, with synchronous=FULL, durable) on exit."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (busy, disk full) leaves the transaction open; never leave it so.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class SQLiteStore:
    """The embedded default backend: one SQLite file, one transaction per write."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        # One connection shared by threads (executor calls from the async server): serialise use.
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> SQLiteStore:
        conn = open_sqlite(path, "vault database")
        store = cls(conn, path)
        try:
            store._migrate()
        except BaseException:
            conn.close()
            raise
        return store

    def _migrate(self) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise VaultError(f"vault database {self.path} has schema {version}, newer than this gateway")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS keyring ("
                " id INTEGER PRIMARY KEY CHECK (id = 1),"
                " wrapped BLOB NOT NULL,"
                " updated_at TEXT NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS records ("
                " kind TEXT NOT NULL,"
                " organisation TEXT NOT NULL,"
                " id TEXT NOT NULL,"
                " version INTEGER NOT NULL,"
                " metadata TEXT NOT NULL,"
                " ciphertext BLOB NOT NULL,"
                " PRIMARY KEY (kind, organisation, id))"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS records_by_organisation ON records (organisation, kind)")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, transaction(self._conn) as conn:
            yield conn

    def get_keyring(self) -> bytes | None:
        with self._lock:
            row = self._conn.execute("SELECT wrapped FROM keyring WHERE id = 1").fetchone()
        return None if row is None else bytes(row[0])

    def create_keyring(self, wrapped: bytes) -> bytes:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO keyring (id, wrapped, updated_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING",
                (wrapped, datetime.now(UTC).isoformat()),
            )
            return bytes(conn.execute("SELECT wrapped FROM keyring WHERE id = 1").fetchone()[0])

    @property
    def name(self) -> str:
        return "sqlite"

    @property
    def description(self) -> str:
        return f"SQLite {self.path}"

    def put_keyring(self, wrapped: bytes, *, previous: bytes | None = None) -> None:
        with self._write() as conn:
            if previous is not None:
                row = conn.execute("SELECT wrapped FROM keyring WHERE id = 1").fetchone()
                if row is None or bytes(row[0]) != previous:
                    raise StoreConflictError("the keyring changed since it was read (rotated elsewhere?)")
            conn.execute(
                "INSERT INTO keyring (id, wrapped, updated_at) VALUES (1, ?, ?) ON CONFLICT (id)"
                " DO UPDATE SET wrapped = excluded.wrapped, updated_at = excluded.updated_at",
                (wrapped, datetime.now(UTC).isoformat()),
            )

    def get_meta(self, name: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta(self, name: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def update_meta(self, name: str, change: Callable[[str | None], str]) -> str:
        with self._write() as conn:  # an IMMEDIATE transaction: other processes wait for it
            row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
            value = change(None if row is None else str(row[0]))
            conn.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
        return value

    def get_record(self, kind: str, organisation: str, id: str) -> StoredRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT kind, organisation, id, version, metadata, ciphertext FROM records"
                " WHERE kind = ? AND organisation = ? AND id = ?",
                (kind, organisation, id),
            ).fetchone()
        return None if row is None else _record(row)

    def put_record(self, record: StoredRecord, *, cas: int | None = None) -> None:
        check_cas_version(record, cas)
        with self._write() as conn:
            if cas is not None:
                row = conn.execute(
                    "SELECT version FROM records WHERE kind = ? AND organisation = ? AND id = ?",
                    (record.kind, record.organisation, record.id),
                ).fetchone()
                current = 0 if row is None else int(row[0])
                if current != cas:
                    raise StoreConflictError(
                        f"record {record.id} is at version {current}, not {cas}; re-read and retry"
                    )
            conn.execute(
                "INSERT INTO records (kind, organisation, id, version, metadata, ciphertext)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (kind, organisation, id) DO UPDATE SET"
                " version = excluded.version, metadata = excluded.metadata, ciphertext = excluded.ciphertext",
                (
                    record.kind,
                    record.organisation,
                    record.id,
                    record.version,
                    json.dumps(dict(record.metadata), sort_keys=True),
                    record.ciphertext,
                ),
            )

    def list_records(self, kind: str | None = None, organisation: str | None = None) -> list[StoredRecord]:
        query = "SELECT kind, organisation, id, version, metadata, ciphertext FROM records WHERE 1 = 1"
        params: list[str] = []
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        if organisation is not None:
            query += " AND organisation = ?"
            params.append(organisation)
        query += " ORDER BY organisation, kind, id"
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        return [_record(row) for row in rows]

    def delete_record(self, kind: str, organisation: str, id: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM records WHERE kind = ? AND organisation = ? AND id = ?", (kind, organisation, id)
            )
            return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def check_cas_version(record: StoredRecord, cas: int | None) -> None:
    """A conditional write must store the next version: the version is bound into the ciphertext."""
    if cas is not None and record.version != cas + 1:
        raise ValueError(f"a write conditional on version {cas} must store version {cas + 1}, not {record.version}")


def _record(row: tuple[Any, ...]) -> StoredRecord:
    kind, organisation, id, version, metadata, ciphertext = row
    return StoredRecord(kind, organisation, id, int(version), json.loads(metadata), bytes(ciphertext))
