"""The encryption barrier: AES-256-GCM under a keyring of terms, bound to each record's identity."""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from encord_gateway.vault.errors import BarrierError, SealedError

KEY_SIZE = 32
"""AES-256: the key size every term uses."""

NONCE_SIZE = 12
"""96-bit random nonces, GCM's native size. With random nonces the collision bound, not the counter,
limits how much one key may encrypt: NIST SP 800-38D caps it at 2^32 invocations per key, which is
why issue 3 rotates automatically long before that (and why rotation exists at all)."""

TERM_SIZE = 4
"""The key term is a big-endian uint32 prefix, so a reader knows which key to try without guessing."""

FORMAT_VERSION = 2
"""Layout of a stored value after the term: version ‖ nonce ‖ ciphertext+tag. Version 2 binds the
record identity and the record's public metadata (scopes, state, ...) as associated data, so an edit of
either fails authentication. A new layout gets a new number; old numbers stay readable."""
FORMAT_UNBOUND = 1
"""Version 1 bound the identity only: its metadata could be edited unnoticed. Still readable until
`rewrap` moves every record to the current version (after which the vault refuses version 1)."""

TAG_SIZE = 16
HEADER_SIZE = TERM_SIZE + 1 + NONCE_SIZE
MAX_TERM = 2**32 - 1

_AAD_DOMAIN = b"encord-gateway/vault/record/v1\x00"
_KEYRING_FORMAT = 1


@dataclass(frozen=True)
class RecordIdentity:
    """Who a stored value belongs to. It is the associated data, so a value moved elsewhere fails."""

    kind: str
    organisation: str
    id: str
    version: int

    def associated_data(self) -> bytes:
        """Canonical bytes: a domain tag, then length-prefixed UTF-8 fields, then the version.

        Length prefixes make the encoding injective: ("a", "bc") and ("ab", "c") never collide,
        which a separator-joined string could not promise for arbitrary organisation names.
        """
        parts = [_AAD_DOMAIN]
        for value in (self.kind, self.organisation, self.id):
            raw = value.encode("utf-8")
            parts.append(struct.pack(">I", len(raw)))
            parts.append(raw)
        parts.append(struct.pack(">Q", self.version))
        return b"".join(parts)


def _aad(identity: RecordIdentity, bound: bytes) -> bytes:
    """Version 2 associated data: the identity's, then the length-prefixed bound bytes (injective again)."""
    return identity.associated_data() + struct.pack(">I", len(bound)) + bound


@dataclass(frozen=True)
class Term:
    """One data-encryption key of the keyring; its bytes never appear in a repr."""

    number: int
    key: bytes = field(repr=False)
    created_at: datetime


