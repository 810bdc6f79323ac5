"""Legacy resource API keys (K-01..K-07, §5.12, §6.4): scopes, minting, and the digests that authenticate them."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .. import payloads
from ..errors import ApiError, invalid
from ..operations import ANY_KEY, V1Call, V1Key, V1Operation, V2Route
from ..records import digest, new_hash, now
from ..resources import Resource, require_admin, visible
from ..store import Store, kind_named, register_kind
from .users import User

# ---- records -----------------------------------------------------------------------------------

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


@register_kind(
    "api_key", id="key_hash", parent="resource_hash", parent_kinds=("project", "dataset"), keys=("secret_digest",)
)
@dataclass(kw_only=True)
class ApiKey:
    """A legacy resource API key.

    Encord keeps the key itself: its listings (K-02, K-05) show every key of the resource, and the
    master key's get-or-create (K-03, K-06) hands the same string back each time. A caller is
    authenticated by the key's SHA-256 digest, the only form the index holds.
    """

    key_hash: str
    resource_type: KeyKind
    resource_hash: str
    title: str
    scopes: list[str]
    creator: str
    master: bool
    secret: str
    secret_digest: str
    created_at: datetime


# ---- rules -------------------------------------------------------------------------------------


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
    """A new key for the resource; returns the record and the key."""
    if not title.strip():
        raise invalid("'title' must not be empty")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    key = ApiKey(
        key_hash=new_hash(),
        resource_type=kind,
        resource_hash=resource_hash,
        title=title,
        scopes=scopes,
        creator=user.email,
        master=master,
        secret=secret,
        secret_digest=digest(secret),
        created_at=now(),
    )
    return store.put(key), secret


def get_or_create_master(store: Store, user: User, kind: KeyKind, resource_hash: str) -> tuple[ApiKey, str]:
    """K-03/K-06: the resource's master key (all scopes), made on first use, the same key ever after."""
    master = next((k for k in store.children(ApiKey, resource_hash) if k.master), None)
    if master is None:
        return issue(store, user, kind, resource_hash, MASTER_KEY_TITLE, list(SCOPES[kind]), master=True)
    return master, master.secret


def key_for_secret(store: Store, secret: str) -> ApiKey | None:
    found = store.find(ApiKey, "secret_digest", digest(secret))
    return found[0] if found else None


def _administered(call: V1Call, kind: KeyKind, resource_hash: Any) -> Resource:
    # A key kind is the name of its resource's kind of record (project or dataset).
    resource: Resource = visible(call.store, kind_named(kind).cls, resource_hash, call.user)
    require_admin(resource, call.user)
    return resource


# ---- wire shapes -------------------------------------------------------------------------------


def dataset_key_v1(key: ApiKey) -> dict[str, Any]:
    """K-04 object, also the items of K-05 and the answer of K-06."""
    return {
        "resource_hash": key.resource_hash,
        "api_key": key.secret,
        "title": key.title,
        "key_hash": key.key_hash,
        "scopes": list(key.scopes),
    }


def project_key_v1(key: ApiKey) -> dict[str, Any]:
    """K-02 listing item."""
    return {"api_key": key.secret, "title": key.title, "scopes": list(key.scopes)}


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_create_project_key(call: V1Call) -> str:
    project = _administered(call, "project", call.uid)
    f = call.fields
    scopes = parse_scopes("project", f.get("scopes", []))
    _, secret = issue(call.store, call.user, "project", project.hash, payloads.text(f, "title"), scopes)
    return secret


def v1_list_project_keys(call: V1Call) -> list[dict[str, Any]]:
    project = _administered(call, "project", call.uid)
    return [project_key_v1(k) for k in call.store.children(ApiKey, project.hash)]


def v1_master_project_key(call: V1Call) -> str:
    project = _administered(call, "project", call.uid)
    _, secret = get_or_create_master(call.store, call.user, "project", project.hash)
    return secret


def v1_create_dataset_key(call: V1Call) -> dict[str, Any]:
    f = call.fields
    dataset = _administered(call, "dataset", f.get("dataset_hash"))
    scopes = parse_scopes("dataset", f.get("scopes", []))
    key, _ = issue(call.store, call.user, "dataset", dataset.hash, payloads.text(f, "title"), scopes)
    return dataset_key_v1(key)


def v1_list_dataset_keys(call: V1Call) -> list[dict[str, Any]]:
    dataset = _administered(call, "dataset", call.fields.get("dataset_hash"))
    return [dataset_key_v1(k) for k in call.store.children(ApiKey, dataset.hash)]


def v1_master_dataset_key(call: V1Call) -> dict[str, Any]:
    dataset = _administered(call, "dataset", call.fields.get("dataset_hash"))
    key, _ = get_or_create_master(call.store, call.user, "dataset", dataset.hash)
    return dataset_key_v1(key)


def v1_api_key_meta(call: V1Call) -> dict[str, Any]:
    if call.api_key is None:
        raise ApiError("METHOD_NOT_ALLOWED_ERROR", "apikeymeta describes the API key of the call; none was used")
    return {"title": call.api_key.title, "resource_type": call.api_key.resource_type}


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("user", "projectapikey", "POST"): V1Operation(v1_create_project_key),  # K-01
    ("user", "projectapikey", "GET"): V1Operation(v1_list_project_keys),  # K-02
    ("user", "projectapikey", "PUT"): V1Operation(v1_master_project_key),  # K-03
    ("user", "datasetapikey", "POST"): V1Operation(v1_create_dataset_key),  # K-04
    ("user", "datasetapikey", "GET"): V1Operation(v1_list_dataset_keys),  # K-05
    ("user", "datasetapikey", "PUT"): V1Operation(v1_master_dataset_key),  # K-06
    ("project", "apikeymeta", "GET"): V1Operation(v1_api_key_meta, key=ANY_KEY),  # K-07
    ("dataset", "apikeymeta", "GET"): V1Operation(v1_api_key_meta, key=ANY_KEY),  # K-07
}

V2: tuple[V2Route, ...] = ()
