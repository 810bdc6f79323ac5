"""Credential resolution: which credential signs a call (a resource API key with the needed scope, else
the organisation's SSH key). It hands out signers and header values, never key bytes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import grpc
from google.protobuf import message
from opentelemetry import trace

from .._generated.encord.gateway.v1 import options_pb2
from ..errors import GatewayError
from ..operations.resources import RESOURCE_KIND
from ..telemetry.tracing import tracer_of
from ..vault.credentials import (
    KIND_ORG_SSH_KEY,
    KIND_RESOURCE_API_KEY,
    RESOURCE_SCOPES,
    ApiKeyCredential,
)
from ..vault.errors import CredentialNotFoundError, SealedError, VaultError
from .signing import Signer

if TYPE_CHECKING:
    from ..operations.catalog import OperationSpec
    from ..telemetry.metrics import Metrics

log = logging.getLogger(__name__)

# The vault's names for the two kinds, so audit, metrics and the admin API agree.
KIND_SSH_KEY = KIND_ORG_SSH_KEY
KIND_API_KEY = KIND_RESOURCE_API_KEY
RESOLUTION_TTL_SECONDS = 30.0
"""How long a resolved credential is reused before the vault is asked again: bounds how long another
replica's rotation or revocation can go unnoticed here (this replica's own changes call forget())."""


class CredentialSource(Protocol):
    """The part of the vault the resolver needs (synchronous: the resolver calls it from worker threads)."""

    def signing_key_for_org(self, organisation: str) -> tuple[str, Signer]: ...
    def api_key_for(
        self, organisation: str, resource_type: str, resource_hash: str, scope: str
    ) -> ApiKeyCredential | None: ...
    def record_use(self, credential_id: str) -> None: ...


@dataclass(frozen=True)
class Credential:
    """A usable credential: its kind and id (safe for cache keys and audit), and how it authenticates."""

    kind: str
    credential_id: str
    signer: Signer | None = None
    api_key: ApiKeyCredential | None = None
    organisation: str = ""
    """Whose credential it is: the upstream lane its calls take ("" for the gateway's own calls)."""


def _vault_error(organisation: str, exc: Exception) -> GatewayError:
    if isinstance(exc, CredentialNotFoundError):
        return GatewayError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"organisation {organisation!r} has no credential in the vault",
            reason="NO_ORGANISATION_CREDENTIAL",
            metadata={"organisation": organisation},
        )
    if isinstance(exc, SealedError):
        return GatewayError(
            grpc.StatusCode.FAILED_PRECONDITION, f"the credential vault is sealed: {exc}", reason="VAULT_SEALED"
        )
    # Tampered or undecryptable record: refuse, never sign with garbage.
    return GatewayError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"the credential of organisation {organisation!r} cannot be used: {exc}",
        reason="CREDENTIAL_UNUSABLE",
        metadata={"organisation": organisation},
    )


@dataclass(frozen=True)
class ResolverSettings:
    """How the resolver keeps what it resolved, and how much vault I/O it runs at once."""

    ttl: float = RESOLUTION_TTL_SECONDS
    """Seconds a resolved credential is reused (see RESOLUTION_TTL_SECONDS)."""
    max_entries: int = 4096
    """Resolved credentials kept at most; the least recently used go first."""
    vault_threads: int = 4
    """Worker threads for the vault's synchronous backends (SQLite, OpenBao over HTTP): the bound on vault
    I/O in flight, which never runs on the event loop."""
    last_used_interval: float = 5.0
    """Seconds between hand-overs of "last used" notes to the vault, in the background."""


