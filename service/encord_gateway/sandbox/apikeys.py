"""Legacy resource API keys (§5.12, §6.4): scopes, minting, digests, and which calls a key may make."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ApiError, invalid
from .state import ApiKey, Store, User, new_hash, now

KeyKind = Literal["project", "dataset"]

# §6.4. The master key of a resource (K-03/K-06) carries every scope of its kind.
SCOPES: dict[KeyKind, tuple[str, ...]] = {
    "project": ("label.read", "label.write", "model.inference", "model.train", "label_logs.read", "algo.library"),
    "dataset": ("dataset.read", "dataset.write"),
}
ALL_SCOPES = frozenset(s for scopes in SCOPES.values() for s in scopes)

MASTER_KEY_TITLE = "Master API key"
# 32 random bytes: a guess is hopeless, and the URL-safe alphabet has no ':' so a key can never be
# mistaken for the `<public hex>:<signature hex>` form, nor start with "Bearer ".
SECRET_BYTES = 32
# Listings show only this many leading characters: enough to tell keys apart, useless as a credential.
HINT_CHARS = 4


@dataclass(frozen=True)
class KeyRule:
    """Whether an API key may make a v1 call, and the §6.4 scope it must carry to do so."""

    allowed: bool
    scope: str | None = None


USER_ONLY = KeyRule(allowed=False)
"""User credentials only: no scope covers the call (membership and admin changes, key management)."""
ANY_KEY = KeyRule(allowed=True)
"""Any key of the resource, whatever its scopes (reading the resource record, `apikeymeta`)."""


def needs(scope: str) -> KeyRule:
    if scope not in ALL_SCOPES:
        raise ValueError(f"unknown API key scope {scope!r}")
    return KeyRule(allowed=True, scope=scope)


def operation_not_allowed(message: str) -> ApiError:
    # The one v1 code without the `_ERROR` suffix (§4.1).
    return ApiError("OPERATION_NOT_ALLOWED", message)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_scopes(kind: KeyKind, raw: Any) -> list[str]:
    """A list of scopes, or the JSON-encoded string of one as the seeds show it; INVALID_ARGUMENTS otherwise."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise invalid("'scopes' must be a list of scope strings") from None
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise invalid("'scopes' must be a list of scope strings")
    wrong = [s for s in raw if s not in SCOPES[kind]]
    if wrong:
        raise invalid(f"not {kind} API key scopes: {', '.join(wrong)}; allowed: {', '.join(SCOPES[kind])}")
    return list(dict.fromkeys(raw))


def _new_secret() -> tuple[str, str, str]:
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return secret, digest(secret), secret[:HINT_CHARS] + "…"


def issue(
    store: Store,
    user: User,
    kind: KeyKind,
    resource_hash: str,
    title: str,
    scopes: list[str],
    *,
    master: bool = False,
) -> tuple[ApiKey, str]:
    """A new key for the resource; returns the record and its secret, which is never stored."""
    if not title.strip():
        raise invalid("'title' must not be empty")
    secret, secret_digest, hint = _new_secret()
    key = ApiKey(
        key_hash=new_hash(),
        resource_type=kind,
        resource_hash=resource_hash,
        title=title,
        scopes=scopes,
        creator=user.email,
        master=master,
        secret_digests=[secret_digest],
        hint=hint,
        created_at=now(),
    )
    return store.add_api_key(key), secret


def get_or_create_master(store: Store, user: User, kind: KeyKind, resource_hash: str) -> tuple[ApiKey, str]:
    """K-03/K-06: the resource's master key (all scopes) with a fresh secret for it (see `ApiKey`)."""
    master = next((k for k in store.api_keys_of(resource_hash) if k.master), None)
    if master is None:
        return issue(store, user, kind, resource_hash, MASTER_KEY_TITLE, list(SCOPES[kind]), master=True)
    secret, secret_digest, hint = _new_secret()
    store.add_api_key_secret(master, secret_digest, hint)
    return master, secret


def dataset_key_v1(key: ApiKey, secret: str | None) -> dict[str, Any]:
    """K-04 object; listings (secret None) show only the hint, since a key is shown once."""
    return {
        "resource_hash": key.resource_hash,
        "api_key": secret if secret is not None else key.hint,
        "title": key.title,
        "key_hash": key.key_hash,
        "scopes": list(key.scopes),
    }


def project_key_v1(key: ApiKey) -> dict[str, Any]:
    """K-02 listing item."""
    return {"api_key": key.hint, "title": key.title, "scopes": list(key.scopes)}
