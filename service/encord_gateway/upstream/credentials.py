"""Credential resolution: which credential signs a call (a resource API key with the needed scope, else
the organisation's SSH key). It hands out signers and header values, never key bytes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import grpc
from google.protobuf import message

from .._generated.encord.gateway.v1 import options_pb2
from ..errors import GatewayError
from ..operations.resources import RESOURCE_KIND
from ..vault.credentials import (
    KIND_ORG_SSH_KEY,
    KIND_RESOURCE_API_KEY,
    RESOURCE_SCOPES,
    ApiKeyCredential,
    OrgKeyInfo,
)
from ..vault.errors import CredentialNotFoundError, SealedError, VaultError
from .signing import Signer

if TYPE_CHECKING:
    from ..operations.catalog import OperationSpec

# The vault's names for the two kinds, so audit, metrics and the admin API agree.
KIND_SSH_KEY = KIND_ORG_SSH_KEY
KIND_API_KEY = KIND_RESOURCE_API_KEY
RESOLUTION_TTL_SECONDS = 30.0
"""How long a resolved credential is reused before the vault is asked again: bounds how long another
replica's rotation or revocation can go unnoticed here (this replica's own changes call forget())."""


class CredentialSource(Protocol):
    """The part of the vault the resolver needs."""

    def signer_for_org(self, organisation: str) -> Signer: ...
    def list_org_keys(self) -> list[OrgKeyInfo]: ...
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


class CredentialResolver:
    """Asks the vault for credentials and keeps what it resolved for a short while."""

    def __init__(self, vault: CredentialSource, clock: Callable[[], float] = time.monotonic) -> None:
        self._vault = vault
        self._clock = clock
        self._resolved: dict[tuple[str, ...], tuple[float, Credential | None]] = {}

    def resolve(
        self, organisation: str, spec: OperationSpec | None = None, request: message.Message | None = None
    ) -> Credential:
        """The credential for one call of `spec`: a scoped API key when one is registered, else the SSH key."""
        operation = spec.operation if spec is not None else None
        if operation is not None and operation.credential == options_pb2.CREDENTIAL_ANY_API_KEY:
            return self._any_api_key(organisation, operation, request)
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
                api_key = self._cached((organisation, kind, str(getattr(request, field)), scope), self._api_key)
                if api_key is not None:
                    return api_key
        ssh = self._cached((organisation,), self._ssh_key)
        assert ssh is not None
        return ssh

    def _cached(self, key: tuple[str, ...], load: Callable[..., Credential | None]) -> Credential | None:
        found = self._resolved.get(key)
        now = self._clock()
        if found is not None and found[0] > now:
            return found[1]
        try:
            credential = load(*key)
        except VaultError as exc:
            raise _vault_error(key[0], exc) from None
        self._resolved[key] = (now + RESOLUTION_TTL_SECONDS, credential)
        return credential

    def _any_api_key(
        self, organisation: str, operation: options_pb2.Operation, request: message.Message | None
    ) -> Credential:
        """K-07: a call that only an API key can make, with whichever key of the resource is registered."""
        kind = RESOURCE_KIND.get(operation.resource_type) or ""
        resource = str(getattr(request, operation.resource_field)) if request is not None else ""
        found = (
            self._cached((organisation, kind, resource, ""), self._api_key)
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

    def _ssh_key(self, organisation: str) -> Credential:
        signer = self._vault.signer_for_org(organisation)
        credential_id = next(
            (
                info.credential_id
                for info in self._vault.list_org_keys()
                if info.organisation == organisation and info.public_key_hex == signer.public_key_hex
            ),
            signer.public_key_hex,
        )
        return Credential(KIND_SSH_KEY, credential_id, signer=signer)

    def _api_key(self, organisation: str, kind: str, resource_hash: str, scope: str) -> Credential | None:
        found = self._vault.api_key_for(organisation, kind, resource_hash, scope)
        return None if found is None else Credential(KIND_API_KEY, found.credential_id, api_key=found)

    def record_use(self, credential: Credential) -> None:
        self._vault.record_use(credential.credential_id)

    def forget(self, organisation: str | None = None) -> None:
        """Drop resolved credentials (all, or one organisation's) after a rotation or revocation."""
        if organisation is None:
            self._resolved.clear()
            return
        for key in [k for k in self._resolved if k[0] == organisation]:
            del self._resolved[key]
