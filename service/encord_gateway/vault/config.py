"""Vault configuration: which backend stores records and which key-encryption key wraps the keyring."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from encord_gateway.vault.barrier import DEFAULT_ROTATE_AFTER
from encord_gateway.vault.errors import VaultError
from encord_gateway.vault.kek import DEFAULT_KEK_ENV, EnvironmentKek, KeyEncryptionKey, LocalKeyFileKek
from encord_gateway.vault.openbao import (
    DEFAULT_KV_MOUNT,
    DEFAULT_KV_PREFIX,
    DEFAULT_TRANSIT_KEY,
    DEFAULT_TRANSIT_MOUNT,
    OpenBaoKvStore,
    TransitKek,
)
from encord_gateway.vault.store import Backend, SQLiteStore

DATABASE_FILE = "vault.db"
KEY_FILE = "vault.key"

BACKENDS = ("sqlite", "openbao")
KEK_SOURCES = ("file", "env", "transit")

ENV_BACKEND = "ENCORD_GATEWAY_VAULT_BACKEND"
ENV_KEK_SOURCE = "ENCORD_GATEWAY_VAULT_KEK_SOURCE"
ENV_KEY_FILE = "ENCORD_GATEWAY_VAULT_KEY_FILE"
ENV_KEK_VARIABLE = "ENCORD_GATEWAY_VAULT_KEK_VARIABLE"
ENV_OPENBAO_ADDR = "ENCORD_GATEWAY_OPENBAO_ADDR"
ENV_OPENBAO_TOKEN = "ENCORD_GATEWAY_OPENBAO_TOKEN"
ENV_KV_MOUNT = "ENCORD_GATEWAY_OPENBAO_KV_MOUNT"
ENV_KV_PREFIX = "ENCORD_GATEWAY_OPENBAO_KV_PREFIX"
ENV_TRANSIT_MOUNT = "ENCORD_GATEWAY_OPENBAO_TRANSIT_MOUNT"
ENV_TRANSIT_KEY = "ENCORD_GATEWAY_OPENBAO_TRANSIT_KEY"
ENV_OPENBAO_TIMEOUT = "ENCORD_GATEWAY_OPENBAO_TIMEOUT"
ENV_ROTATE_AFTER = "ENCORD_GATEWAY_VAULT_ROTATE_AFTER"


@dataclass(frozen=True)
class VaultConfig:
    """How the vault stores records and unseals its keyring. `from_env` reads every field from
    `ENCORD_GATEWAY_*` variables; the defaults give the embedded vault (SQLite + local key file)."""

    backend: str = "sqlite"
    """Where records live: "sqlite" (`<vault dir>/vault.db`) or "openbao" (KV v2).
    Env: ENCORD_GATEWAY_VAULT_BACKEND."""

    kek_source: str = "file"
    """What wraps the keyring: "file" (a 0600 key file, created on first use), "env" (an environment
    variable holding base64 of 32 bytes) or "transit" (OpenBao/Vault Transit).
    Env: ENCORD_GATEWAY_VAULT_KEK_SOURCE."""

    key_file: Path | None = None
    """The key file of the "file" KEK; default `<vault dir>/vault.key`. Env: ENCORD_GATEWAY_VAULT_KEY_FILE."""

    kek_variable: str = DEFAULT_KEK_ENV
    """Name of the variable the "env" KEK reads (default ENCORD_GATEWAY_VAULT_KEK); generate a value
    with `python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'`.
    Env: ENCORD_GATEWAY_VAULT_KEK_VARIABLE."""

    openbao_addr: str = ""
    """OpenBao/Vault address for the "openbao" backend and the "transit" KEK, e.g. https://bao:8200.
    Env: ENCORD_GATEWAY_OPENBAO_ADDR, else BAO_ADDR, else VAULT_ADDR."""

    openbao_token: str = field(default="", repr=False)
    """OpenBao token (never shown). Env: ENCORD_GATEWAY_OPENBAO_TOKEN, else BAO_TOKEN, else VAULT_TOKEN."""

    kv_mount: str = DEFAULT_KV_MOUNT
    """KV v2 mount of the "openbao" backend (default "secret"). Env: ENCORD_GATEWAY_OPENBAO_KV_MOUNT."""

    kv_prefix: str = DEFAULT_KV_PREFIX
    """Folder under the KV mount holding this installation (default "encord-gateway").
    Env: ENCORD_GATEWAY_OPENBAO_KV_PREFIX."""

    transit_mount: str = DEFAULT_TRANSIT_MOUNT
    """Transit mount of the "transit" KEK (default "transit"). Env: ENCORD_GATEWAY_OPENBAO_TRANSIT_MOUNT."""

    transit_key: str = DEFAULT_TRANSIT_KEY
    """Transit key name (default "encord-gateway"; created on first start when missing).
    Env: ENCORD_GATEWAY_OPENBAO_TRANSIT_KEY."""

    openbao_timeout: float = 5.0
    """Seconds per OpenBao request, so that a stuck OpenBao cannot hang the gateway.
    Env: ENCORD_GATEWAY_OPENBAO_TIMEOUT."""

    rotate_after: int = DEFAULT_ROTATE_AFTER
    """Encryptions under one barrier term before the vault rotates on its own (default 2^20, far
    below GCM's 2^32 random-nonce limit). Env: ENCORD_GATEWAY_VAULT_ROTATE_AFTER."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise VaultError(f"unknown vault backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.kek_source not in KEK_SOURCES:
            raise VaultError(f"unknown KEK source {self.kek_source!r}; choose one of {', '.join(KEK_SOURCES)}")
        if not 1 <= self.rotate_after < 2**32:
            raise VaultError("rotate_after must be between 1 and 2^32 - 1")
        needs_openbao = self.backend == "openbao" or self.kek_source == "transit"
        if needs_openbao and not self.openbao_addr:
            raise VaultError(f"the OpenBao backend and Transit KEK need an address: set {ENV_OPENBAO_ADDR}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VaultConfig:
        env = os.environ if environ is None else environ

        def get(name: str, *fallbacks: str) -> str | None:
            for key in (name, *fallbacks):
                value = env.get(key)
                if value:
                    return value
            return None

        def number(name: str, convert: Callable[[str], float | int], default: float | int) -> float | int:
            value = get(name)
            if value is None:
                return default
            try:
                return convert(value)
            except ValueError:
                raise VaultError(f"{name} must be a number, not {value!r}") from None

        key_file = get(ENV_KEY_FILE)
        return cls(
            backend=get(ENV_BACKEND) or "sqlite",
            kek_source=get(ENV_KEK_SOURCE) or "file",
            key_file=Path(key_file) if key_file else None,
            kek_variable=get(ENV_KEK_VARIABLE) or DEFAULT_KEK_ENV,
            openbao_addr=get(ENV_OPENBAO_ADDR, "BAO_ADDR", "VAULT_ADDR") or "",
            openbao_token=get(ENV_OPENBAO_TOKEN, "BAO_TOKEN", "VAULT_TOKEN") or "",
            kv_mount=get(ENV_KV_MOUNT) or DEFAULT_KV_MOUNT,
            kv_prefix=get(ENV_KV_PREFIX) or DEFAULT_KV_PREFIX,
            transit_mount=get(ENV_TRANSIT_MOUNT) or DEFAULT_TRANSIT_MOUNT,
            transit_key=get(ENV_TRANSIT_KEY) or DEFAULT_TRANSIT_KEY,
            openbao_timeout=float(number(ENV_OPENBAO_TIMEOUT, float, 5.0)),
            rotate_after=int(number(ENV_ROTATE_AFTER, int, DEFAULT_ROTATE_AFTER)),
        )

    def open_backend(self, directory: Path) -> Backend:
        """The configured backend; OpenBao is not contacted here (unreachable means sealed, not a crash)."""
        if self.backend == "openbao":
            return OpenBaoKvStore.connect(
                self.openbao_addr,
                self.openbao_token,
                mount=self.kv_mount,
                prefix=self.kv_prefix,
                timeout=self.openbao_timeout,
            )
        return SQLiteStore.open(directory / DATABASE_FILE)

    def describe_kek(self, directory: Path) -> str:
        """The configured KEK in words (what `status()` shows while sealed); never the key."""
        if self.kek_source == "env":
            return f"environment variable {self.kek_variable}"
        if self.kek_source == "transit":
            return f"OpenBao Transit key {self.transit_mount}/{self.transit_key} at {self.openbao_addr}"
        return f"key file {self.key_file if self.key_file is not None else directory / KEY_FILE}"

    def load_kek(self, directory: Path, *, initialised: bool) -> KeyEncryptionKey:
        """The configured KEK, or `SealedError` saying what would unseal the vault.

        Only an uninitialised vault gets a new key file (or Transit key): a fresh key could never
        unseal a keyring someone else wrapped.
        """
        if self.kek_source == "env":
            return EnvironmentKek.load(self.kek_variable)
        if self.kek_source == "transit":
            kek = TransitKek.connect(
                self.openbao_addr,
                self.openbao_token,
                mount=self.transit_mount,
                key=self.transit_key,
                timeout=self.openbao_timeout,
            )
            if not initialised:
                kek.ensure_key()
            return kek
        path = self.key_file if self.key_file is not None else directory / KEY_FILE
        return LocalKeyFileKek.load(path) if initialised else LocalKeyFileKek.create(path)
