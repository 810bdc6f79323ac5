"""Users: their registered public keys (the control API stands in for Encord's web app) and bearer tokens (U-08)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..operations import V1Key, V1Operation, V2Call, V2Route
from ..records import digest, new_hash, now
from ..store import Store, register_kind

# ---- records -----------------------------------------------------------------------------------


@register_kind("user", id="email", keys=("public_keys",))
@dataclass
class User:
    email: str
    user_hash: str
    public_keys: list[str]
    created_at: datetime


@register_kind("bearer_token", id="digest", parent="email", parent_kinds=("user",))
@dataclass
class BearerToken:
    """A minted token, kept only as its SHA-256 digest: the token itself is shown once, like an API key."""

    digest: str
    email: str
    created_at: datetime


# ---- rules -------------------------------------------------------------------------------------


def register_key(store: Store, email: str, public_key_hex: str) -> tuple[User, bool]:
    """Attach a key to a user (creating the user); returns (user, whether anything changed)."""
    user = store.get(User, email)
    if user is None:
        user = User(email=email, user_hash=new_hash(), public_keys=[], created_at=now())
    if public_key_hex in user.public_keys:
        return user, False
    user.public_keys.append(public_key_hex)
    store.put(user)
    return user, True


def users_with_key(store: Store, public_key_hex: str) -> list[User]:
    return store.find(User, "public_keys", public_key_hex)


def mint_token(store: Store, user: User) -> str:
    token = secrets.token_urlsafe(32)
    store.put(BearerToken(digest=digest(token), email=user.email, created_at=now()))
    return token


def user_for_token(store: Store, token: str) -> User | None:
    minted = store.get(BearerToken, digest(token))
    return store.get(User, minted.email) if minted is not None else None


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_mint_bearer_token(call: V2Call) -> dict[str, Any]:
    return {"token": mint_token(call.store, call.user)}


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "user/bearer-token", v2_mint_bearer_token),  # U-08
)
