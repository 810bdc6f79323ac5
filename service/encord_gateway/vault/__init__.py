"""The credential vault: organisation keys encrypted at rest, handed out only as signers."""

from encord_gateway.vault.credentials import OrgKeyInfo, Vault, key_is_encrypted
from encord_gateway.vault.errors import (
    BarrierError,
    CredentialCorruptError,
    CredentialExistsError,
    CredentialNotFoundError,
    InsecureFileError,
    InvalidKeyError,
    InvalidNameError,
    SealedError,
    StoreConflictError,
    VaultError,
)

__all__ = [
    "BarrierError",
    "CredentialCorruptError",
    "CredentialExistsError",
    "CredentialNotFoundError",
    "InsecureFileError",
    "InvalidKeyError",
    "InvalidNameError",
    "OrgKeyInfo",
    "SealedError",
    "StoreConflictError",
    "Vault",
    "VaultError",
    "key_is_encrypted",
]
