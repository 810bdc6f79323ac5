"""Key-encryption keys: what wraps the keyring at rest (a local key file, an environment variable, or
OpenBao Transit in `vault/openbao.py`)."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from encord_gateway.vault.barrier import KEY_SIZE, NONCE_SIZE
from encord_gateway.vault.errors import SealedError
from encord_gateway.vault.files import check_private_file, write_private_file_once

WRAP_FORMAT_AEAD = 1
"""Wrapped-keyring format of the local AES KEKs (file and environment): 1 ‖ nonce ‖ AES-GCM output."""

WRAP_FORMAT_TRANSIT = 2
"""Wrapped-keyring format of OpenBao Transit: 2 ‖ the ASCII Transit ciphertext ("vault:vN:...")."""

DEFAULT_KEK_ENV = "ENCORD_GATEWAY_VAULT_KEK"
"""Default environment variable of the environment KEK: the base64 of 32 random bytes."""

# Binds a wrapped blob to its purpose, so a KEK-wrapped value of some future kind can never be
# presented as a keyring.
_WRAP_AAD = b"encord-gateway/vault/keyring/v1"


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps the serialised keyring; never exposes its own key."""

    @property
    def description(self) -> str:
        """Where the KEK comes from, for status output and errors (never the key)."""
        ...

    def wrap(self, keyring: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The keyring bytes; `SealedError` when this KEK did not wrap them (or cannot be reached)."""
        ...


def wrap_format_name(wrapped: bytes) -> str:
    """Which kind of KEK wrapped a stored keyring, for a helpful error when the configured one differs."""
    if wrapped[:1] == bytes([WRAP_FORMAT_AEAD]):
        return "a local key (key file or environment variable)"
    if wrapped[:1] == bytes([WRAP_FORMAT_TRANSIT]):
        return "OpenBao Transit"
    return "an unknown key-encryption key"


class _AeadKek:
    """AES-256-GCM with a 32-byte key held in memory: the shared core of the file and env KEKs."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @property
    def description(self) -> str:
        raise NotImplementedError

    def _wrong_key(self) -> SealedError:
        raise NotImplementedError

    def wrap(self, keyring: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return bytes([WRAP_FORMAT_AEAD]) + nonce + self._aead.encrypt(nonce, keyring, _WRAP_AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        if wrapped[:1] != bytes([WRAP_FORMAT_AEAD]):
            raise SealedError(
                f"the stored keyring was wrapped by {wrap_format_name(wrapped)}, not by {self.description}; "
                "configure the key-encryption key that initialised this vault"
            )
        if len(wrapped) < 1 + NONCE_SIZE:
            raise SealedError("the stored keyring is malformed")
        nonce = wrapped[1 : 1 + NONCE_SIZE]
        try:
            return self._aead.decrypt(nonce, wrapped[1 + NONCE_SIZE :], _WRAP_AAD)
        except InvalidTag:
            raise self._wrong_key() from None


class LocalKeyFileKek(_AeadKek):
    """32 random bytes in a 0600 file next to the database (the default, like a dev-mode unseal key)."""

    __slots__ = ("path",)

    def __init__(self, path: Path, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise SealedError(f"vault key file {path} does not hold a {KEY_SIZE}-byte key; restore the original file")
        super().__init__(key)
        self.path = path

    @classmethod
    def load(cls, path: Path) -> LocalKeyFileKek:
        """Read an existing key file, refusing one that group or others may access."""
        if not path.exists():
            raise SealedError(
                f"vault key file {path} is missing; the vault unseals once the original file is restored "
                f"there (mode 0600)"
            )
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

    def _wrong_key(self) -> SealedError:
        return SealedError(
            f"vault key file {self.path} does not unseal this vault (wrong or replaced key file?); "
            "restore the original key file to unseal"
        )

    def __repr__(self) -> str:
        return f"LocalKeyFileKek(path={str(self.path)!r})"


class EnvironmentKek(_AeadKek):
    """The KEK as base64 in an environment variable (for platforms that inject secrets that way)."""

    __slots__ = ("variable",)

    def __init__(self, variable: str, key: bytes) -> None:
        super().__init__(key)
        self.variable = variable

    @classmethod
    def load(cls, variable: str = DEFAULT_KEK_ENV, environ: Mapping[str, str] | None = None) -> EnvironmentKek:
        """Read the KEK from `variable`; a missing or malformed value seals the vault (never quoted)."""
        env = os.environ if environ is None else environ
        value = env.get(variable, "").strip()
        fix = f"set {variable} to the base64 of the {KEY_SIZE}-byte key-encryption key to unseal"
        if not value:
            raise SealedError(f"environment variable {variable} is not set; {fix}")
        try:
            key = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SealedError(f"environment variable {variable} is not valid base64; {fix}") from None
        if len(key) != KEY_SIZE:
            raise SealedError(f"environment variable {variable} does not decode to {KEY_SIZE} bytes; {fix}")
        return cls(variable, key)

    @staticmethod
    def generate() -> str:
        """A fresh value for the variable (what an operator puts in their secret store)."""
        return base64.b64encode(os.urandom(KEY_SIZE)).decode("ascii")

    @property
    def description(self) -> str:
        return f"environment variable {self.variable}"

    def _wrong_key(self) -> SealedError:
        return SealedError(
            f"the key in environment variable {self.variable} does not unseal this vault; "
            "set it to the key that initialised the vault"
        )

    def __repr__(self) -> str:
        return f"EnvironmentKek(variable={self.variable!r})"
