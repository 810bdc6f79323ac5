"""The sandbox's state: the registry of record kinds, and one SQLite database holding every record as a row."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar, get_args, get_type_hints

from encord_gateway.vault.files import ensure_private_file

T = TypeVar("T")


class _Record(Protocol):
    created_at: datetime


R = TypeVar("R", bound=_Record)

# PRAGMA user_version of a sandbox database; a file with another version is refused, not guessed at.
SCHEMA_VERSION = 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# One table for every kind: a write is one row (plus its index entries), never a rewrite of the rest.
# `created_at` is in microseconds so that listings and children come back in creation order, then id.
# record_keys holds the secondary keys a kind declares, one row per value, so find() is an index lookup.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS records_by_parent ON records (kind, parent, created_at, id);
CREATE TABLE IF NOT EXISTS record_keys (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (kind, key, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_keys_by_record ON record_keys (kind, id);
"""


# ---- the kind registry -------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of record: a dataclass with a `created_at` datetime, stored as JSON in one row per record."""

    name: str
    cls: type[Any]
    id: str
    """The attribute that is the record's id (unique within the kind)."""
    parent: str | None
    """The attribute holding the id of the record this one belongs to; `Store.children` lists by it."""
    parent_kinds: tuple[str, ...]
    """The kinds that parent may name (ids are UUIDs, so a child is found by its parent's id alone)."""
    keys: tuple[str, ...]
    """Attributes indexed for `Store.find`: a string, a list of strings (each), or a dict (its keys)."""
    datetimes: frozenset[str]
    """Attributes typed `datetime` (or `datetime | None`): ISO 8601 in the JSON, datetimes in the record."""
    attributes: tuple[str, ...]
    """Every attribute of the dataclass, in declaration order: read once here, not for each record."""
    attribute_set: frozenset[str]
    """The same, for the membership test of every decoded member."""


KINDS: dict[str, Kind] = {}
_BY_CLASS: dict[type[Any], Kind] = {}


def register_kind(
    name: str,
    *,
    id: str = "hash",
    parent: str | None = None,
    parent_kinds: tuple[str, ...] = (),
    keys: tuple[str, ...] = (),
) -> Callable[[type[T]], type[T]]:
    """Class decorator (above `@dataclass`) that makes a dataclass a kind of record the store can hold."""

    def register(cls: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"kind {name!r}: {cls.__name__} must be a dataclass")
        if name in KINDS:
            raise ValueError(f"kind {name!r} is registered twice ({KINDS[name].cls.__qualname__}, {cls.__qualname__})")
        hints = get_type_hints(cls)
        attrs = [id, "created_at", *keys, *([parent] if parent else [])]
        if missing := [a for a in attrs if a not in hints]:
            raise ValueError(f"kind {name!r}: {cls.__name__} has no attribute {', '.join(missing)}")
        if parent_kinds and parent is None:
            raise ValueError(f"kind {name!r}: parent_kinds without a parent attribute")
        datetimes = frozenset(a for a, hint in hints.items() if datetime in (hint, *get_args(hint)))
        attributes = tuple(f.name for f in dataclasses.fields(cls))
        kind = Kind(name, cls, id, parent, parent_kinds, keys, datetimes, attributes, frozenset(attributes))
        KINDS[name] = kind
        _BY_CLASS[cls] = kind
        return cls

    return register


def kind_of(cls: type[Any]) -> Kind:
    try:
        return _BY_CLASS[cls]
    except KeyError:
        raise TypeError(f"{cls.__qualname__} is not a registered kind of record") from None


def kind_named(name: str) -> Kind:
    """A kind by name: for a domain that must read another's records without importing its module."""
    return KINDS[name]


def record_id(record: Any) -> str:
    value: str = getattr(record, kind_of(type(record)).id)
    return value


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _encode(kind: Kind, record: Any) -> str:
    values = {name: getattr(record, name) for name in kind.attributes}
    for name in kind.datetimes:
        if values[name] is not None:
            values[name] = values[name].isoformat()
    return json.dumps(values, separators=(",", ":"))


def _decode(kind: Kind, data: str) -> Any:
    values = json.loads(data)
    for name in kind.datetimes:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    # Members a later version of the dataclass dropped are ignored; new ones take their defaults.
    known = kind.attribute_set
    return kind.cls(**{k: v for k, v in values.items() if k in known})


