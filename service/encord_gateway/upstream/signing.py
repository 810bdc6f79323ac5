"""Encord request signatures: v1 envelope (Ed25519 over SHA-256 of the body) and v2 (RFC 9421 style).

The byte layouts here are the wire document's §2.4 and §3.4; the sandbox verifies with the same
functions so that signer and verifier cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_LABEL = "encord-sig"
COVERED_COMPONENTS = '("@method" "@request-target" "content-digest")'


def encode_body(value: Any) -> bytes:
    """Serialise a JSON body exactly as the SDK does: Python's default separators, ASCII escapes.

    The v1 signature covers these bytes, so they must never be re-serialised after signing.
    """
    return json.dumps(value).encode("ascii")


class Signer:
    """Signs bytes with one organisation's Ed25519 key; the private half never leaves this object."""

    __slots__ = ("_key", "public_key_hex")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_key_hex = raw.hex()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def __repr__(self) -> str:  # never show key material, even in a debugger or a traceback
        return f"Signer(public_key_hex={self.public_key_hex!r})"


def v1_authorization(signer: Signer, body: bytes) -> str:
    """`Authorization` header of a v1 call: `<public key hex>:<Ed25519(SHA-256(body)) hex>`."""
    return f"{signer.public_key_hex}:{signer.sign(hashlib.sha256(body).digest()).hex()}"


def content_digest(body: bytes) -> str:
    """RFC 9530 `Content-Digest` value over the raw body (the empty string for body-less requests)."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode('ascii')}:"


def signature_params(created: int, key_id: str) -> str:
    """The serialised `@signature-params` member, in the SDK's fixed parameter order."""
    return f'{COVERED_COMPONENTS};created={created};keyid="{key_id}";alg="ed25519"'


def signature_base(method: str, target: str, digest: str, params: str) -> bytes:
    """The four-line signature base of §3.4 (LF-joined, no trailing newline)."""
    lines = (
        f'"@method": {method.upper()}',
        f'"@request-target": {target}',
        f'"content-digest": {digest}',
        f'"@signature-params": {params}',
    )
    return "\n".join(lines).encode("utf-8")


def v2_signature_headers(signer: Signer, method: str, target: str, body: bytes, created: int) -> dict[str, str]:
    """`Content-Digest`, `Signature-Input` and `Signature` for a v2 call.

    `target` is the origin-form request target exactly as it goes on the wire (path plus `?query`).
    """
    digest = content_digest(body)
    params = signature_params(created, signer.public_key_hex)
    signature = signer.sign(signature_base(method, target, digest, params))
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{SIGNATURE_LABEL}={params}",
        "Signature": f"{SIGNATURE_LABEL}=:{base64.b64encode(signature).decode('ascii')}:",
    }


def verify(public_key_hex: str, signature: bytes, data: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `data` by the key `public_key_hex`."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class PublicKeyInfo:
    """What may be shown about a key: its raw hex (Encord's key id) and its OpenSSH fingerprint."""

    public_key_hex: str
    fingerprint: str
    openssh: str


def describe_public_key(public_key: Ed25519PublicKey) -> PublicKeyInfo:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(line.split()[1])
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return PublicKeyInfo(raw.hex(), fingerprint, line.decode("ascii"))


class KeyFormatError(ValueError):
    """The key text is not an Ed25519 key in a supported format (the message never quotes the key)."""


def load_private_key(text: bytes, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Parse an OpenSSH (or PKCS#8 PEM) Ed25519 private key; any other kind is refused."""
    key: object
    try:
        if b"OPENSSH PRIVATE KEY" in text:
            key = serialization.load_ssh_private_key(text, passphrase)
        else:
            key = serialization.load_pem_private_key(text, passphrase)
    except (ValueError, TypeError) as exc:
        # cryptography's messages do not echo key bytes, but keep ours fixed anyway.
        reason = "wrong or missing passphrase" if "password" in str(exc).lower() else "unreadable key"
        raise KeyFormatError(f"cannot load private key: {reason}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError("only Ed25519 keys are supported by Encord")
    return key


def load_public_key(text: str) -> Ed25519PublicKey:
    """Parse an OpenSSH `ssh-ed25519 AAAA...` line or 64 hex characters of a raw public key."""
    text = text.strip()
    try:
        if text.startswith("ssh-"):
            key = serialization.load_ssh_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise KeyFormatError("only ssh-ed25519 public keys are supported")
            return key
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except KeyFormatError:
        raise
    except (ValueError, UnicodeEncodeError):
        raise KeyFormatError("public key must be an 'ssh-ed25519 AAAA...' line or 64 hex characters") from None


def private_key_to_openssh(key: Ed25519PrivateKey) -> bytes:
    """OpenSSH text of a private key (used only to hand a generated key to the vault or to a test)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
