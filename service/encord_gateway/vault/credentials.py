"""The Vault: organisation Ed25519 keys stored under the barrier, handed out only as signers."""

from __future__ import annotations

import base64
import binascii
import secrets
import struct
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from encord_gateway.upstream.signing import KeyFormatError, Signer, describe_public_key, load_private_key
from encord_gateway.vault.barrier import Barrier, Keyring, RecordIdentity
from encord_gateway.vault.errors import (
    BarrierError,
    CredentialCorruptError,
    CredentialExistsError,
    CredentialNotFoundError,
    InvalidKeyError,
    InvalidNameError,
)
from encord_gateway.vault.files import ensure_private_directory
from encord_gateway.vault.kek import KeyEncryptionKey, LocalKeyFileKek
from encord_gateway.vault.store import Backend, SQLiteStore, StoredRecord

DATABASE_FILE = "vault.db"
KEY_FILE = "vault.key"

KIND_ORG_SSH_KEY = "org_ssh_key"
"""Record kind of an organisation's Ed25519 key; its plaintext is the raw 32-byte private seed."""

STATE_ACTIVE = "active"
MAX_NAME_LENGTH = 256

_OPENSSH_MAGIC = b"openssh-key-v1\x00"


@dataclass(frozen=True)
class OrgKeyInfo:
    """What may be shown about a stored organisation key: identifiers and public half only."""

    credential_id: str
    organisation: str
    public_key_hex: str
    fingerprint: str
    public_key_openssh: str
    created_at: datetime
    state: str


