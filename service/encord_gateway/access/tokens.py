"""Bearer tokens of gateway callers, stored only as salted HMACs; lookup is one indexed query."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from encord_gateway.vault.credentials import validate_name
from encord_gateway.vault.files import ensure_private_directory
from encord_gateway.vault.store import open_sqlite, transaction

DATABASE_FILE = "tokens.db"
TOKEN_PREFIX = "egw_"
"""Marks gateway tokens so secret scanners and people recognise a leaked one."""

TOKEN_BYTES = 32
MIN_EXPLICIT_TOKEN_LENGTH = 16
MAX_TOKEN_LENGTH = 512
"""Anything longer is not ours; refusing it before hashing bounds the work a garbage header costs."""

SALT_BYTES = 32
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its name, and the organisation it acts for."""

    name: str
    organisation: str


def _acceptable(token: str) -> bool:
    # Printable ASCII without spaces: what survives an HTTP header or gRPC metadata unchanged.
    return 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii() and token.isprintable() and " " not in token


class TokenStore:
    """Issues caller tokens and authenticates them.

    Only HMAC-SHA256(salt, token) is stored, with a random per-installation salt: a stolen database
    neither reveals tokens nor lets precomputed tables work across installations. Generated tokens
    carry 256 bits, so the hash need not be slow; explicit tokens are the operator's responsibility.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, salt: bytes) -> None:
        self._conn = conn
        self.path = path
        self._salt = salt  # cached: authenticate() runs on every request
        self._lock = threading.Lock()

    @classmethod
    def open(cls, directory: Path) -> TokenStore:
        """Open (creating on first use) `directory/tokens.db`, 0600, in a 0700 directory."""
        directory = Path(directory)
        ensure_private_directory(directory)
        path = directory / DATABASE_FILE
        conn = open_sqlite(path, "token database")
        try:
            with transaction(conn):
                conn.execute("CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS tokens ("
                    " token_hash BLOB PRIMARY KEY,"
                    " organisation TEXT NOT NULL,"
                    " caller TEXT NOT NULL,"
                    " created_at TEXT NOT NULL)"
                )
                conn.execute(
                    "INSERT INTO settings (name, value) VALUES ('salt', ?) ON CONFLICT (name) DO NOTHING",
                    (os.urandom(SALT_BYTES),),
                )
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                salt = bytes(conn.execute("SELECT value FROM settings WHERE name = 'salt'").fetchone()[0])
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, salt)

    def _hash(self, token: str) -> bytes:
        return hmac.new(self._salt, token.encode("ascii"), hashlib.sha256).digest()

    def issue(self, organisation: str, caller: str, token: str | None = None) -> str:
        """Store a token for `caller` of `organisation` and return it (the only time it is visible).

        An explicit `token` (a demo token from the environment) must be at least 16 characters;
        issuing the same one again for the same caller is a no-op.
        """
        validate_name(organisation, "organisation")
        validate_name(caller, "caller")
        if token is None:
            token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        elif len(token) < MIN_EXPLICIT_TOKEN_LENGTH:
            raise ValueError(f"a token must be at least {MIN_EXPLICIT_TOKEN_LENGTH} characters")
        elif not _acceptable(token):
            raise ValueError(f"a token must be printable ASCII without spaces, at most {MAX_TOKEN_LENGTH} characters")
        digest = self._hash(token)
        with self._lock, transaction(self._conn) as conn:
            row = conn.execute("SELECT organisation, caller FROM tokens WHERE token_hash = ?", (digest,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO tokens (token_hash, organisation, caller, created_at) VALUES (?, ?, ?, ?)",
                    (digest, organisation, caller, datetime.now(UTC).isoformat()),
                )
            elif tuple(row) != (organisation, caller):
                raise ValueError("this token is already issued to another caller; choose another")
        return token

    def authenticate(self, token: str) -> Caller | None:
        """The caller a token belongs to, or None; never raises on malformed input."""
        if not isinstance(token, str) or not _acceptable(token):
            return None
        digest = self._hash(token)
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT token_hash, organisation, caller FROM tokens WHERE token_hash = ?", (digest,)
                ).fetchone()
        except sqlite3.Error:
            return None
        # The index lookup already matched; compare in constant time anyway, so that no future
        # change to the lookup (a prefix index, a cache) can turn into a timing oracle.
        if row is None or not hmac.compare_digest(bytes(row[0]), digest):
            return None
        return Caller(name=str(row[2]), organisation=str(row[1]))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TokenStore(path={str(self.path)!r})"
