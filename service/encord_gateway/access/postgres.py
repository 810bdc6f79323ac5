"""The shared `AccessStore`: callers, policies, tokens and certificate identities in PostgreSQL (asyncpg).

The tables mirror the embedded store's (access/tokens.py), in their own schema; every rule (validation,
token format, explicit tokens, expiry, revocation outliving a deleted caller, ambiguous certificates) is
the embedded store's, held to it by the same contract suite. Timestamps are `timestamptz`; the salt of
the token hashes is made once, by whichever replica creates the schema first.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc

from encord_gateway.access.errors import AccessError, AlreadyExistsError, NotFoundError
from encord_gateway.access.policy import Policy, parse_policy
from encord_gateway.access.tokens import (
    DEFAULT_PAGE_SIZE,
    MAX_CERTIFICATE_SANS,
    MAX_PAGE_SIZE,
    MAX_PARSED_POLICIES,
    MAX_TOKEN_LENGTH,
    MIN_EXPLICIT_TOKEN_LENGTH,
    SALT_BYTES,
    TOKEN_BYTES,
    TOKEN_ID_BYTES,
    TOKEN_ID_PREFIX,
    TOKEN_PREFIX,
    Caller,
    CallerInfo,
    IssuedToken,
    TokenInfo,
    _acceptable,
    _decode_page_token,
    _encode_page_token,
    _identity_shape_ok,
    _is_san,
    _policy_text,
    _utc,
    organisation_policy,
    validate_certificate_identity,
)
from encord_gateway.cluster.connections import postgres_pool
from encord_gateway.errors import GatewayError
from encord_gateway.vault.credentials import validate_name

log = logging.getLogger(__name__)

SCHEMA = "encord_gateway"
_SCHEMA_LOCK = 0x656777_0001  # pg_advisory_xact_lock key: replicas starting together create the schema once

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.settings (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS {SCHEMA}.callers (
    name TEXT PRIMARY KEY, policy TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS {SCHEMA}.tokens (
    token_hash BYTEA PRIMARY KEY, token_id TEXT NOT NULL UNIQUE, caller TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ);
CREATE INDEX IF NOT EXISTS tokens_by_caller ON {SCHEMA}.tokens (caller);
CREATE TABLE IF NOT EXISTS {SCHEMA}.certificate_identities (
    identity TEXT PRIMARY KEY, caller TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL);
CREATE INDEX IF NOT EXISTS certificate_identities_by_caller ON {SCHEMA}.certificate_identities (caller);
"""

_CALLERS = f"{SCHEMA}.callers"
_TOKENS = f"{SCHEMA}.tokens"
_IDENTITIES = f"{SCHEMA}.certificate_identities"
_TOKEN_COLUMNS = "token_id, caller, created_at, expires_at, revoked_at"


def unavailable(exc: BaseException) -> GatewayError:
    """PostgreSQL cannot be reached (or failed): the call may be retried; nothing about it was decided."""
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        f"the caller store (PostgreSQL) is unavailable ({type(exc).__name__}); retry later",
        reason="ACCESS_STORE_UNAVAILABLE",
    )


def describe_dsn(dsn: str) -> str:
    """The DSN without its password, for status output and errors."""
    head, at, tail = dsn.rpartition("@")
    if not at:
        return dsn
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{tail}"