class CredentialResolver:
    """Resolves the calling organisation's credential without blocking the event loop.

    Only the calling organisation's records are read (never a listing of every organisation), in a bounded
    pool of worker threads; what was resolved is kept in a bounded LRU for `ttl` seconds; concurrent
    misses of one credential share one vault lookup (single flight), which a waiter's cancellation does
    not cancel; uses are noted in memory and handed to the vault in the background.
    """

    def __init__(
        self,
        vault: CredentialSource,
        settings: ResolverSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self._vault = vault
        self._settings = settings or ResolverSettings()
        self._clock = clock
        self._metrics = metrics
        self._tracer = tracer_of(tracer_provider)
        self._resolved: OrderedDict[tuple[str, ...], tuple[float, Credential | None]] = OrderedDict()
        self._flights: dict[tuple[str, ...], asyncio.Future[Credential | None]] = {}
        self._generation = 0  # moved on by forget(): a lookup started before it must not store its answer
        self._ssh_only: dict[str, bool] = {}
        self._used: set[str] = set()
        self._executor = ThreadPoolExecutor(self._settings.vault_threads, thread_name_prefix="vault")
        self._recorder: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start handing "last used" notes to the vault in the background."""
        if self._recorder is None:
            self._recorder = asyncio.create_task(self._record_uses_periodically())

    async def close(self) -> None:
        """Hand over the last notes and stop the worker threads."""
        if self._recorder is not None:
            self._recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recorder
            self._recorder = None
        await self._hand_over_uses()
        self._executor.shutdown(wait=True)

    async def resolve(
        self, organisation: str, spec: OperationSpec | None = None, request: message.Message | None = None
    ) -> Credential:
        """The credential for one call of `spec`: a scoped API key when one is registered, else the SSH key."""
        if self._tracer is None:
            if spec is None or self._ssh_key_only(spec):  # the common case, answered from memory when it can be
                found = self._resolved.get((organisation,))
                if found is not None and found[1] is not None and found[0] > self._clock():
                    self._resolved.move_to_end((organisation,))
                    return found[1]
            return await self._resolve(organisation, spec, request)
        with self._tracer.start_as_current_span("credential resolve") as span:
            credential = await self._resolve(organisation, spec, request)
            span.set_attribute("encord_gateway.credential.kind", credential.kind)
            return credential

    def _ssh_key_only(self, spec: OperationSpec) -> bool:
        """Whether `spec` is always signed with the organisation's SSH key (no API key can serve it)."""
        known = self._ssh_only.get(spec.full_name)
        if known is None:
            operation = spec.operation
            known = operation is None or (
                operation.credential != options_pb2.CREDENTIAL_ANY_API_KEY
                and not (operation.api_key_scope and operation.WhichOneof("call") == "v1")
            )
            self._ssh_only[spec.full_name] = known
        return known

    async def _resolve(
        self, organisation: str, spec: OperationSpec | None, request: message.Message | None
    ) -> Credential:
        operation = spec.operation if spec is not None else None
        if operation is not None and operation.credential == options_pb2.CREDENTIAL_ANY_API_KEY:
            return await self._any_api_key(organisation, operation, request)
        # Resource API keys exist for projects and datasets, and only the v1 envelope accepts them.
        if (
            operation is not None
            and operation.api_key_scope
            and request is not None
            and operation.WhichOneof("call") == "v1"
        ):
            scope = operation.api_key_scope
            kind = RESOURCE_KIND.get(operation.resource_type)
            field = operation.resource_field
            if kind is not None and kind in RESOURCE_SCOPES and field:
                api_key = await self._cached((organisation, kind, str(getattr(request, field)), scope), self._api_key)
                if api_key is not None:
                    return api_key
        ssh = await self._cached((organisation,), self._ssh_key)
        assert ssh is not None
        return ssh

    async def _cached(self, key: tuple[str, ...], load: Callable[..., Credential | None]) -> Credential | None:
        found = self._resolved.get(key)
        if found is not None and found[0] > self._clock():
            self._resolved.move_to_end(key)
            return found[1]
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = asyncio.ensure_future(self._lookup(key, load))
        # Shielded: a caller that gives up leaves the lookup running for the others (and for the cache).
        return await asyncio.shield(flight)

    async def _lookup(self, key: tuple[str, ...], load: Callable[..., Credential | None]) -> Credential | None:
        generation = self._generation
        started = time.perf_counter()
        try:
            credential = await asyncio.get_running_loop().run_in_executor(self._executor, load, *key)
        except VaultError as exc:
            raise _vault_error(key[0], exc) from None
        finally:
            if self._flights.get(key) is asyncio.current_task():
                del self._flights[key]
            if self._metrics is not None:
                self._metrics.vault_lookup_seconds.observe(time.perf_counter() - started)
        if generation == self._generation:
            self._resolved[key] = (self._clock() + self._settings.ttl, credential)
            self._resolved.move_to_end(key)
            while len(self._resolved) > self._settings.max_entries:
                self._resolved.popitem(last=False)
        return credential

    async def _any_api_key(
        self, organisation: str, operation: options_pb2.Operation, request: message.Message | None
    ) -> Credential:
        """K-07: a call that only an API key can make, with whichever key of the resource is registered."""
        kind = RESOURCE_KIND.get(operation.resource_type) or ""
        resource = str(getattr(request, operation.resource_field)) if request is not None else ""
        found = (
            await self._cached((organisation, kind, resource, ""), self._api_key)
            if kind in RESOURCE_SCOPES and resource
            else None
        )
        if found is None:
            raise GatewayError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"no API key of this {kind} is registered with the gateway",
                reason="NO_API_KEY",
                metadata={"organisation": organisation},
            )
        return found

    # The two loaders run in a worker thread: they may block on the vault's storage.

    def _ssh_key(self, organisation: str) -> Credential:
        credential_id, signer = self._vault.signing_key_for_org(organisation)
        return Credential(KIND_SSH_KEY, credential_id, signer=signer, organisation=organisation)

    def _api_key(self, organisation: str, kind: str, resource_hash: str, scope: str) -> Credential | None:
        found = self._vault.api_key_for(organisation, kind, resource_hash, scope)
        if found is None:
            return None
        return Credential(KIND_API_KEY, found.credential_id, api_key=found, organisation=organisation)

    def record_use(self, credential: Credential) -> None:
        """Note a use; the vault hears of it in the background (never on the event loop)."""
        self._used.add(credential.credential_id)

    async def _record_uses_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._settings.last_used_interval)
            await self._hand_over_uses()

    async def _hand_over_uses(self) -> None:
        if not self._used:
            return
        used, self._used = self._used, set()

        def hand_over() -> None:
            for credential_id in sorted(used):
                self._vault.record_use(credential_id)

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, hand_over)
        except VaultError as exc:  # advisory metadata: never a reason to fail anything
            log.warning("could not record credential uses: %s", exc)

    def forget(self, organisation: str | None = None) -> None:
        """Drop resolved credentials (all, or one organisation's) after a rotation or revocation."""
        self._generation += 1
        for table in (self._resolved, self._flights):  # a lookup under way finishes, but nobody new joins it
            for key in [k for k in table if organisation is None or k[0] == organisation]:
                del table[key]