class Keyring:
    """Every term ever used; the active one encrypts, all of them decrypt. Immutable: changes copy."""

    __slots__ = ("_active", "_terms")

    def __init__(self, terms: Mapping[int, Term], active_term: int) -> None:
        if active_term not in terms:
            raise BarrierError("keyring has no key for its active term")
        self._terms: Mapping[int, Term] = MappingProxyType(dict(terms))
        self._active = active_term

    @classmethod
    def create(cls) -> Keyring:
        """A fresh keyring with one random term (term 1)."""
        term = Term(1, os.urandom(KEY_SIZE), datetime.now(UTC))
        return cls({1: term}, 1)

    @property
    def active_term(self) -> int:
        return self._active

    @property
    def terms(self) -> Mapping[int, Term]:
        return self._terms

    def term(self, number: int) -> Term | None:
        return self._terms.get(number)

    def with_new_term(self) -> Keyring:
        """A copy with one more random term, made active."""
        number = max(self._terms) + 1
        if number > MAX_TERM:
            raise BarrierError("keyring has run out of terms")
        terms = dict(self._terms)
        terms[number] = Term(number, os.urandom(KEY_SIZE), datetime.now(UTC))
        return Keyring(terms, number)

    def to_bytes(self) -> bytes:
        """Serialised form; contains every key, so it is only ever stored wrapped by the KEK."""
        doc = {
            "format": _KEYRING_FORMAT,
            "active_term": self._active,
            "terms": [
                {
                    "term": t.number,
                    "key": base64.b64encode(t.key).decode("ascii"),
                    "created_at": t.created_at.isoformat(),
                }
                for t in sorted(self._terms.values(), key=lambda t: t.number)
            ],
        }
        return json.dumps(doc, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Keyring:
        try:
            doc = json.loads(data)
            if doc["format"] != _KEYRING_FORMAT:
                raise BarrierError(f"unsupported keyring format {doc['format']!r}")
            terms: dict[int, Term] = {}
            for item in doc["terms"]:
                key = base64.b64decode(item["key"], validate=True)
                if len(key) != KEY_SIZE:
                    raise BarrierError("keyring holds a key of the wrong size")
                number = int(item["term"])
                terms[number] = Term(number, key, datetime.fromisoformat(item["created_at"]))
            return cls(terms, int(doc["active_term"]))
        except BarrierError:
            raise
        except (ValueError, KeyError, TypeError):
            raise BarrierError("keyring is malformed") from None

    def __repr__(self) -> str:
        return f"Keyring(active_term={self._active}, terms={sorted(self._terms)})"


DEFAULT_ROTATE_AFTER = 2**20
"""Encryptions under one term before the vault rotates on its own: 2^20 is four thousand times below
the 2^32 random-nonce limit, so even a counter that loses a whole reservation block per restart
(see `USAGE_RESERVATION`) stays far from it, while a busy vault still rotates only rarely."""

USAGE_RESERVATION = 1024
"""Encryptions reserved per durable counter write. The counter is persisted *before* the encryptions
it covers, so a crash can only overcount (by at most one block), never undercount; and a write per
block instead of per encryption keeps the counter off the hot path."""


class Barrier:
    """Encrypts and decrypts record values; sealed (unusable) until it holds a keyring.

    `persist` is called with a changed keyring *before* the change takes effect, so a value is never
    encrypted under a term that storage could lose. `reserve(term, block)` durably adds `block` to the
    encryptions that may have happened under `term` and returns the new total (every replica's
    reservations included); it is called before those encryptions.
    """

    def __init__(
        self,
        keyring: Keyring | None = None,
        *,
        persist: Callable[[Keyring], None] | None = None,
        reserve: Callable[[int, int], int] | None = None,
        encryptions: int = 0,
    ) -> None:
        self._keyring = keyring
        self._persist = persist
        self._reserve = reserve
        self._ciphers: dict[int, AESGCM] = {}
        self._lock = threading.Lock()
        # What storage has been told may have happened (`_reserved`) and what has (`_encryptions`).
        self._encryptions = encryptions
        self._reserved = encryptions

    @property
    def sealed(self) -> bool:
        return self._keyring is None

    def unseal(self, keyring: Keyring, *, encryptions: int = 0) -> None:
        """Use `keyring`; `encryptions` is the persisted count under its active term (an upper bound)."""
        with self._lock:
            self._keyring = keyring
            self._ciphers = {}
            self._encryptions = encryptions
            self._reserved = encryptions

    def seal(self) -> None:
        """Forget the keyring (the keys linger in Python memory until collected; nothing more is promised)."""
        with self._lock:
            self._keyring = None
            self._ciphers = {}

    @property
    def keyring(self) -> Keyring:
        keyring = self._keyring
        if keyring is None:
            raise SealedError("the vault is sealed: its key-encryption key is not available")
        return keyring

    @property
    def active_term(self) -> int:
        return self.keyring.active_term

    @property
    def encryptions(self) -> int:
        """Encryptions under the active term so far (including any counted before a restart)."""
        return self._encryptions

    def rotate(self) -> int:
        """Add a term and make it active; returns its number. Older values keep decrypting."""
        with self._lock:
            return self._install(self.keyring.with_new_term())

    def _install(self, rotated: Keyring) -> int:
        if self._persist is not None:
            self._persist(rotated)
        self._keyring = rotated
        self._encryptions = self._reserved = 0
        return rotated.active_term

    def encrypt(self, identity: RecordIdentity, plaintext: bytes, bound: bytes = b"") -> bytes:
        """Encrypt under the active term; `bound` (the record's canonical metadata) is authenticated too."""
        with self._lock:
            keyring = self.keyring
            term = keyring.active_term
            if self._encryptions >= self._reserved and self._reserve is not None:
                # The block reserved is the last USAGE_RESERVATION of the shared total: counting from its
                # start makes this replica's count cover every replica's encryptions under the term.
                self._reserved = self._reserve(term, USAGE_RESERVATION)
                self._encryptions = self._reserved - USAGE_RESERVATION
            self._encryptions += 1
        nonce = os.urandom(NONCE_SIZE)
        header = struct.pack(">IB", term, FORMAT_VERSION) + nonce
        return header + self._cipher(keyring, term).encrypt(nonce, plaintext, _aad(identity, bound))

    def decrypt(
        self, identity: RecordIdentity, value: bytes, bound: bytes = b"", *, accept_unbound: bool = True
    ) -> bytes:
        """The plaintext, if `value` authenticates for `identity` and `bound`.

        A version-1 value (identity only) is read while `accept_unbound`; its header cannot be rewritten to
        pass for one: the version byte selects the associated data, and the tag covers it.
        """
        keyring = self.keyring
        if len(value) < HEADER_SIZE + TAG_SIZE:
            raise BarrierError("stored value is truncated")
        term, version = struct.unpack_from(">IB", value)
        if version not in (FORMAT_VERSION, FORMAT_UNBOUND):
            raise BarrierError(f"stored value has unknown format version {version}")
        if version == FORMAT_UNBOUND and not accept_unbound:
            raise BarrierError("stored value predates metadata binding, which this vault no longer accepts")
        aad = identity.associated_data() if version == FORMAT_UNBOUND else _aad(identity, bound)
        if keyring.term(term) is None:
            raise BarrierError(f"stored value names key term {term}, which the keyring does not hold")
        nonce = value[TERM_SIZE + 1 : HEADER_SIZE]
        try:
            return self._cipher(keyring, term).decrypt(nonce, value[HEADER_SIZE:], aad)
        except InvalidTag:
            raise BarrierError(
                "stored value failed authentication (it, or its metadata, was tampered with, or it was moved "
                "from another record)"
            ) from None

    @staticmethod
    def format_of(value: bytes) -> int:
        """The layout version of a stored value (`FORMAT_UNBOUND` values are what rewrap migrates)."""
        if len(value) < TERM_SIZE + 1:
            raise BarrierError("stored value is truncated")
        version: int = value[TERM_SIZE]
        return version

    @staticmethod
    def term_of(value: bytes) -> int:
        """The key term a stored value was encrypted under (what rewrap looks at)."""
        if len(value) < TERM_SIZE:
            raise BarrierError("stored value is truncated")
        term: int = struct.unpack_from(">I", value)[0]
        return term

    def _cipher(self, keyring: Keyring, number: int) -> AESGCM:
        cipher = self._ciphers.get(number)
        if cipher is None:
            term = keyring.term(number)
            if term is None:
                raise BarrierError(f"key term {number} is not in the keyring")
            cipher = AESGCM(term.key)
            self._ciphers[number] = cipher
        return cipher
