"""Key-encryption keys: what wraps the keyring at rest. This version has the local key file only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from encord_gateway.vault.barrier import KEY_SIZE, NONCE_SIZE
from encord_gateway.vault.errors import SealedError
from encord_gateway.vault.files import check_private_file, write_private_file_once

_WRAP_FORMAT = 1
# Binds a wrapped blob to its purpose, so a KEK-wrapped value of some future kind can never be
# presented as a keyring.
_WRAP_AAD = b"encord-gateway/vault/keyring/v1"


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps the serialised keyring. Issue 3 adds env-variable and OpenBao Transit KEKs."""

    @property
    def description(self) -> str:
        """Where the KEK comes from, for status output and errors (never the key)."""
        ...

    def wrap(self, keyring: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The keyring bytes; `SealedError` when this KEK did not wrap them."""
        ...


class LocalKeyFileKek:
    """32 random bytes in a 0600 file next to the database (the default, like a dev-mode unseal key)."""

    __slots__ = ("_aead", "path")

    def __init__(self, path: Path, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise SealedError(f"vault key file {path} does not hold a {KEY_SIZE}-byte key")
        self.path = path
        self._aead = AESGCM(key)

    @classmethod
    def load(cls, path: Path) -> LocalKeyFileKek:
        """Read an existing key file, refusing one that group or others may access."""
        if not path.exists():
            raise SealedError(f"vault key file {path} is missing; the vault cannot be unsealed without it")
        check_private_file(path, "vault key file")
        return cls(path, path.read_bytes())

    @classmethod
    def create(cls, path: Path) -> LocalKeyFileKek:
        """Create the key file (0600) unless another process just did; either way, load it."""
        write_private_file_once(path, os.urandom(KEY_SIZE))
        return cls.load(path)

    @property
    def description(self) -> str:
        return f"key file {self.path}"

    def wrap(self, keyring: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return bytes([_WRAP_FORMAT]) + nonce + self._aead.encrypt(nonce, keyring, _WRAP_AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        if len(wrapped) < 1 + NONCE_SIZE or wrapped[0] != _WRAP_FORMAT:
            raise SealedError("the stored keyring is malformed")
        nonce = wrapped[1 : 1 + NONCE_SIZE]
        try:
            return self._aead.decrypt(nonce, wrapped[1 + NONCE_SIZE :], _WRAP_AAD)
        except InvalidTag:
            raise SealedError(
                f"vault key file {self.path} does not unseal this vault (wrong or replaced key file?)"
            ) from None

    def __repr__(self) -> str:
        return f"LocalKeyFileKek(path={str(self.path)!r})"