def _key_values(value: Any) -> Iterable[str]:
    """The values a secondary key indexes: a string, each string of a list, or the keys of a dict."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


# ---- the store ---------------------------------------------------------------------------------


class Store:
    """Typed access to the records of every registered kind, in one SQLite database (a file, or memory).

    Handlers run on one event loop and are synchronous, so one connection serves everything; the server
    wraps each request in `transaction()`, which commits before the response is sent and rolls back when
    the handler raises. Records are plain dataclasses: change one, then `put` it.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        try:
            if path is None:
                self._conn = sqlite3.connect(":memory:", isolation_level=None)
            else:
                ensure_private_file(path)  # 0600 before SQLite creates it; its -wal and -shm inherit the mode
                self._conn = sqlite3.connect(path, isolation_level=None)
                # WAL appends each commit instead of rewriting pages in place; FULL fsyncs it at each commit,
                # so an answered write survives a crash.
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            self._open_schema()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{path}: not a sandbox state database ({exc})") from None

    def _open_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        has_tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        if has_tables and version != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: unsupported sandbox state version {version}")
        self._conn.executescript(_SCHEMA)
        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside is committed together on exit, or rolled back if anything raises."""
        if self._conn.in_transaction:
            raise RuntimeError("sandbox transactions do not nest")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:  # a failed COMMIT leaves it open; never leave it so
                self._conn.execute("ROLLBACK")
            raise

    # ---- reads ---------------------------------------------------------------------------------

    def get(self, cls: type[T], record_id: str) -> T | None:
        kind = kind_of(cls)
        row = self._conn.execute(
            "SELECT data FROM records WHERE kind = ? AND id = ?", (kind.name, record_id)
        ).fetchone()
        return None if row is None else _decode(kind, row[0])

    def children(self, cls: type[T], parent_id: str) -> list[T]:
        """The records of a kind that belong to `parent_id`, oldest first (ties by id)."""
        kind = kind_of(cls)
        if kind.parent is None:
            raise TypeError(f"kind {kind.name!r} declares no parent")
        rows = self._conn.execute(
            "SELECT data FROM records WHERE kind = ? AND parent = ? ORDER BY created_at, id", (kind.name, parent_id)
        )
        return [_decode(kind, data) for (data,) in rows]

    def all(self, cls: type[T]) -> list[T]:
        """Every record of a kind, oldest first (ties by id)."""
        kind = kind_of(cls)
        rows = self._conn.execute("SELECT data FROM records WHERE kind = ? ORDER BY created_at, id", (kind.name,))
        return [_decode(kind, data) for (data,) in rows]

    def find(self, cls: type[T], key: str, value: str) -> list[T]:
        """The records of a kind whose secondary key `key` holds `value`, oldest first (ties by id)."""
        kind = kind_of(cls)
        if key not in kind.keys:
            raise TypeError(f"kind {kind.name!r} declares no key {key!r}")
        rows = self._conn.execute(
            "SELECT r.data FROM record_keys k JOIN records r ON r.kind = k.kind AND r.id = k.id"
            " WHERE k.kind = ? AND k.key = ? AND k.value = ? ORDER BY r.created_at, r.id",
            (kind.name, key, value),
        )
        return [_decode(kind, data) for (data,) in rows]

    # ---- writes --------------------------------------------------------------------------------

    def put(self, record: R) -> R:
        """Insert the record, or replace the stored record with the same id."""
        kind = kind_of(type(record))
        record_id: str = getattr(record, kind.id)
        parent = getattr(record, kind.parent) if kind.parent else None
        self._conn.execute(
            "INSERT INTO records (kind, id, parent, created_at, data) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, id) DO UPDATE SET parent = excluded.parent, created_at = excluded.created_at,"
            " data = excluded.data",
            (kind.name, record_id, parent, _micros(record.created_at), _encode(kind, record)),
        )
        if kind.keys:
            self._conn.execute("DELETE FROM record_keys WHERE kind = ? AND id = ?", (kind.name, record_id))
            self._conn.executemany(
                "INSERT OR IGNORE INTO record_keys (kind, key, value, id) VALUES (?, ?, ?, ?)",
                [(kind.name, key, v, record_id) for key in kind.keys for v in _key_values(getattr(record, key))],
            )
        return record

    def delete(self, cls: type[Any], record_id: str) -> bool:
        """Remove one record (not its children); False when there was none."""
        kind = kind_of(cls)
        gone = self._conn.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind.name, record_id)).rowcount
        self._conn.execute("DELETE FROM record_keys WHERE kind = ? AND id = ?", (kind.name, record_id))
        return gone > 0
