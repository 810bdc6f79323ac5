"""Gateway callers with their policies, bearer tokens (stored only as salted HMACs) and mTLS identities."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from encord_gateway.access.errors import AccessError, AlreadyExistsError, NotFoundError
from encord_gateway.access.policy import Policy, parse_policy
from encord_gateway.vault.credentials import validate_name
from encord_gateway.vault.files import ensure_private_directory
from encord_gateway.vault.store import open_sqlite, transaction

DATABASE_FILE = "tokens.db"
TOKEN_PREFIX = "egw_"
"""Marks gateway tokens so secret scanners and people recognise a leaked one."""

TOKEN_ID_PREFIX = "tok_"
"""Marks public token ids, which name a token in listings and revocations but never authenticate."""

TOKEN_BYTES = 32
TOKEN_ID_BYTES = 6
MIN_EXPLICIT_TOKEN_LENGTH = 16
MAX_TOKEN_LENGTH = 512
"""Anything longer is not ours; refusing it before hashing bounds the work a garbage header costs."""

SALT_BYTES = 32
SCHEMA_VERSION = 2
"""1: tokens carry (organisation, caller); 2: callers with policies, token ids, expiry, revocation, certificates."""

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

MAX_IDENTITY_LENGTH = 1024
"""SPIFFE ids and long subjects exceed the 256 characters of other names; beyond this nothing is a real one."""

MAX_CERTIFICATE_SANS = 64
"""Bounds the lookup a certificate with a huge SAN list can cause; real service certificates hold a few."""

SAN_PREFIXES = ("DNS:", "URI:", "IP:", "email:")
"""How the edge spells subject alternative names; anything else with an `=` is a subject (`CN=svc,O=Acme`)."""

MAX_PARSED_POLICIES = 4096

_CALLER_COLUMNS = "name, policy, created_at, updated_at"
_TOKEN_COLUMNS = "token_id, caller, created_at, expires_at, revoked_at"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its name and the policy that decides what it may do."""

    name: str
    policy: Policy

    @property
    def organisations(self) -> tuple[str, ...]:
        """The organisations the policy grants anything in, in grant order."""
        return self.policy.organisations


