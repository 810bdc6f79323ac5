"""The Vault: organisation SSH keys and resource API keys under the barrier, handed out only as signers."""

from __future__ import annotations

import base64
import binascii
import hmac
import importlib.util
import json
import logging
import secrets
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from encord_gateway.upstream.signing import KeyFormatError, Signer, describe_public_key, load_private_key
from encord_gateway.vault.barrier import FORMAT_VERSION, Barrier, Keyring, RecordIdentity
from encord_gateway.vault.config import VaultConfig
from encord_gateway.vault.errors import (
    BackendUnavailableError,
    BarrierError,
    CredentialCorruptError,
    CredentialExistsError,
    CredentialNotFoundError,
    CredentialStateError,
    InvalidArgumentError,
    InvalidKeyError,
    InvalidNameError,
    InvalidScopeError,
    SealedError,
    StoreConflictError,
    VaultError,
)
from encord_gateway.vault.files import ensure_private_directory
from encord_gateway.vault.kek import KeyEncryptionKey
from encord_gateway.vault.store import Backend, StoredRecord

KIND_ORG_SSH_KEY = "org_ssh_key"
"""Record kind of an organisation's Ed25519 key; its plaintext is the raw 32-byte private seed."""

KIND_RESOURCE_API_KEY = "resource_api_key"
"""Record kind of a project or dataset API key; its plaintext is the key's UTF-8 text."""

CREDENTIAL_KINDS = (KIND_ORG_SSH_KEY, KIND_RESOURCE_API_KEY)

STATE_PENDING = "pending"
STATE_ACTIVE = "active"
STATE_RETIRING = "retiring"
STATE_REVOKED = "revoked"
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
    # The PEM armour lines, split so that secret scanners do not take this parser for a key.
    begin, end = b"-----BEGIN OPENSSH " + b"PRIVATE KEY-----", b"-----END OPENSSH " + b"PRIVATE KEY-----"
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
        # cryptography decrypts OpenSSH keys (bcrypt-pbkdf) only when the bcrypt package is present;
        # any other unsupported algorithm is a damaged or foreign key, not a missing package.
        if key_is_encrypted(text) and not _bcrypt_available():
            raise InvalidKeyError(
                "this passphrase-protected key needs the 'bcrypt' package, which is not installed"
            ) from None
        raise InvalidKeyError("cannot load private key: unreadable or unsupported key (Ed25519 expected)") from None
    raise InvalidKeyError(failure)


def _bcrypt_available() -> bool:
    return importlib.util.find_spec("bcrypt") is not None


RESOURCE_SCOPES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "project": ("label.read", "label.write", "model.inference", "model.train", "label_logs.read", "algo.library"),
        "dataset": ("dataset.read", "dataset.write"),
    }
)
"""The scopes Encord defines per resource API key kind (wire document §6.4); nothing else is accepted."""

MAX_API_KEY_LENGTH = 4096
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
LAST_USED_FLUSH_SECONDS = 60.0
"""How often "last used" times reach storage: a credential is used on every upstream call, and a
durable write per call would cost more than the call's signature. Losing up to this much "last used"
history in a crash is harmless (it is advisory metadata)."""

_RECORDS_META = "records_format"
"""Set to the barrier's FORMAT_VERSION once every record binds its metadata (a new vault, or after
`rewrap`); from then on a record in the old, unbound format is refused rather than trusted."""
_USAGE_META = "barrier_usage"
_LAST_USED_META = "last_used"
_MAX_CAS_RETRIES = 5

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CredentialInfo:
    """Metadata of any stored credential (SSH key or resource API key); never its secret."""

    credential_id: str
    organisation: str
    kind: str
    """KIND_ORG_SSH_KEY or KIND_RESOURCE_API_KEY."""
    state: str
    """pending (a rotation's new key, not yet verified), active, retiring (the old key during a
    rotation; still used), or revoked (its secret destroyed)."""
    created_at: datetime
    last_used_at: datetime | None
    public_key_hex: str = ""
    fingerprint: str = ""
    resource_type: str = ""
    resource_hash: str = ""
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CredentialPage:
    """One page of `list_credentials`; an empty `next_page_token` means this was the last page."""

    credentials: list[CredentialInfo]
    next_page_token: str


