"""Credential resolution: which credential signs a call for an organisation (returns a signer, never bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import grpc

from ..errors import GatewayError
from ..vault.errors import CredentialNotFoundError, SealedError, VaultError
from .signing import Signer


class SignerSource(Protocol):
    """The part of the vault the resolver needs."""

    def signer_for_org(self, organisation: str) -> Signer: ...


@dataclass(frozen=True)
class Credential:
    """A usable credential: its kind and public identity (safe for cache keys and audit), and its signer."""

    kind: str  # "ssh" for an organisation key
    identity: str  # the public key hex: public, stable, and distinct per key
    signer: Signer


class CredentialResolver:
    """Looks credentials up in the vault once and keeps the (in-memory) signer for later calls."""

    def __init__(self, vault: SignerSource) -> None:
        self._vault = vault
        self._signers: dict[str, Credential] = {}

    def resolve(self, organisation: str) -> Credential:
        found = self._signers.get(organisation)
        if found is not None:
            return found
        try:
            signer = self._vault.signer_for_org(organisation)
        except CredentialNotFoundError:
            raise GatewayError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"organisation {organisation!r} has no credential in the vault",
                reason="NO_ORGANISATION_CREDENTIAL",
                metadata={"organisation": organisation},
            ) from None
        except SealedError as exc:
            raise GatewayError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the credential vault is sealed: {exc}",
                reason="VAULT_SEALED",
            ) from None
        except VaultError as exc:  # tampered or undecryptable record: refuse, never sign with garbage
            raise GatewayError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the credential of organisation {organisation!r} cannot be used: {exc}",
                reason="CREDENTIAL_UNUSABLE",
                metadata={"organisation": organisation},
            ) from None
        credential = Credential(kind="ssh", identity=signer.public_key_hex, signer=signer)
        self._signers[organisation] = credential
        return credential

    def forget(self, organisation: str) -> None:
        """Drop a cached signer (after rotation or revocation)."""
        self._signers.pop(organisation, None)