@dataclass(frozen=True)
class CallerInfo:
    """A caller as administrators see it."""

    name: str
    policy: Policy
    created_at: datetime
    updated_at: datetime
    certificate_identities: tuple[str, ...]


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: `token` is shown this once; `token_id` names it from then on."""

    token: str = field(repr=False)
    token_id: str
    caller: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    """A token as listings show it: never the token nor its hash."""

    token_id: str
    caller: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def organisation_policy(organisation: str) -> Policy:
    """Read and write on every resource of one organisation: what a caller of the one-organisation era held."""
    return parse_policy({"grants": [{"organisation": organisation, "resources": ["*"], "rights": ["read", "write"]}]})


def _acceptable(token: str) -> bool:
    # Printable ASCII without spaces: what survives an HTTP header or gRPC metadata unchanged.
    return 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii() and token.isprintable() and " " not in token


def _is_san(identity: str) -> bool:
    return identity.startswith(SAN_PREFIXES)


def _identity_shape_ok(identity: object) -> bool:
    return (
        isinstance(identity, str)
        and 0 < len(identity) <= MAX_IDENTITY_LENGTH
        and identity.isprintable()
        and identity == identity.strip()
    )


def validate_certificate_identity(identity: str) -> str:
    """Refuse what no certificate could present, so a mapping that can never match is caught at once."""
    if _identity_shape_ok(identity):
        prefix = next((p for p in SAN_PREFIXES if identity.startswith(p)), None)
        if prefix is not None and len(identity) > len(prefix):
            return identity
        if prefix is None and "=" in identity:
            return identity
    raise AccessError(
        "a certificate identity is a subject like 'CN=svc-a,O=Acme' or a SAN like 'DNS:svc-a.internal', "
        f"'URI:spiffe://...', 'IP:10.0.0.1' or 'email:...', printable, at most {MAX_IDENTITY_LENGTH} characters"
    )


def _to_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _from_text(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        # A naive time is ambiguous by hours; guessing would move expiries.
        raise AccessError(f"{what} must carry a time zone")
    return moment.astimezone(UTC)


def _policy_text(policy: Policy) -> str:
    if not isinstance(policy, Policy):
        raise AccessError("a policy must be a Policy (see access.policy.parse_policy)")
    return json.dumps(policy.to_json(), sort_keys=True, separators=(",", ":"))


def _encode_page_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode_page_token(page_token: str) -> str:
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        name = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        name = ""
    if not name:
        raise AccessError("page_token is not one this gateway returned")
    return name


def _create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS callers ("
        " name TEXT PRIMARY KEY,"
        " policy TEXT NOT NULL,"
        " created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL)"
    )
    # Rows of revoked tokens and of deleted callers stay: a revocation must outlive a caller of the
    # same name being created again, and listings keep showing what was revoked when.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tokens ("
        " token_hash BLOB PRIMARY KEY,"
        " token_id TEXT NOT NULL UNIQUE,"
        " caller TEXT NOT NULL,"
        " created_at TEXT NOT NULL,"
        " expires_at TEXT,"
        " revoked_at TEXT)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS tokens_by_caller ON tokens (caller)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS certificate_identities ("
        " identity TEXT PRIMARY KEY,"
        " caller TEXT NOT NULL,"
        " created_at TEXT NOT NULL)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS certificate_identities_by_caller ON certificate_identities (caller)")


def _new_token_id(conn: sqlite3.Connection) -> str:
    while True:
        token_id = TOKEN_ID_PREFIX + secrets.token_hex(TOKEN_ID_BYTES)
        if conn.execute("SELECT 1 FROM tokens WHERE token_id = ?", (token_id,)).fetchone() is None:
            return token_id


def _migrate_from_v1(conn: sqlite3.Connection) -> None:
    """Turn each (organisation, caller) of schema 1 into a caller holding read/write on that organisation.

    Schema 1 let one caller name hold tokens of several organisations, each token acting for one.
    Merging those into one caller would let every such token reach every such organisation, so
    those names split into `<caller>@<organisation>`: no token gains a right it did not have.
    """
    rows = conn.execute(
        "SELECT token_hash, organisation, caller, created_at FROM tokens ORDER BY created_at"
    ).fetchall()
    organisations: dict[str, list[str]] = {}
    for _, organisation, caller, _ in rows:
        seen = organisations.setdefault(str(caller), [])
        if organisation not in seen:
            seen.append(str(organisation))
    names: dict[tuple[str, str], str] = {}
    taken = {caller for caller, orgs in organisations.items() if len(orgs) == 1}
    for caller, orgs in organisations.items():
        if len(orgs) == 1:
            names[(caller, orgs[0])] = caller
            continue
        for organisation in orgs:
            name, suffix = f"{caller}@{organisation}", 1
            while name in taken:
                suffix += 1
                name = f"{caller}@{organisation}#{suffix}"
            taken.add(name)
            names[(caller, organisation)] = name
    conn.execute("ALTER TABLE tokens RENAME TO tokens_v1")
    _create_schema(conn)
    for (_, organisation), name in names.items():
        first = min(str(r[3]) for r in rows if names[(str(r[2]), str(r[1]))] == name)
        conn.execute(
            f"INSERT INTO callers ({_CALLER_COLUMNS}) VALUES (?, ?, ?, ?)",
            (name, _policy_text(organisation_policy(organisation)), first, first),
        )
    for token_hash, organisation, caller, created_at in rows:
        conn.execute(
            "INSERT INTO tokens (token_hash, token_id, caller, created_at) VALUES (?, ?, ?, ?)",
            (token_hash, _new_token_id(conn), names[(str(caller), str(organisation))], created_at),
        )
    conn.execute("DROP TABLE tokens_v1")


class TokenStore:
    """Callers, their policies, tokens and certificate identities, in one SQLite file.

    Only HMAC-SHA256(salt, token) is stored, with a random per-installation salt: a stolen database
    neither reveals tokens nor lets precomputed tables work across installations. Generated tokens
    carry 256 bits, so the hash need not be slow; explicit tokens are the operator's responsibility.

    Nothing about a token or caller is cached: `authenticate` reads the database on every call (one
    primary-key lookup), so a revocation, expiry or policy change by this or any other process
    holds from the next request on. Only the parsing of a policy's JSON text is memoised.
    """

    def __init__(
        self, conn: sqlite3.Connection, reader: sqlite3.Connection, path: Path, salt: bytes, now: Callable[[], datetime]
    ) -> None:
        self._conn = conn
        # Authentication reads through its own connection, so that an administrative write of this
        # process (which waits on fsync) never holds up requests.
        self._reader = reader
        self.path = path
        self._salt = salt  # cached: authenticate() runs on every request
        self._now = now
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._policies: dict[str, Policy] = {}

    @classmethod
    def open(cls, directory: Path, *, now: Callable[[], datetime] | None = None) -> TokenStore:
        """Open (creating on first use, migrating schema 1 in place) `directory/tokens.db`, 0600, in a 0700 directory.

        `now` replaces the wall clock that expiries are judged by (tests).
        """
        directory = Path(directory)
        ensure_private_directory(directory)
        path = directory / DATABASE_FILE
        conn = open_sqlite(path, "token database")
        try:
            with transaction(conn):
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version > SCHEMA_VERSION:
                    raise AccessError(f"{path} has schema {version}, newer than this gateway's {SCHEMA_VERSION}")
                # Judged by structure, not user_version: a gateway of schema 1 opening this file
                # afterwards would have reset user_version to 1 while leaving the new tables.
                columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(tokens)")}
                if "organisation" in columns:
                    _migrate_from_v1(conn)
                _create_schema(conn)
                conn.execute(
                    "INSERT INTO settings (name, value) VALUES ('salt', ?) ON CONFLICT (name) DO NOTHING",
                    (os.urandom(SALT_BYTES),),
                )
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                salt = bytes(conn.execute("SELECT value FROM settings WHERE name = 'salt'").fetchone()[0])
            reader = open_sqlite(path, "token database")
        except BaseException:
            conn.close()
            raise
        return cls(conn, reader, path, salt, now or (lambda: datetime.now(UTC)))

    def _hash(self, token: str) -> bytes:
        return hmac.new(self._salt, token.encode("ascii"), hashlib.sha256).digest()

    def _policy(self, text: str) -> Policy:
        policy = self._policies.get(text)
        if policy is None:
            policy = parse_policy(text)
            if len(self._policies) >= MAX_PARSED_POLICIES:
                self._policies.clear()
            self._policies[text] = policy
        return policy

    # Callers

    def _caller_info(self, conn: sqlite3.Connection, name: str) -> CallerInfo | None:
        row = conn.execute(f"SELECT {_CALLER_COLUMNS} FROM callers WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        identities = conn.execute(
            "SELECT identity FROM certificate_identities WHERE caller = ? ORDER BY identity", (name,)
        ).fetchall()
        return self._info(row, tuple(str(i[0]) for i in identities))

    def _info(self, row: Sequence[str], identities: tuple[str, ...]) -> CallerInfo:
        created, updated = _from_text(row[2]), _from_text(row[3])
        assert created is not None and updated is not None
        return CallerInfo(str(row[0]), self._policy(str(row[1])), created, updated, identities)

    def create_caller(self, name: str, policy: Policy) -> CallerInfo:
        """A new caller holding exactly `policy`; AlreadyExistsError when the name is taken."""
        validate_name(name, "caller")
        text = _policy_text(policy)
        now = _to_text(self._now())
        with self._lock, transaction(self._conn) as conn:
            if conn.execute("SELECT 1 FROM callers WHERE name = ?", (name,)).fetchone() is not None:
                raise AlreadyExistsError(
                    f"caller {name!r} already exists; change its policy with SetCallerPolicy "
                    f"(PUT /admin/v1/callers/{name}/policy) or `encord-gateway caller set-policy --name {name}`"
                )
            conn.execute(f"INSERT INTO callers ({_CALLER_COLUMNS}) VALUES (?, ?, ?, ?)", (name, text, now, now))
            info = self._caller_info(conn, name)
        assert info is not None
        return info

    def set_policy(self, name: str, policy: Policy) -> CallerInfo:
        """Replace a caller's policy; its tokens and certificates carry the new one from the next request on."""
        text = _policy_text(policy)
        with self._lock, transaction(self._conn) as conn:
            updated = conn.execute(
                "UPDATE callers SET policy = ?, updated_at = ? WHERE name = ?", (text, _to_text(self._now()), name)
            )
            if updated.rowcount == 0:
                raise NotFoundError(f"no caller named {name!r}")
            info = self._caller_info(conn, name)
        assert info is not None
        return info

    def get_caller(self, name: str) -> CallerInfo | None:
        with self._lock:
            return self._caller_info(self._conn, name)

    def list_callers(self, page_size: int = DEFAULT_PAGE_SIZE, page_token: str = "") -> tuple[list[CallerInfo], str]:
        """Callers ordered by name, `page_size` at a time (0 means the default); "" as next token ends the list."""
        if page_size < 0:
            raise AccessError("page_size must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = _decode_page_token(page_token) if page_token else None
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_CALLER_COLUMNS} FROM callers WHERE ? IS NULL OR name > ? ORDER BY name LIMIT ?",
                (after, after, size + 1),
            ).fetchall()
            page = rows[:size]
            identities: dict[str, list[str]] = {}
            if page:
                marks = ",".join("?" * len(page))
                for identity, caller in self._conn.execute(
                    f"SELECT identity, caller FROM certificate_identities WHERE caller IN ({marks}) ORDER BY identity",
                    [str(row[0]) for row in page],
                ):
                    identities.setdefault(str(caller), []).append(str(identity))
        infos = [self._info(row, tuple(identities.get(str(row[0]), ()))) for row in page]
        next_token = _encode_page_token(infos[-1].name) if len(rows) > size else ""
        return infos, next_token

    def delete_caller(self, name: str) -> None:
        """Remove a caller, revoking all its tokens and forgetting its certificate identities."""
        now = _to_text(self._now())
        with self._lock, transaction(self._conn) as conn:
            if conn.execute("DELETE FROM callers WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"no caller named {name!r}")
            conn.execute("UPDATE tokens SET revoked_at = ? WHERE caller = ? AND revoked_at IS NULL", (now, name))
            conn.execute("DELETE FROM certificate_identities WHERE caller = ?", (name,))

    # Tokens

    def issue(
        self,
        caller: str,
        token: str | None = None,
        expires_at: datetime | None = None,
        *,
        organisation: str | None = None,
    ) -> IssuedToken:
        """Store a token for `caller` and return it (the only time it is visible).

        The caller must exist, unless `organisation` is given: then a missing caller is created
        holding read and write on that organisation (how one-organisation callers were made); an
        existing one must already have a grant there. An explicit `token` (a demo token from the
        environment) must be at least 16 characters; issuing the same one again for the same caller
        and expiry is a no-op, while a revoked or expired one stays dead.
        """
        validate_name(caller, "caller")
        if organisation is not None:
            validate_name(organisation, "organisation")
            if organisation == "*":
                # Every organisation is too much to hand out as a side effect of issuing a token.
                raise AccessError("name one organisation; grant '*' through a policy instead")
        if expires_at is not None:
            expires_at = _utc(expires_at, "expires_at")
        if token is None:
            token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        elif not isinstance(token, str) or len(token) < MIN_EXPLICIT_TOKEN_LENGTH:
            raise AccessError(f"a token must be at least {MIN_EXPLICIT_TOKEN_LENGTH} characters")
        elif not _acceptable(token):
            raise AccessError(f"a token must be printable ASCII without spaces, at most {MAX_TOKEN_LENGTH} characters")
        digest = self._hash(token)
        now = self._now()
        with self._lock, transaction(self._conn) as conn:
            row = conn.execute("SELECT policy FROM callers WHERE name = ?", (caller,)).fetchone()
            if row is None:
                if organisation is None:
                    raise NotFoundError(
                        f"no caller named {caller!r}: create it with a policy first, or name its organisation"
                    )
                conn.execute(
                    f"INSERT INTO callers ({_CALLER_COLUMNS}) VALUES (?, ?, ?, ?)",
                    (caller, _policy_text(organisation_policy(organisation)), _to_text(now), _to_text(now)),
                )
            elif organisation is not None and not any(
                grant.covers_organisation(organisation) for grant in self._policy(str(row[0])).grants
            ):
                # Issuing must never widen a policy; that is set_policy's job, done on purpose.
                raise AccessError(
                    f"caller {caller!r} has no grant in organisation {organisation!r}; change its policy first"
                )
            existing = conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?", (digest,)).fetchone()
            if existing is None:
                token_id = _new_token_id(conn)
                conn.execute(
                    "INSERT INTO tokens (token_hash, token_id, caller, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                    (digest, token_id, caller, _to_text(now), None if expires_at is None else _to_text(expires_at)),
                )
                return IssuedToken(token, token_id, caller, now.astimezone(UTC), expires_at)
            info = _token_info(existing)
            if info.caller != caller:
                raise AlreadyExistsError("this token is already issued to another caller; choose another")
            if info.revoked_at is not None:
                raise AlreadyExistsError("this token was revoked; choose another")
            if info.expires_at != expires_at:
                raise AlreadyExistsError("this token is already issued with another expiry; choose another")
            if info.expires_at is not None and info.expires_at <= now:
                raise AlreadyExistsError("this token has expired; choose another")
            return IssuedToken(token, info.token_id, caller, info.created_at, info.expires_at)

    def list_tokens(self, caller: str | None = None) -> list[TokenInfo]:
        """Tokens (of one caller, or all) oldest first, revoked and expired ones included."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE ? IS NULL OR caller = ? ORDER BY created_at, token_id",
                (caller, caller),
            ).fetchall()
        return [_token_info(row) for row in rows]

    def revoke_token(self, token_id: str) -> bool:
        """Revoke one token by its id; False when no such token is active (unknown or already revoked)."""
        with self._lock, transaction(self._conn) as conn:
            cursor = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (_to_text(self._now()), token_id),
            )
        return cursor.rowcount > 0

    def revoke_caller_tokens(self, caller: str) -> int:
        """Revoke every active token of `caller`; how many were revoked."""
        with self._lock, transaction(self._conn) as conn:
            cursor = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE caller = ? AND revoked_at IS NULL",
                (_to_text(self._now()), caller),
            )
        return cursor.rowcount

    def authenticate(self, token: str) -> Caller | None:
        """The caller a live token belongs to, or None; never raises on malformed input of any type."""
        if not isinstance(token, str) or not _acceptable(token):
            return None
        try:
            digest = self._hash(token)
            with self._read_lock:
                row = self._reader.execute(
                    "SELECT t.token_hash, t.expires_at, t.revoked_at, c.name, c.policy"
                    " FROM tokens AS t JOIN callers AS c ON c.name = t.caller WHERE t.token_hash = ?",
                    (digest,),
                ).fetchone()
            # The index lookup already matched; compare in constant time anyway, so that no future
            # change to the lookup (a prefix index, a cache) can turn into a timing oracle.
            if row is None or not hmac.compare_digest(bytes(row[0]), digest) or row[2] is not None:
                return None
            expires_at = _from_text(row[1])
            if expires_at is not None and expires_at <= self._now():
                return None
            return Caller(str(row[3]), self._policy(str(row[4])))
        except (sqlite3.Error, ValueError):
            # A damaged row (or policy) denies; it must not turn a request into INTERNAL.
            return None

    # Certificate identities

    def map_certificate_identity(self, identity: str, caller: str) -> None:
        """Let a client certificate presenting `identity` (subject or SAN, matched exactly) act as `caller`."""
        validate_certificate_identity(identity)
        with self._lock, transaction(self._conn) as conn:
            if conn.execute("SELECT 1 FROM callers WHERE name = ?", (caller,)).fetchone() is None:
                raise NotFoundError(f"no caller named {caller!r}")
            row = conn.execute("SELECT caller FROM certificate_identities WHERE identity = ?", (identity,)).fetchone()
            if row is not None and str(row[0]) != caller:
                # Silently moving an identity would hand one team's certificates to another.
                raise AlreadyExistsError(f"{identity!r} is mapped to another caller; unmap it first")
            if row is None:
                conn.execute(
                    "INSERT INTO certificate_identities (identity, caller, created_at) VALUES (?, ?, ?)",
                    (identity, caller, _to_text(self._now())),
                )

    def unmap_certificate_identity(self, identity: str) -> bool:
        """Forget a certificate identity; False when it was not mapped."""
        with self._lock, transaction(self._conn) as conn:
            cursor = conn.execute("DELETE FROM certificate_identities WHERE identity = ?", (identity,))
        return cursor.rowcount > 0

    def caller_for_certificate(self, subject: str, sans: Sequence[str]) -> Caller | None:
        """The caller a verified client certificate maps to, or None; never raises on malformed input.

        SANs are tried before the subject. SANs that map to different callers make the certificate
        ambiguous, which denies rather than picking one by order.
        """
        try:
            san_candidates = [s for s in list(sans)[:MAX_CERTIFICATE_SANS] if _identity_shape_ok(s) and _is_san(s)]
            # A subject spelled like a SAN is refused: it could otherwise claim a SAN's mapping.
            subject_ok = _identity_shape_ok(subject) and not _is_san(subject) and "=" in subject
            candidates = [*san_candidates, subject] if subject_ok else san_candidates
            if not candidates:
                return None
            with self._read_lock:
                rows = self._reader.execute(
                    "SELECT i.identity, c.name, c.policy FROM certificate_identities AS i"
                    f" JOIN callers AS c ON c.name = i.caller WHERE i.identity IN ({','.join('?' * len(candidates))})",
                    candidates,
                ).fetchall()
            mapped = {str(row[0]): (str(row[1]), str(row[2])) for row in rows}
            by_san = {mapped[s] for s in san_candidates if s in mapped}
            if len(by_san) > 1:
                return None
            found = next(iter(by_san)) if by_san else mapped.get(subject) if subject_ok else None
            return None if found is None else Caller(found[0], self._policy(found[1]))
        except (sqlite3.Error, ValueError, TypeError):
            return None

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._conn.close()
            self._reader.close()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TokenStore(path={str(self.path)!r})"


def _token_info(row: Sequence[str | None]) -> TokenInfo:
    created = _from_text(row[2])
    assert created is not None
    return TokenInfo(str(row[0]), str(row[1]), created, _from_text(row[3]), _from_text(row[4]))