@dataclass(frozen=True)
class VaultStatus:
    """What GetVaultStatus reports: seal state, where data lives, and the barrier's key terms."""

    sealed: bool
    seal_reason: str
    """Why the vault is sealed and what would unseal it; empty when unsealed."""
    backend: str
    """Backend name: "sqlite" or "openbao-kv"."""
    backend_location: str
    kek: str
    """Which key-encryption key wraps (or would unwrap) the keyring."""
    terms: int
    """Number of key terms in the keyring (0 while sealed)."""
    active_term: int
    """The term new values are encrypted under (0 while sealed)."""
    encryptions_under_active_term: int
    """An upper bound: counted durably in blocks, so a restart may add up to one block."""
    rotate_after: int


@dataclass(frozen=True)
class RewrapResult:
    """What a rewrap did: records re-encrypted, already current, and (by id) unreadable ones left alone."""

    rewrapped: int
    current: int
    failed: tuple[str, ...]


class ApiKeyCredential:
    """A resource API key ready for one upstream call; repr and str never show the key."""

    __slots__ = ("_key", "credential_id", "organisation", "resource_hash", "resource_type", "scopes")

    def __init__(
        self,
        credential_id: str,
        organisation: str,
        resource_type: str,
        resource_hash: str,
        scopes: tuple[str, ...],
        key: str,
    ) -> None:
        self.credential_id = credential_id
        self.organisation = organisation
        self.resource_type = resource_type
        self.resource_hash = resource_hash
        self.scopes = scopes
        self._key = key

    def authorization_header(self) -> str:
        """The `Authorization` value of a legacy API-key call: the raw key, no scheme (wire §2)."""
        return self._key

    def __repr__(self) -> str:
        return (
            f"ApiKeyCredential(credential_id={self.credential_id!r}, organisation={self.organisation!r}, "
            f"resource={self.resource_type}/{self.resource_hash}, scopes={list(self.scopes)!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would write the key wherever the pickle goes (a cache, a queue): refuse.
        raise TypeError("ApiKeyCredential cannot be pickled")


class Vault:
    """Credentials at rest under the barrier; the only ways out are a `Signer` or an `ApiKeyCredential`.

    Opens sealed when its key-encryption key is unavailable: metadata stays readable, every use of
    a secret raises `SealedError`, and `try_unseal()` (called periodically by the gateway) retries.
    Thread-safe: the gateway may call it from executor threads.
    """

    def __init__(self, store: Backend, config: VaultConfig, directory: Path) -> None:
        self._store = store
        self._config = config
        self._directory = directory
        self._kek: KeyEncryptionKey | None = None
        self._wrapped: bytes | None = None
        self._seal_reason = "the vault has not been unsealed yet"
        self._metadata_bound = False  # whether unbound (pre-binding) records are refused; read when unsealing
        # Re-entrant: a write that holds it may trigger an automatic rotation, which takes it too.
        self._lock = threading.RLock()
        self._barrier = Barrier(persist=self._persist_keyring, reserve=self._reserve_encryptions)
        self._usage_lock = threading.Lock()
        self._last_used: dict[str, datetime] = {}
        self._last_used_dirty = False
        self._last_used_flushed = time.monotonic()
        self.last_used_flush_seconds = LAST_USED_FLUSH_SECONDS

    @classmethod
    def open(cls, directory: Path, config: VaultConfig | None = None) -> Vault:
        """Open (creating on first use) the vault whose local files live in `directory`.

        `config` defaults to `VaultConfig.from_env()` (SQLite + key file unless configured otherwise).
        A missing or unreachable KEK does not fail: the vault opens sealed. A loose file
        permission does fail (`InsecureFileError`): the gateway must not start on it.
        """
        config = VaultConfig.from_env() if config is None else config
        directory = Path(directory)
        ensure_private_directory(directory)
        store = config.open_backend(directory)
        vault = cls(store, config, directory)
        try:
            vault.try_unseal()
        except BaseException:
            store.close()
            raise
        return vault

    # --- seal ------------------------------------------------------------------------------------

    @property
    def sealed(self) -> bool:
        return self._barrier.sealed

    def try_unseal(self) -> bool:
        """Load the KEK and unwrap the keyring (initialising a new vault); True when unsealed.

        While the KEK is unavailable this records why (see `status().seal_reason`) and returns False.
        """
        with self._lock:
            if not self._barrier.sealed:
                return True
            try:
                wrapped = self._store.get_keyring()
                kek = self._config.load_kek(self._directory, initialised=wrapped is not None)
                if wrapped is None:
                    # Two first openers race here; both end up with the keyring that was stored first.
                    wrapped = self._store.create_keyring(kek.wrap(Keyring.create().to_bytes()))
                    self._store.put_meta(_RECORDS_META, str(FORMAT_VERSION))  # a new vault never held unbound records
                keyring = Keyring.from_bytes(kek.unwrap(wrapped))
                encryptions = self._stored_encryptions(keyring.active_term)
                self._metadata_bound = self._store.get_meta(_RECORDS_META) == str(FORMAT_VERSION)
            except (SealedError, BackendUnavailableError, BarrierError) as exc:
                self._seal_reason = str(exc)
                logger.warning("credential vault is sealed: %s", exc)
                return False
            self._kek, self._wrapped, self._seal_reason = kek, wrapped, ""
            self._barrier.unseal(keyring, encryptions=encryptions)
            return True

    def status(self) -> VaultStatus:
        keyring = None if self._barrier.sealed else self._barrier.keyring
        return VaultStatus(
            sealed=keyring is None,
            seal_reason=self._seal_reason if keyring is None else "",
            backend=self._store.name,
            backend_location=self._store.description,
            kek=self._kek.description if self._kek is not None else self._config.describe_kek(self._directory),
            terms=0 if keyring is None else len(keyring.terms),
            active_term=0 if keyring is None else keyring.active_term,
            encryptions_under_active_term=0 if keyring is None else self._barrier.encryptions,
            rotate_after=self._config.rotate_after,
        )

    # --- barrier maintenance ---------------------------------------------------------------------

    def rotate_key(self) -> int:
        """Add a barrier key term (persisted before use); returns it. Existing records still decrypt."""
        with self._lock:
            for _ in range(_MAX_CAS_RETRIES):
                self._refresh_keyring()
                try:
                    return self._barrier.rotate()
                except StoreConflictError:
                    continue  # another process rotated between our read and our write: adopt, retry
            raise StoreConflictError("the keyring kept changing during rotation; try again")

    @property
    def key_term(self) -> int:
        """The active barrier key term."""
        return self._barrier.active_term

    def rewrap(self) -> RewrapResult:
        """Re-encrypt every record not under the active term, or not binding its metadata (version + 1, CAS).

        This is also the migration of records written before metadata was bound to the ciphertext: once none
        is left, the vault refuses that old format for good.
        """
        self._require_unsealed()
        rewrapped, current, failed = 0, 0, []
        for record in self._store.list_records():
            found: StoredRecord | None = record
            for _ in range(_MAX_CAS_RETRIES):
                if found is None:
                    break
                up_to_date = Barrier.format_of(found.ciphertext) == FORMAT_VERSION
                if up_to_date and Barrier.term_of(found.ciphertext) == self._barrier.active_term:
                    current += 1
                    break
                try:
                    self._rewrite(found, found.metadata)
                    rewrapped += 1
                    break
                except StoreConflictError:  # changed under us: re-read; it may now be current or gone
                    found = self._store.get_record(record.kind, record.organisation, record.id)
                except CredentialCorruptError:
                    failed.append(record.id)
                    break
        if not failed and not self._metadata_bound:
            self._store.put_meta(_RECORDS_META, str(FORMAT_VERSION))
            self._metadata_bound = True
        return RewrapResult(rewrapped, current, tuple(failed))

    # --- organisation SSH keys -------------------------------------------------------------------

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
        """The organisation's signer: its active key, else (mid-rotation) its retiring one."""
        credential_id, signer = self.signing_key_for_org(organisation)
        self.record_use(credential_id)
        return signer

    def signing_key_for_org(self, organisation: str) -> tuple[str, Signer]:
        """The id and signer of the key `signer_for_org` uses, reading that organisation's records only
        (the credential resolver's lookup: its cost does not grow with the number of organisations)."""
        self._require_unsealed()
        records = self._org_records(organisation)
        record = _newest(records, STATE_ACTIVE) or _newest(records, STATE_RETIRING)
        if record is None:
            raise CredentialNotFoundError(f"no key is registered for organisation {organisation!r}")
        return record.id, self._signer(record)

    def signer_for_credential(self, credential_id: str) -> Signer:
        """The signer of one SSH key by id (a rotation's pending key for the canary call, for example)."""
        self._require_unsealed()
        record = self._find(credential_id)
        if record is None or record.kind != KIND_ORG_SSH_KEY:
            raise CredentialNotFoundError(f"no organisation key has id {credential_id!r}")
        if record.metadata.get("state") == STATE_REVOKED:
            raise CredentialStateError(f"key {credential_id} is revoked and can no longer sign")
        signer = self._signer(record)
        self.record_use(record.id)
        return signer

    def list_org_keys(self) -> list[OrgKeyInfo]:
        return [_info(record) for record in self._store.list_records(KIND_ORG_SSH_KEY)]

    def organisations(self) -> list[str]:
        usable = (STATE_ACTIVE, STATE_RETIRING)
        return sorted({info.organisation for info in self.list_org_keys() if info.state in usable})

    def begin_org_key_rotation(
        self, organisation: str, new_private_key_text: bytes | None = None, passphrase: bytes | None = None
    ) -> OrgKeyInfo:
        """Store a new key as "pending" and mark the current one "retiring"; both sign during the overlap.

        `signer_for_org` keeps using the retiring key until `complete_org_key_rotation`, so traffic
        never depends on a key Encord has not accepted yet; `signer_for_credential(<new id>)` gives
        the new key for the canary call. Without key text, a new key is generated in the vault.
        """
        validate_name(organisation, "organisation")
        key = (
            Ed25519PrivateKey.generate()
            if new_private_key_text is None
            else _parse_private_key(new_private_key_text, passphrase)
        )
        public = describe_public_key(key.public_key())
        with self._lock:
            self._require_unsealed()
            records = self._org_records(organisation)
            pending = _newest(records, STATE_PENDING)
            if pending is not None:
                raise CredentialStateError(
                    f"organisation {organisation!r} is already rotating to key {pending.id}: a RotateOrganisationKey "
                    "(or `encord-gateway vault rotate-org-key`) is in progress; retry once it has finished"
                )
            current = _newest(records, STATE_ACTIVE)
            if current is None:
                raise CredentialNotFoundError(
                    f"organisation {organisation!r} has no active key to rotate; register one with RegisterOrganisationKey "
                    f"(POST /admin/v1/organisations/{organisation}/keys) or `encord-gateway vault add-org-key`"
                )
            if current.metadata.get("public_key_hex") == public.public_key_hex:
                raise CredentialExistsError(f"the new key of {organisation!r} is the key it already uses")
            # New key first: a crash between the two writes leaves the old key active, which is safe.
            new = self._insert_org_key(organisation, key, STATE_PENDING)
            self._set_state(current, STATE_RETIRING)
            return _info(new)

    def complete_org_key_rotation(self, organisation: str) -> OrgKeyInfo:
        """Make the pending key active and revoke every other key of the organisation."""
        with self._lock:
            self._require_unsealed()
            pending = _newest(self._org_records(organisation), STATE_PENDING)
            if pending is None:
                raise CredentialStateError(f"organisation {organisation!r} has no key rotation in progress")
            self._signer(pending)  # never promote a key that does not decrypt
            # Promote first: with both keys briefly active, the newest one (this one) signs.
            promoted = self._set_state(pending, STATE_ACTIVE)
            for record in self._org_records(organisation):
                if record.id != promoted.id and record.metadata.get("state") != STATE_REVOKED:
                    self._revoke(record)
            return _info(promoted)

    def abort_org_key_rotation(self, organisation: str) -> OrgKeyInfo:
        """Revoke the pending key (its canary failed) and make the retiring key active again."""
        with self._lock:
            self._require_unsealed()
            records = self._org_records(organisation)
            pending = _newest(records, STATE_PENDING)
            retiring = _newest(records, STATE_RETIRING)
            if pending is None or retiring is None:
                raise CredentialStateError(f"organisation {organisation!r} has no key rotation in progress")
            restored = self._set_state(retiring, STATE_ACTIVE)
            self._revoke(pending)
            return _info(restored)

    # --- resource API keys -----------------------------------------------------------------------

    def register_resource_api_key(
        self, organisation: str, resource_type: str, resource_hash: str, api_key: str, scopes: Sequence[str]
    ) -> CredentialInfo:
        """Store a project or dataset API key with its scopes; returns its metadata only.

        Registering the same key again with the same scopes returns the existing record.
        """
        validate_name(organisation, "organisation")
        validate_name(resource_hash, "resource hash")
        wanted = validate_scopes(resource_type, scopes)
        secret = _validate_api_key(api_key)
        with self._lock:
            self._require_unsealed()
            for record in self._api_key_records(organisation, resource_type, resource_hash):
                try:
                    stored = self._decrypt(record)
                except CredentialCorruptError:
                    continue
                if hmac.compare_digest(stored, secret):
                    if tuple(record.metadata.get("scopes", ())) == wanted:
                        return self._credential_info(record)
                    raise CredentialExistsError(
                        f"this key is already registered as {record.id} with scopes "
                        f"{', '.join(record.metadata.get('scopes', ()))}; revoke it to register it again"
                    )
            identity = RecordIdentity(KIND_RESOURCE_API_KEY, organisation, f"apikey_{secrets.token_hex(8)}", 1)
            metadata: dict[str, Any] = {
                "resource_type": resource_type,
                "resource_hash": resource_hash,
                "scopes": list(wanted),
                "created_at": datetime.now(UTC).isoformat(),
                "state": STATE_ACTIVE,
            }
            record = self._new_record(identity, metadata, secret)
            self._store.put_record(record, cas=0)
            return self._credential_info(record)

    def api_key_for(
        self, organisation: str, resource_type: str, resource_hash: str, scope: str
    ) -> ApiKeyCredential | None:
        """The newest active API key of that resource holding `scope` (any key for scope ""), or None."""
        self._require_unsealed()
        candidates = [
            record
            for record in self._api_key_records(organisation, resource_type, resource_hash)
            if record.metadata.get("state") == STATE_ACTIVE
            and (not scope or scope in record.metadata.get("scopes", ()))
        ]
        record = max(candidates, key=lambda r: str(r.metadata.get("created_at", "")), default=None)
        if record is None:
            return None
        key = self._decrypt(record)
        self.record_use(record.id)
        return ApiKeyCredential(
            record.id,
            organisation,
            resource_type,
            resource_hash,
            tuple(record.metadata.get("scopes", ())),
            key.decode("utf-8"),
        )

    # --- every credential ------------------------------------------------------------------------

    def list_credentials(
        self, organisation: str | None = None, page_size: int = DEFAULT_PAGE_SIZE, page_token: str = ""
    ) -> CredentialPage:
        """Metadata of every credential (SSH keys and API keys), ordered by (organisation, kind, id)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgumentError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        after = _decode_page_token(page_token)
        records = [
            r
            for r in self._store.list_records(None, organisation)
            if r.kind in CREDENTIAL_KINDS and (after is None or (r.organisation, r.kind, r.id) > after)
        ]
        records.sort(key=lambda r: (r.organisation, r.kind, r.id))
        page = records[:page_size]
        token = ""
        if len(records) > page_size:
            last = page[-1]
            token = _encode_page_token((last.organisation, last.kind, last.id))
        return CredentialPage([self._credential_info(r) for r in page], token)

    def revoke_credential(self, credential_id: str) -> CredentialInfo:
        """Revoke any credential by id: it is never used again and its secret is destroyed in storage."""
        with self._lock:
            self._require_unsealed()
            record = self._find(credential_id)
            if record is None:
                raise CredentialNotFoundError(f"no credential has id {credential_id!r}")
            if record.metadata.get("state") != STATE_REVOKED:
                record = self._revoke(record)
            return self._credential_info(record)

    def record_use(self, credential_id: str) -> None:
        """Note that a credential was just used; reaches storage at most every `last_used_flush_seconds`."""
        with self._usage_lock:
            self._last_used[credential_id] = datetime.now(UTC)
            self._last_used_dirty = True
            due = time.monotonic() - self._last_used_flushed >= self.last_used_flush_seconds
        if due:
            self.flush_last_used()

    def flush_last_used(self) -> None:
        """Write pending "last used" times now (merged with what other replicas wrote)."""
        with self._usage_lock:
            if not self._last_used_dirty:
                return
            pending = dict(self._last_used)
            self._last_used_dirty = False
            self._last_used_flushed = time.monotonic()
        try:
            merged = self._stored_last_used()
            for credential_id, when in pending.items():
                if credential_id not in merged or merged[credential_id] < when:
                    merged[credential_id] = when
            self._store.put_meta(_LAST_USED_META, json.dumps({k: v.isoformat() for k, v in sorted(merged.items())}))
        except VaultError as exc:  # advisory metadata: keep it for the next flush, never fail a call
            with self._usage_lock:
                self._last_used_dirty = True
            logger.warning("could not record credential last-used times: %s", exc)

    # --- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._barrier.sealed:
            self.flush_last_used()
        self._barrier.seal()
        self._store.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault(backend={self._store.name!r}, sealed={self._barrier.sealed})"

    # --- internals -------------------------------------------------------------------------------

    def _require_unsealed(self) -> None:
        if self._barrier.sealed:
            raise SealedError(f"sealed by {self.status().kek}: {self._seal_reason}")

    def _persist_keyring(self, keyring: Keyring) -> None:
        if self._kek is None:
            raise SealedError("the vault is sealed: no key-encryption key to wrap the keyring with")
        wrapped = self._kek.wrap(keyring.to_bytes())
        self._store.put_keyring(wrapped, previous=self._wrapped)
        self._wrapped = wrapped
        self._store.put_meta(_USAGE_META, json.dumps({"term": keyring.active_term, "encryptions": 0}))

    def _reserve_encryptions(self, term: int, block: int) -> int:
        """Add `block` to the shared count of encryptions under `term`, atomically across replicas; the new total."""

        def add(raw: str | None) -> str:
            try:
                usage = json.loads(raw) if raw else {}
                stored = int(usage["encryptions"]) if usage.get("term") == term else 0
            except (ValueError, KeyError, TypeError, AttributeError):
                stored = self._config.rotate_after  # unreadable: assume the worst, so the term rotates soon
            return json.dumps({"term": term, "encryptions": stored + block})

        return int(json.loads(self._store.update_meta(_USAGE_META, add))["encryptions"])

    def _stored_encryptions(self, active_term: int) -> int:
        raw = self._store.get_meta(_USAGE_META)
        try:
            usage = json.loads(raw) if raw else {}
            return int(usage["encryptions"]) if usage.get("term") == active_term else 0
        except (ValueError, KeyError, TypeError, AttributeError):
            # Unreadable counter: assume the worst, so the next encryption rotates.
            return self._config.rotate_after

    def _refresh_keyring(self) -> None:
        """Adopt the stored keyring when another process rotated it (we must decrypt its new term)."""
        self._require_unsealed()
        wrapped = self._store.get_keyring()
        if wrapped is None or wrapped == self._wrapped or self._kek is None:
            return
        keyring = Keyring.from_bytes(self._kek.unwrap(wrapped))
        self._wrapped = wrapped
        self._barrier.unseal(keyring, encryptions=self._stored_encryptions(keyring.active_term))

    def _encrypt(self, identity: RecordIdentity, plaintext: bytes, bound: bytes) -> bytes:
        if self._barrier.encryptions >= self._config.rotate_after:
            with self._lock:
                if self._barrier.encryptions >= self._config.rotate_after:
                    term = self.rotate_key()
                    logger.info("vault key rotated automatically to term %d", term)
        return self._barrier.encrypt(identity, plaintext, bound)

    def _decrypt(self, record: StoredRecord) -> bytes:
        """The record's secret; `CredentialCorruptError` (naming only ids) when it fails its check."""
        self._require_unsealed()
        corrupt = CredentialCorruptError(
            f"credential {record.id} of organisation {record.organisation!r} failed its integrity check and "
            "will not be used; re-register it or restore the vault from a backup"
        )
        try:
            if self._barrier.keyring.term(Barrier.term_of(record.ciphertext)) is None:
                with self._lock:
                    self._refresh_keyring()  # a newer term from another replica's rotation
            return self._barrier.decrypt(
                record.identity, record.ciphertext, _bound(record.metadata), accept_unbound=not self._metadata_bound
            )
        except BarrierError:
            raise corrupt from None

    def _signer(self, record: StoredRecord) -> Signer:
        seed = self._decrypt(record)
        corrupt = CredentialCorruptError(
            f"key {record.id} of organisation {record.organisation!r} failed its integrity check and will not "
            "be used; re-register the key or restore the vault from a backup"
        )
        try:
            signer = Signer(Ed25519PrivateKey.from_private_bytes(seed))
        except ValueError:
            raise corrupt from None
        # The metadata is stored in the clear; a key that does not match it means someone swapped
        # records or edited metadata, and Encord would reject the signature anyway.
        if signer.public_key_hex != record.metadata.get("public_key_hex"):
            raise corrupt
        return signer

    def _new_record(self, identity: RecordIdentity, metadata: Mapping[str, Any], plaintext: bytes) -> StoredRecord:
        return StoredRecord(
            identity.kind,
            identity.organisation,
            identity.id,
            identity.version,
            dict(metadata),
            self._encrypt(identity, plaintext, _bound(metadata)),
        )

    def _rewrite(
        self, record: StoredRecord, metadata: Mapping[str, Any], plaintext: bytes | None = None
    ) -> StoredRecord:
        """Store the record again as version + 1 (the version is bound into the ciphertext), if unchanged."""
        secret = self._decrypt(record) if plaintext is None else plaintext
        identity = RecordIdentity(record.kind, record.organisation, record.id, record.version + 1)
        updated = self._new_record(identity, metadata, secret)
        self._store.put_record(updated, cas=record.version)
        return updated

    def _set_state(self, record: StoredRecord, state: str) -> StoredRecord:
        return self._rewrite(record, {**record.metadata, "state": state})

    def _revoke(self, record: StoredRecord) -> StoredRecord:
        metadata = {**record.metadata, "state": STATE_REVOKED, "revoked_at": datetime.now(UTC).isoformat()}
        # The secret is replaced by nothing: a revoked credential cannot come back from a backup of
        # this record, and revoking works even when the old ciphertext is corrupt.
        for _ in range(_MAX_CAS_RETRIES):
            try:
                return self._rewrite(record, metadata, b"")
            except StoreConflictError:
                fresh = self._store.get_record(record.kind, record.organisation, record.id)
                if fresh is None:
                    raise CredentialNotFoundError(f"credential {record.id} was deleted meanwhile") from None
                record = fresh
        raise StoreConflictError(f"credential {record.id} kept changing; try again")

    def _find(self, credential_id: str) -> StoredRecord | None:
        for record in self._store.list_records():
            if record.id == credential_id:
                return record
        return None

    def _org_records(self, organisation: str) -> list[StoredRecord]:
        return self._store.list_records(KIND_ORG_SSH_KEY, organisation)

    def _api_key_records(self, organisation: str, resource_type: str, resource_hash: str) -> list[StoredRecord]:
        return [
            r
            for r in self._store.list_records(KIND_RESOURCE_API_KEY, organisation)
            if r.metadata.get("resource_type") == resource_type and r.metadata.get("resource_hash") == resource_hash
        ]

    def _store_org_key(self, organisation: str, key: Ed25519PrivateKey) -> OrgKeyInfo:
        public = describe_public_key(key.public_key())
        with self._lock:
            self._require_unsealed()
            records = [r for r in self._org_records(organisation) if r.metadata.get("state") != STATE_REVOKED]
            for record in records:
                if record.metadata.get("public_key_hex") == public.public_key_hex:
                    return _info(record)
            current = _newest(records, STATE_ACTIVE) or _newest(records, STATE_RETIRING)
            if current is not None:
                raise CredentialExistsError(
                    f"organisation {organisation!r} already has an active key "
                    f"({current.metadata.get('fingerprint')}); replace it by key rotation: RotateOrganisationKey "
                    f"(POST /admin/v1/organisations/{organisation}/keys:rotate) or "
                    f"`encord-gateway vault rotate-org-key --org {organisation} --key-file FILE`"
                )
            return _info(self._insert_org_key(organisation, key, STATE_ACTIVE))

    def _insert_org_key(self, organisation: str, key: Ed25519PrivateKey, state: str) -> StoredRecord:
        public = describe_public_key(key.public_key())
        identity = RecordIdentity(KIND_ORG_SSH_KEY, organisation, f"sshkey_{secrets.token_hex(8)}", 1)
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        metadata: dict[str, Any] = {
            "public_key_hex": public.public_key_hex,
            "fingerprint": public.fingerprint,
            "public_key_openssh": public.openssh,
            "created_at": datetime.now(UTC).isoformat(),
            "state": state,
        }
        record = self._new_record(identity, metadata, seed)
        self._store.put_record(record, cas=0)
        return record

    def _stored_last_used(self) -> dict[str, datetime]:
        raw = self._store.get_meta(_LAST_USED_META)
        try:
            return {str(k): datetime.fromisoformat(str(v)) for k, v in (json.loads(raw) if raw else {}).items()}
        except (ValueError, AttributeError, TypeError):
            return {}

    def _last_used_of(self, credential_id: str, stored: Mapping[str, datetime]) -> datetime | None:
        with self._usage_lock:
            recent = self._last_used.get(credential_id)
        persisted = stored.get(credential_id)
        if recent is None or (persisted is not None and persisted > recent):
            return persisted
        return recent

    def _credential_info(self, record: StoredRecord, stored: Mapping[str, datetime] | None = None) -> CredentialInfo:
        meta = record.metadata
        last_used = self._last_used_of(record.id, self._stored_last_used() if stored is None else stored)
        return CredentialInfo(
            credential_id=record.id,
            organisation=record.organisation,
            kind=record.kind,
            state=str(meta.get("state", "")),
            created_at=_parse_time(meta.get("created_at")),
            last_used_at=last_used,
            public_key_hex=str(meta.get("public_key_hex", "")),
            fingerprint=str(meta.get("fingerprint", "")),
            resource_type=str(meta.get("resource_type", "")),
            resource_hash=str(meta.get("resource_hash", "")),
            scopes=tuple(str(s) for s in meta.get("scopes", ())),
        )


def validate_scopes(resource_type: str, scopes: Sequence[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated scopes, each one Encord defines for that resource type (§6.4)."""
    allowed = RESOURCE_SCOPES.get(resource_type)
    if allowed is None:
        raise InvalidScopeError(f"resource type must be one of {', '.join(RESOURCE_SCOPES)}, not {resource_type!r}")
    if isinstance(scopes, str):
        raise InvalidScopeError("scopes must be a list of scope names, not one string")
    wanted = tuple(sorted(set(scopes)))
    if not wanted:
        raise InvalidScopeError("an API key needs at least one scope")
    unknown = [s for s in wanted if s not in allowed]
    if unknown:
        raise InvalidScopeError(
            f"{resource_type} API keys have no scope {', '.join(map(repr, unknown))}; "
            f"valid scopes: {', '.join(allowed)}"
        )
    return wanted


def _validate_api_key(api_key: str) -> bytes:
    # The message never quotes the key: a wrong paste may well be some other secret.
    if not isinstance(api_key, str) or not api_key.strip() or api_key != api_key.strip():
        raise InvalidKeyError("the API key is empty or has surrounding whitespace")
    if len(api_key) > MAX_API_KEY_LENGTH or not api_key.isprintable():
        raise InvalidKeyError("the API key is too long or contains control characters")
    return api_key.encode("utf-8")


def _newest(records: Sequence[StoredRecord], state: str) -> StoredRecord | None:
    matching = [r for r in records if r.metadata.get("state") == state]
    return max(matching, key=lambda r: str(r.metadata.get("created_at", "")), default=None)


def _encode_page_token(position: tuple[str, str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode("utf-8")).decode("ascii")


def _decode_page_token(token: str) -> tuple[str, str, str] | None:
    if not token:
        return None
    try:
        organisation, kind, id = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        return (str(organisation), str(kind), str(id))
    except (ValueError, TypeError, UnicodeError):
        raise InvalidArgumentError("page_token is not one this vault issued") from None


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


def _bound(metadata: Mapping[str, Any]) -> bytes:
    """A record's metadata as the barrier binds it: canonical JSON (what both backends store round-trips)."""
    return json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
