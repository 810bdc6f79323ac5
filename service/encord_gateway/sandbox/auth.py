"""Who is calling: v1 `pubhex:sighex` and v2 RFC 9421-style signatures (§2.4, §3.4), bearer tokens, API keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from encord_gateway.upstream.signing import (
    COVERED_COMPONENTS,
    SIGNATURE_LABEL,
    content_digest,
    signature_base,
    verify,
)

from .domains import apikeys, users
from .domains.apikeys import ApiKey
from .domains.users import User
from .errors import ApiError
from .store import Store

SIGNATURE_MAX_AGE_ENV = "ENCORD_SANDBOX_SIGNATURE_MAX_AGE"
DEFAULT_SIGNATURE_MAX_AGE_SECONDS = 300
"""How old a v2 signature's `created` may be: a few minutes of clock skew, as §3.4 suggests, so that a
client reusing a stale signature fails here as it would against Encord. The SDK reuses `created` across
transport retries, which may sleep for a server-chosen Retry-After (§9 item 3): a sandbox that answers
long Retry-After delays can raise the window with ENCORD_SANDBOX_SIGNATURE_MAX_AGE (seconds)."""
# Clients' clocks run a little ahead sometimes; a signature from far in the future is still refused.
MAX_CLOCK_AHEAD_SECONDS = 15 * 60

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_PARAMS = re.compile(r';created=(-?\d+);keyid="([^"\\]*)";alg="([^"\\]*)"')


AuthKind = Literal["ssh", "bearer", "api_key"]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. With an API key, `user` is the key's creator and the key bounds what it may do."""

    user: User
    auth: AuthKind
    api_key: ApiKey | None = None


def _auth_error(message: str) -> ApiError:
    return ApiError("AUTHENTICATION_ERROR", message)


def _user_for_key(store: Store, public_key_hex: str) -> User:
    found = users.users_with_key(store, public_key_hex)
    if not found:
        raise ApiError("SSH_KEY_NOT_FOUND_ERROR", "The public key is not registered with any user")
    if len(found) > 1:
        raise ApiError("DUPLICATE_SSH_KEY_ERROR", "The public key is registered to more than one user")
    return found[0]


def _user_for_bearer(store: Store, authorization: str) -> User | None:
    if not authorization.startswith("Bearer "):
        return None
    user = users.user_for_token(store, authorization[len("Bearer ") :].strip())
    if user is None:
        raise _auth_error("The bearer token is not valid")
    return user


def _caller_for_api_key(store: Store, secret: str, headers: Mapping[str, str], *, user_endpoint: bool) -> Caller:
    """§1.2, §2.2: a raw key plus `ResourceID` (ResourceType optional); the key is bound to that one resource."""
    key = apikeys.key_for_secret(store, secret)
    user = store.get(User, key.creator) if key is not None else None
    if key is None or user is None:
        raise _auth_error("The API key is not valid")
    if user_endpoint:
        raise _auth_error("API keys authenticate resource calls at /public only")
    if headers.get("ResourceID", "") != key.resource_hash:
        raise _auth_error("The API key is not valid for this ResourceID")
    resource_type = headers.get("ResourceType", "")
    if resource_type and resource_type != key.resource_type:
        raise _auth_error(f"The API key belongs to a {key.resource_type}, not a {resource_type}")
    return Caller(user, "api_key", key)


def authenticate_v1(store: Store, headers: Mapping[str, str], body: bytes, *, user_endpoint: bool) -> Caller:
    """The caller of a v1 envelope call; the signature is checked over the raw received body bytes."""
    authorization = headers.get("Authorization", "")
    bearer = _user_for_bearer(store, authorization)
    if bearer is not None:
        return Caller(bearer, "bearer")
    if authorization and ":" not in authorization:
        return _caller_for_api_key(store, authorization, headers, user_endpoint=user_endpoint)
    public_hex, sep, signature_hex = authorization.partition(":")
    if not sep or not _HEX64.fullmatch(public_hex) or not _HEX128.fullmatch(signature_hex):
        raise _auth_error("Authorization must be '<public key hex>:<signature hex>', 'Bearer <token>' or an API key")
    user = _user_for_key(store, public_hex)
    if not verify(public_hex, bytes.fromhex(signature_hex), hashlib.sha256(body).digest()):
        raise _auth_error("The request signature does not match the request body")
    return Caller(user, "ssh")


