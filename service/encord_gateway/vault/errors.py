"""Sentinel errors of the credential vault; no message ever carries key material or plaintext."""

from __future__ import annotations

from encord_gateway.upstream.signing import KeyFormatError


class VaultError(Exception):
    """Base of every vault failure; safe to show to an operator as is."""


class BarrierError(VaultError):
    """A stored value failed to decrypt: unknown term, unknown format, or failed authentication."""


class SealedError(VaultError):
    """The keyring is not available (no key-encryption key, or the wrong one), so nothing decrypts."""


class InsecureFileError(VaultError):
    """A secret-bearing file is accessible by group or others; the message names it and the fix."""


class CredentialNotFoundError(VaultError, LookupError):
    """No usable credential is registered for what was asked."""


class CredentialExistsError(VaultError):
    """The organisation already holds a different active key (replacing it is key rotation)."""


class CredentialCorruptError(VaultError):
    """A stored credential failed its integrity check; it is never used to sign."""


class InvalidKeyError(VaultError, KeyFormatError):
    """The offered private key is unreadable, wrongly protected, or not Ed25519."""


class StoreConflictError(VaultError):
    """A conditional write lost a race: the record was not at the version the writer expected."""


class InvalidNameError(VaultError, ValueError):
    """An organisation (or other) name is empty, too long, or holds control characters."""


class BackendUnavailableError(VaultError):
    """The storage backend (or OpenBao) cannot be reached or refused the request; retry later."""


class InvalidScopeError(VaultError, ValueError):
    """A resource API key's type or scopes are not among those Encord defines (wire document §6.4)."""


class CredentialStateError(VaultError):
    """The credential is not in a state that allows this (revoked, or no rotation in progress)."""


class AuditError(VaultError):
    """An audit entry could not be written in time (raised only in the "block" failure mode)."""


class InvalidArgumentError(VaultError, ValueError):
    """A request argument is out of range or malformed (a page size, a page token)."""