def validate_name(value: str, what: str) -> str:
    """Names end up in logs, ids and associated data: refuse empty, huge or control-character ones."""
    if not value or not value.strip():
        raise InvalidNameError(f"{what} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"{what} must be at most {MAX_NAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in value) or value != value.strip():
        raise InvalidNameError(f"{what} must not contain control characters or surrounding spaces")
    return value


def key_is_encrypted(text: bytes) -> bool:
    """Whether a private key file is passphrase-protected, judged from its structure, not by trying."""
    if b"BEGIN ENCRYPTED PRIVATE KEY" in text or b"Proc-Type: 4,ENCRYPTED" in text:
        return True
    begin, end = b"-----BEGIN OPENSSH PRIVATE KEY-----", b"-----END OPENSSH PRIVATE KEY-----"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return False
    try:
        blob = base64.b64decode(b"".join(text[start + len(begin) : stop].split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not blob.startswith(_OPENSSH_MAGIC) or len(blob) < len(_OPENSSH_MAGIC) + 4:
        return False
    (length,) = struct.unpack_from(">I", blob, len(_OPENSSH_MAGIC))
    cipher = blob[len(_OPENSSH_MAGIC) + 4 : len(_OPENSSH_MAGIC) + 4 + length]
    return cipher != b"none"


def _parse_private_key(text: bytes, passphrase: bytes | None) -> Ed25519PrivateKey:
    try:
        try:
            return load_private_key(text, passphrase)
        except KeyFormatError as exc:
            failure = str(exc)
            if key_is_encrypted(text):
                # A wrong passphrase shows up from cryptography as a bad checkpoint ("unreadable").
                failure = "cannot load private key: the key is passphrase-protected and " + (
                    "the passphrase is wrong" if passphrase else "no passphrase was given"
                )
        # A passphrase offered for an unprotected key (a globally set env variable) is harmless.
        if passphrase is not None and not key_is_encrypted(text):
            try:
                return load_private_key(text, None)
            except KeyFormatError:
                pass
    except UnsupportedAlgorithm:
        # cryptography decrypts OpenSSH keys (bcrypt-pbkdf) only when the bcrypt package is present.
        raise InvalidKeyError(
            "this passphrase-protected key needs the 'bcrypt' package, which is not installed"
        ) from None
    raise InvalidKeyError(failure)


class Vault:
    """Organisation keys at rest under the barrier; the only way out is a `Signer`.

    Thread-safe: the gateway may call it from executor threads.
    """

    def __init__(self, store: Backend, barrier: Barrier, kek: KeyEncryptionKey) -> None:
        self._store = store
        self._barrier = barrier
        self._kek = kek
        self._lock = threading.Lock()

    @classmethod
    def open(cls, directory: Path) -> Vault:
        """Open (creating on first use) the vault in `directory`: vault.db and vault.key, both 0600."""
        directory = Path(directory)
        ensure_private_directory(directory)
        store = SQLiteStore.open(directory / DATABASE_FILE)
        try:
            key_path = directory / KEY_FILE
            wrapped = store.get_keyring()
            if wrapped is None:
                kek = LocalKeyFileKek.create(key_path)
                # Two first openers race here; both end up with the keyring that was stored first.
                wrapped = store.create_keyring(kek.wrap(Keyring.create().to_bytes()))
            else:
                # Never create a key file for an initialised vault: a fresh key cannot unseal it.
                kek = LocalKeyFileKek.load(key_path)
            keyring = Keyring.from_bytes(kek.unwrap(wrapped))
        except BaseException:
            store.close()
            raise
        barrier = Barrier(keyring, persist=lambda ring: store.put_keyring(kek.wrap(ring.to_bytes())))
        return cls(store, barrier, kek)

    def add_org_key(self, organisation: str, private_key_text: bytes, passphrase: bytes | None = None) -> OrgKeyInfo:
        """Store an organisation's Ed25519 key (OpenSSH or PEM, optionally passphrase-protected).

        Adding the key the organisation already holds returns the existing record.
        """
        validate_name(organisation, "organisation")
        return self._store_org_key(organisation, _parse_private_key(private_key_text, passphrase))

    def generate_org_key(self, organisation: str) -> OrgKeyInfo:
        """Create a new key inside the vault (its private half is never seen by anyone)."""
        validate_name(organisation, "organisation")
        return self._store_org_key(organisation, Ed25519PrivateKey.generate())

    def signer_for_org(self, organisation: str) -> Signer:
        record = self._active_record(organisation)
        if record is None:
            raise CredentialNotFoundError(f"no key is registered for organisation {organisation!r}")
        corrupt = (
            f"key {record.id} of organisation {organisation!r} failed its integrity check and will not "
            "be used; re-register the key or restore the vault from a backup"
        )
        try:
            seed = self._barrier.decrypt(record.identity, record.ciphertext)
            signer = Signer(Ed25519PrivateKey.from_private_bytes(seed))
        except (BarrierError, ValueError):
            raise CredentialCorruptError(corrupt) from None
        # The metadata is stored in the clear; a key that does not match it means someone swapped
        # records or edited metadata, and Encord would reject the signature anyway.
        if signer.public_key_hex != record.metadata.get("public_key_hex"):
            raise CredentialCorruptError(corrupt)
        return signer

    def list_org_keys(self) -> list[OrgKeyInfo]:
        return [_info(record) for record in self._store.list_records(KIND_ORG_SSH_KEY)]

    def organisations(self) -> list[str]:
        return sorted({info.organisation for info in self.list_org_keys() if info.state == STATE_ACTIVE})

    def rotate_key(self) -> int:
        """Add a barrier key term (persisted before use); returns it. Existing records still decrypt."""
        return self._barrier.rotate()

    @property
    def key_term(self) -> int:
        """The active barrier key term."""
        return self._barrier.active_term

    def close(self) -> None:
        self._barrier.seal()
        self._store.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault(kek={self._kek.description!r}, sealed={self._barrier.sealed})"

    def _active_record(self, organisation: str) -> StoredRecord | None:
        records = self._store.list_records(KIND_ORG_SSH_KEY, organisation)
        active = [r for r in records if r.metadata.get("state") == STATE_ACTIVE]
        return max(active, key=lambda r: str(r.metadata.get("created_at", "")), default=None)

    def _store_org_key(self, organisation: str, key: Ed25519PrivateKey) -> OrgKeyInfo:
        public = describe_public_key(key.public_key())
        with self._lock:
            current = self._active_record(organisation)
            if current is not None:
                if current.metadata.get("public_key_hex") == public.public_key_hex:
                    return _info(current)
                raise CredentialExistsError(
                    f"organisation {organisation!r} already has an active key "
                    f"({current.metadata.get('fingerprint')}); replacing it is key rotation, "
                    "which this version of the vault does not offer yet"
                )
            identity = RecordIdentity(KIND_ORG_SSH_KEY, organisation, f"sshkey_{secrets.token_hex(8)}", 1)
            seed = key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            metadata: dict[str, Any] = {
                "public_key_hex": public.public_key_hex,
                "fingerprint": public.fingerprint,
                "public_key_openssh": public.openssh,
                "created_at": datetime.now(UTC).isoformat(),
                "state": STATE_ACTIVE,
            }
            record = StoredRecord(
                identity.kind,
                identity.organisation,
                identity.id,
                identity.version,
                metadata,
                self._barrier.encrypt(identity, seed),
            )
            self._store.put_record(record, cas=0)
            return _info(record)


def _info(record: StoredRecord) -> OrgKeyInfo:
    meta = record.metadata
    return OrgKeyInfo(
        credential_id=record.id,
        organisation=record.organisation,
        public_key_hex=str(meta.get("public_key_hex", "")),
        fingerprint=str(meta.get("fingerprint", "")),
        public_key_openssh=str(meta.get("public_key_openssh", "")),
        created_at=_parse_time(meta.get("created_at")),
        state=str(meta.get("state", "")),
    )


def _parse_time(value: object) -> datetime:
    # Metadata is not authenticated; a mangled timestamp must not make the whole listing fail.
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