def _dictionary_member(header: str, label: str) -> str | None:
    """The value of member `label` in an RFC 8941 dictionary header (top-level commas split members)."""
    depth, quoted, start = 0, False, 0
    members: list[str] = []
    for i, ch in enumerate(header):
        if quoted:
            quoted = ch != '"' or header[i - 1] == "\\"
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            members.append(header[start:i])
            start = i + 1
    members.append(header[start:])
    for member in members:
        name, eq, value = member.strip().partition("=")
        if name == label and eq:
            return value
    return None


def signature_max_age(environ: Mapping[str, str] | None = None) -> int:
    """The accepted age of a v2 signature, in seconds: ENCORD_SANDBOX_SIGNATURE_MAX_AGE, or the default."""
    raw = (os.environ if environ is None else environ).get(SIGNATURE_MAX_AGE_ENV, "")
    if not raw:
        return DEFAULT_SIGNATURE_MAX_AGE_SECONDS
    try:
        seconds = int(raw)
    except ValueError:
        raise ValueError(f"{SIGNATURE_MAX_AGE_ENV} must be a whole number of seconds, not {raw!r}") from None
    if seconds <= 0:
        raise ValueError(f"{SIGNATURE_MAX_AGE_ENV} must be positive, not {raw!r}")
    return seconds


def authenticate_v2(
    store: Store,
    method: str,
    raw_target: str,
    headers: Mapping[str, str],
    body: bytes,
    clock: float | None = None,
    max_age: int | None = None,
) -> Caller:
    """The caller of a v2 call, by the §3.4 verifier algorithm; any failure is an HTTP 401."""
    authorization = headers.get("Authorization", "")
    bearer = _user_for_bearer(store, authorization)
    if bearer is not None:
        return Caller(bearer, "bearer")
    if authorization:
        # Signed v2 requests carry no Authorization header (§3.4), and v2 never took API keys (§1.2).
        raise _auth_error("The v2 API accepts request signatures or 'Bearer <token>', not API keys")
    signature_input = headers.get("Signature-Input")
    signature_header = headers.get("Signature")
    digest_header = headers.get("Content-Digest")
    if not signature_input or not signature_header or not digest_header:
        raise _auth_error("Missing Content-Digest, Signature-Input or Signature header (or a bearer token)")

    params = _dictionary_member(signature_input, SIGNATURE_LABEL)
    if params is None:
        raise _auth_error(f"Signature-Input has no '{SIGNATURE_LABEL}' member")
    if not params.startswith(COVERED_COMPONENTS):
        raise _auth_error(f"The signature must cover exactly {COVERED_COMPONENTS}")
    match = _PARAMS.fullmatch(params[len(COVERED_COMPONENTS) :])
    if match is None:
        raise _auth_error("Signature-Input parameters must be created, keyid and alg, in that order")
    created, key_id, alg = int(match.group(1)), match.group(2), match.group(3)
    if alg != "ed25519":
        raise _auth_error('Only alg="ed25519" signatures are accepted')

    if digest_header != content_digest(body):
        raise _auth_error("Content-Digest does not match the request body")

    encoded = _dictionary_member(signature_header, SIGNATURE_LABEL)
    if encoded is None or len(encoded) < 2 or encoded[0] != ":" or encoded[-1] != ":":
        raise _auth_error(f"Signature has no '{SIGNATURE_LABEL}' byte-sequence member")
    try:
        signature = base64.b64decode(encoded[1:-1], validate=True)
    except binascii.Error:
        raise _auth_error("Signature is not valid base64") from None

    if not _HEX64.fullmatch(key_id):
        raise _auth_error("keyid must be the 64-character hex of an Ed25519 public key")
    user = _user_for_key(store, key_id)
    base = signature_base(method, raw_target, digest_header, params)
    if not verify(key_id, signature, base):
        raise _auth_error("The request signature does not match the request")

    current = time.time() if clock is None else clock
    oldest = current - (signature_max_age() if max_age is None else max_age)
    if created < oldest or created > current + MAX_CLOCK_AHEAD_SECONDS:
        raise _auth_error("The signature's created time is outside the accepted window")
    return Caller(user, "ssh")
