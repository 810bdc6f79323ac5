"""The access store interface (callers, policies, tokens, certificate identities) and the embedded SQLite one.

The gateway, the admin API and the CLI use an `AccessStore`; which one is configuration:
`EmbeddedAccessStore` (a `TokenStore` file in the data directory, for one process or one host) or
`PostgresAccessStore` (shared by every replica). One contract suite (tests/integration/
test_access_backends.py) holds both to the same behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from encord_gateway.access.policy import Policy
from encord_gateway.access.tokens import DEFAULT_PAGE_SIZE, Caller, CallerInfo, IssuedToken, TokenInfo, TokenStore

T = TypeVar("T")


class AccessStore(Protocol):
    """Callers with their policies, their tokens (kept only as salted HMACs) and certificate identities.

    Nothing about a token or caller is cached by a store: `authenticate` reads the store on every call,
    so a revocation, expiry or policy change made through any replica holds from the next request on.
    """

    @property
    def description(self) -> str:
        """Where the store lives (a path, or a database without its password)."""
        ...

    async def authenticate(self, token: str) -> Caller | None:
        """The caller a live token belongs to, or None; never raises on malformed input of any type."""
        ...

    async def caller_for_certificate(self, subject: str, sans: Sequence[str]) -> Caller | None:
        """The caller a verified client certificate maps to (SANs first; ambiguous SANs deny), or None."""
        ...

    async def create_caller(self, name: str, policy: Policy) -> CallerInfo: ...
    async def set_policy(self, name: str, policy: Policy) -> CallerInfo: ...
    async def get_caller(self, name: str) -> CallerInfo | None: ...
    async def list_callers(
        self, page_size: int = DEFAULT_PAGE_SIZE, page_token: str = ""
    ) -> tuple[list[CallerInfo], str]: ...
    async def delete_caller(self, name: str) -> None: ...
    async def issue(
        self,
        caller: str,
        token: str | None = None,
        expires_at: datetime | None = None,
        *,
        organisation: str | None = None,
    ) -> IssuedToken: ...
    async def list_tokens(self, caller: str | None = None) -> list[TokenInfo]: ...
    async def revoke_token(self, token_id: str) -> bool: ...
    async def revoke_caller_tokens(self, caller: str) -> int: ...
    async def map_certificate_identity(self, identity: str, caller: str) -> None: ...
    async def unmap_certificate_identity(self, identity: str) -> bool: ...
    async def close(self) -> None: ...


class EmbeddedAccessStore:
    """The `AccessStore` over a `TokenStore` (SQLite): administration in a worker thread, lookups inline.

    Authentication stays on the event loop: it is one primary-key read of a local WAL database, cheaper
    than a hop to a thread and back. Everything that writes (and waits on fsync) runs in a thread.
    """

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    @classmethod
    def open(cls, directory: Path, *, now: Callable[[], datetime] | None = None) -> EmbeddedAccessStore:
        return cls(TokenStore.open(directory, now=now))

    @property
    def description(self) -> str:
        return f"SQLite {self.tokens.path}"

    async def _run(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)

    async def authenticate(self, token: str) -> Caller | None:
        return self.tokens.authenticate(token)

    async def caller_for_certificate(self, subject: str, sans: Sequence[str]) -> Caller | None:
        return self.tokens.caller_for_certificate(subject, sans)

    async def create_caller(self, name: str, policy: Policy) -> CallerInfo:
        return await self._run(self.tokens.create_caller, name, policy)

    async def set_policy(self, name: str, policy: Policy) -> CallerInfo:
        return await self._run(self.tokens.set_policy, name, policy)

    async def get_caller(self, name: str) -> CallerInfo | None:
        return await self._run(self.tokens.get_caller, name)

    async def list_callers(
        self, page_size: int = DEFAULT_PAGE_SIZE, page_token: str = ""
    ) -> tuple[list[CallerInfo], str]:
        return await self._run(self.tokens.list_callers, page_size, page_token)

    async def delete_caller(self, name: str) -> None:
        await self._run(self.tokens.delete_caller, name)

    async def issue(
        self,
        caller: str,
        token: str | None = None,
        expires_at: datetime | None = None,
        *,
        organisation: str | None = None,
    ) -> IssuedToken:
        return await self._run(self.tokens.issue, caller, token, expires_at, organisation=organisation)

    async def list_tokens(self, caller: str | None = None) -> list[TokenInfo]:
        return await self._run(self.tokens.list_tokens, caller)

    async def revoke_token(self, token_id: str) -> bool:
        return await self._run(self.tokens.revoke_token, token_id)

    async def revoke_caller_tokens(self, caller: str) -> int:
        return await self._run(self.tokens.revoke_caller_tokens, caller)

    async def map_certificate_identity(self, identity: str, caller: str) -> None:
        await self._run(self.tokens.map_certificate_identity, identity, caller)

    async def unmap_certificate_identity(self, identity: str) -> bool:
        return await self._run(self.tokens.unmap_certificate_identity, identity)

    async def close(self) -> None:
        self.tokens.close()

    def __repr__(self) -> str:
        return f"EmbeddedAccessStore({self.tokens!r})"


class BlockingAccess:
    """A shared `AccessStore` for the command line: the same methods as `TokenStore`, each run to completion.

    `caller ...` and `token ...` administer whichever store the environment selects (PostgreSQL when
    ENCORD_GATEWAY_POSTGRES_DSN is set), so an operator changes what every replica sees.
    """

    def __init__(self, open_store: Callable[[], Awaitable[AccessStore]]) -> None:
        self._runner = asyncio.Runner()
        try:
            self._store: AccessStore = self._runner.run(_awaited(open_store()))
        except BaseException:
            self._runner.close()
            raise

    def _run(self, action: Awaitable[T]) -> T:
        return self._runner.run(_awaited(action))

    def issue(
        self,
        caller: str,
        token: str | None = None,
        expires_at: datetime | None = None,
        *,
        organisation: str | None = None,
    ) -> IssuedToken:
        return self._run(self._store.issue(caller, token, expires_at, organisation=organisation))

    def list_tokens(self, caller: str | None = None) -> list[TokenInfo]:
        return self._run(self._store.list_tokens(caller))

    def revoke_token(self, token_id: str) -> bool:
        return self._run(self._store.revoke_token(token_id))

    def create_caller(self, name: str, policy: Policy) -> CallerInfo:
        return self._run(self._store.create_caller(name, policy))

    def set_policy(self, name: str, policy: Policy) -> CallerInfo:
        return self._run(self._store.set_policy(name, policy))

    def get_caller(self, name: str) -> CallerInfo | None:
        return self._run(self._store.get_caller(name))

    def list_callers(self, page_size: int = DEFAULT_PAGE_SIZE, page_token: str = "") -> tuple[list[CallerInfo], str]:
        return self._run(self._store.list_callers(page_size, page_token))

    def delete_caller(self, name: str) -> None:
        self._run(self._store.delete_caller(name))

    def map_certificate_identity(self, identity: str, caller: str) -> None:
        self._run(self._store.map_certificate_identity(identity, caller))

    def unmap_certificate_identity(self, identity: str) -> bool:
        return self._run(self._store.unmap_certificate_identity(identity))

    def close(self) -> None:
        try:
            self._run(self._store.close())
        finally:
            self._runner.close()

    def __enter__(self) -> BlockingAccess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


async def _awaited(action: Awaitable[T]) -> T:
    return await action