class PostgresAccessStore:
    """The `AccessStore` every replica shares (see the module docstring)."""

    def __init__(self, pool: Any, dsn: str, salt: bytes, now: Callable[[], datetime]) -> None:
        self._pool = pool
        self._dsn = dsn
        self._salt = salt
        self._now = now
        self._policies: dict[str, Policy] = {}

    @classmethod
    async def open(
        cls, dsn: str, *, now: Callable[[], datetime] | None = None, max_connections: int = 10
    ) -> PostgresAccessStore:
        """Connect (retrying while the database starts), create the schema on first use, read the salt."""
        import asyncpg

        try:
            pool = await postgres_pool(dsn, max_size=max_connections)
        except (OSError, asyncpg.PostgresError) as exc:
            raise AccessError(f"cannot reach the caller store {describe_dsn(dsn)}: {exc}") from None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await conn.execute(_DDL)
                await conn.execute(
                    f"INSERT INTO {SCHEMA}.settings (name, value) VALUES ('salt', $1) ON CONFLICT (name) DO NOTHING",
                    os.urandom(SALT_BYTES),
                )
                salt = bytes(await conn.fetchval(f"SELECT value FROM {SCHEMA}.settings WHERE name = 'salt'"))
        except BaseException:
            await pool.close()
            raise
        return cls(pool, dsn, salt, now or (lambda: datetime.now(UTC)))

    @property
    def description(self) -> str:
        return f"PostgreSQL {describe_dsn(self._dsn)}"

    @contextlib.asynccontextmanager
    async def _connection(self, *, transaction: bool = False) -> AsyncIterator[Any]:
        import asyncpg

        try:
            async with self._pool.acquire() as conn:
                if transaction:
                    async with conn.transaction():
                        yield conn
                else:
                    yield conn
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise unavailable(exc) from None

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

    def _info(self, row: Any, identities: Sequence[str]) -> CallerInfo:
        return CallerInfo(str(row["name"]), self._policy(str(row["policy"])), row["created_at"], row["updated_at"],
                          tuple(identities))  # fmt: skip

    async def _caller_info(self, conn: Any, name: str) -> CallerInfo | None:
        row = await conn.fetchrow(f"SELECT name, policy, created_at, updated_at FROM {_CALLERS} WHERE name = $1", name)
        if row is None:
            return None
        identities = await conn.fetch(
            f'SELECT identity FROM {_IDENTITIES} WHERE caller = $1 ORDER BY identity COLLATE "C"', name
        )
        return self._info(row, [str(i["identity"]) for i in identities])

    # --- callers -----------------------------------------------------------------------------------

    async def create_caller(self, name: str, policy: Policy) -> CallerInfo:
        validate_name(name, "caller")
        text = _policy_text(policy)
        now = self._now()
        async with self._connection(transaction=True) as conn:
            inserted = await conn.fetchval(
                f"INSERT INTO {_CALLERS} (name, policy, created_at, updated_at) VALUES ($1, $2, $3, $3)"
                " ON CONFLICT (name) DO NOTHING RETURNING name",
                name, text, now,
            )  # fmt: skip
            if inserted is None:
                raise AlreadyExistsError(
                    f"caller {name!r} already exists; change its policy with SetCallerPolicy "
                    f"(PUT /admin/v1/callers/{name}/policy) or `encord-gateway caller set-policy --name {name}`"
                )
            info = await self._caller_info(conn, name)
        assert info is not None
        return info

    async def set_policy(self, name: str, policy: Policy) -> CallerInfo:
        text = _policy_text(policy)
        async with self._connection(transaction=True) as conn:
            updated = await conn.fetchval(
                f"UPDATE {_CALLERS} SET policy = $1, updated_at = $2 WHERE name = $3 RETURNING name",
                text, self._now(), name,
            )  # fmt: skip
            if updated is None:
                raise NotFoundError(f"no caller named {name!r}")
            info = await self._caller_info(conn, name)
        assert info is not None
        return info

    async def get_caller(self, name: str) -> CallerInfo | None:
        async with self._connection() as conn:
            return await self._caller_info(conn, name)

    async def list_callers(
        self, page_size: int = DEFAULT_PAGE_SIZE, page_token: str = ""
    ) -> tuple[list[CallerInfo], str]:
        if page_size < 0:
            raise AccessError("page_size must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = _decode_page_token(page_token) if page_token else None
        async with self._connection() as conn:
            # Byte order ("C"), as SQLite sorts: page tokens and listings agree across backends.
            rows = await conn.fetch(
                f"SELECT name, policy, created_at, updated_at FROM {_CALLERS}"
                ' WHERE $1::text IS NULL OR name > $1 COLLATE "C" ORDER BY name COLLATE "C" LIMIT $2',
                after, size + 1,
            )  # fmt: skip
            page = rows[:size]
            identities: dict[str, list[str]] = {}
            if page:
                for row in await conn.fetch(
                    f'SELECT identity, caller FROM {_IDENTITIES} WHERE caller = ANY($1::text[]) ORDER BY identity COLLATE "C"',
                    [str(r["name"]) for r in page],
                ):
                    identities.setdefault(str(row["caller"]), []).append(str(row["identity"]))
        infos = [self._info(row, identities.get(str(row["name"]), [])) for row in page]
        next_token = _encode_page_token(infos[-1].name) if len(rows) > size else ""
        return infos, next_token

    async def delete_caller(self, name: str) -> None:
        now = self._now()
        async with self._connection(transaction=True) as conn:
            if await conn.fetchval(f"DELETE FROM {_CALLERS} WHERE name = $1 RETURNING name", name) is None:
                raise NotFoundError(f"no caller named {name!r}")
            await conn.execute(f"UPDATE {_TOKENS} SET revoked_at = $1 WHERE caller = $2 AND revoked_at IS NULL", now,
                               name)  # fmt: skip
            await conn.execute(f"DELETE FROM {_IDENTITIES} WHERE caller = $1", name)

    # --- tokens ------------------------------------------------------------------------------------

    async def issue(
        self,
        caller: str,
        token: str | None = None,
        expires_at: datetime | None = None,
        *,
        organisation: str | None = None,
    ) -> IssuedToken:
        validate_name(caller, "caller")
        if organisation is not None:
            validate_name(organisation, "organisation")
            if organisation == "*":
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
        now = self._now().astimezone(UTC)
        async with self._connection(transaction=True) as conn:
            policy = await conn.fetchval(f"SELECT policy FROM {_CALLERS} WHERE name = $1 FOR UPDATE", caller)
            if policy is None:
                if organisation is None:
                    raise NotFoundError(
                        f"no caller named {caller!r}: create it with a policy first, or name its organisation"
                    )
                await conn.execute(
                    f"INSERT INTO {_CALLERS} (name, policy, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                    caller, _policy_text(organisation_policy(organisation)), now,
                )  # fmt: skip
            elif organisation is not None and not any(
                grant.covers_organisation(organisation) for grant in self._policy(str(policy)).grants
            ):
                raise AccessError(
                    f"caller {caller!r} has no grant in organisation {organisation!r}; change its policy first"
                )
            while True:
                token_id = TOKEN_ID_PREFIX + secrets.token_hex(TOKEN_ID_BYTES)
                if await conn.fetchval(f"SELECT 1 FROM {_TOKENS} WHERE token_id = $1", token_id) is None:
                    break
            inserted = await conn.fetchval(
                f"INSERT INTO {_TOKENS} (token_hash, token_id, caller, created_at, expires_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING RETURNING token_id",
                digest, token_id, caller, now, expires_at,
            )  # fmt: skip
            if inserted is not None:
                return IssuedToken(token, token_id, caller, now, expires_at)
            existing = await conn.fetchrow(f"SELECT {_TOKEN_COLUMNS} FROM {_TOKENS} WHERE token_hash = $1", digest)
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

    async def list_tokens(self, caller: str | None = None) -> list[TokenInfo]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_TOKEN_COLUMNS} FROM {_TOKENS} WHERE $1::text IS NULL OR caller = $1"
                ' ORDER BY created_at, token_id COLLATE "C"',
                caller,
            )
        return [_token_info(row) for row in rows]

    async def revoke_token(self, token_id: str) -> bool:
        async with self._connection() as conn:
            done = await conn.fetchval(
                f"UPDATE {_TOKENS} SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL RETURNING token_id",
                self._now(), token_id,
            )  # fmt: skip
        return done is not None

    async def revoke_caller_tokens(self, caller: str) -> int:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"UPDATE {_TOKENS} SET revoked_at = $1 WHERE caller = $2 AND revoked_at IS NULL RETURNING token_id",
                self._now(), caller,
            )  # fmt: skip
        return len(rows)

    async def authenticate(self, token: str) -> Caller | None:
        if not isinstance(token, str) or not _acceptable(token):
            return None
        digest = self._hash(token)
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT t.token_hash, t.expires_at, t.revoked_at, c.name, c.policy FROM {_TOKENS} AS t"
                f" JOIN {_CALLERS} AS c ON c.name = t.caller WHERE t.token_hash = $1",
                digest,
            )
        if row is None or not hmac.compare_digest(bytes(row["token_hash"]), digest) or row["revoked_at"] is not None:
            return None
        if row["expires_at"] is not None and row["expires_at"] <= self._now():
            return None
        try:
            return Caller(str(row["name"]), self._policy(str(row["policy"])))
        except ValueError:
            return None  # a damaged policy denies; it must not turn a request into INTERNAL

    # --- certificate identities --------------------------------------------------------------------

    async def map_certificate_identity(self, identity: str, caller: str) -> None:
        validate_certificate_identity(identity)
        async with self._connection(transaction=True) as conn:
            if await conn.fetchval(f"SELECT 1 FROM {_CALLERS} WHERE name = $1 FOR SHARE", caller) is None:
                raise NotFoundError(f"no caller named {caller!r}")
            await conn.execute(
                f"INSERT INTO {_IDENTITIES} (identity, caller, created_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (identity) DO NOTHING",
                identity, caller, self._now(),
            )  # fmt: skip
            mapped = await conn.fetchval(f"SELECT caller FROM {_IDENTITIES} WHERE identity = $1", identity)
            if str(mapped) != caller:
                raise AlreadyExistsError(f"{identity!r} is mapped to another caller; unmap it first")

    async def unmap_certificate_identity(self, identity: str) -> bool:
        async with self._connection() as conn:
            done = await conn.fetchval(f"DELETE FROM {_IDENTITIES} WHERE identity = $1 RETURNING identity", identity)
        return done is not None

    async def caller_for_certificate(self, subject: str, sans: Sequence[str]) -> Caller | None:
        try:
            san_candidates = [s for s in list(sans)[:MAX_CERTIFICATE_SANS] if _identity_shape_ok(s) and _is_san(s)]
            subject_ok = _identity_shape_ok(subject) and not _is_san(subject) and "=" in subject
        except TypeError:
            return None
        candidates = [*san_candidates, subject] if subject_ok else san_candidates
        if not candidates:
            return None
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT i.identity, c.name, c.policy FROM {_IDENTITIES} AS i"
                f" JOIN {_CALLERS} AS c ON c.name = i.caller WHERE i.identity = ANY($1::text[])",
                candidates,
            )
        mapped = {str(row["identity"]): (str(row["name"]), str(row["policy"])) for row in rows}
        by_san = {mapped[s] for s in san_candidates if s in mapped}
        if len(by_san) > 1:
            return None
        found = next(iter(by_san)) if by_san else mapped.get(subject) if subject_ok else None
        try:
            return None if found is None else Caller(found[0], self._policy(found[1]))
        except ValueError:
            return None

    async def close(self) -> None:
        await self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresAccessStore({describe_dsn(self._dsn)!r})"


def _token_info(row: Any) -> TokenInfo:
    return TokenInfo(str(row["token_id"]), str(row["caller"]), row["created_at"], row["expires_at"], row["revoked_at"])
