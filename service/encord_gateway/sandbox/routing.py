"""Every domain's v1 and v2 tables merged at import time (a duplicate fails loudly), and how a call finds its handler."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from .auth import Caller
from .domains import DOMAINS
from .domains.apikeys import ALL_SCOPES, ApiKey
from .errors import ApiError, invalid, no_route, not_found, operation_not_allowed
from .operations import V1Call, V1Key, V1Operation, V2Call, V2Route
from .requestlog import NO_ROUTE, NOT_MODELLED, OK
from .resources import require_admin, visible
from .store import KINDS, Store, kind_named

C = TypeVar("C", V1Call, V2Call)


def merge_v1(domains: Iterable[ModuleType]) -> dict[V1Key, V1Operation]:
    """One table of every domain's `V1`; refuses a key declared twice, an unknown context or scope."""
    merged: dict[V1Key, V1Operation] = {}
    owner: dict[V1Key, str] = {}
    for domain in domains:
        for key, operation in domain.V1.items():
            if key in merged:
                raise RuntimeError(f"v1 {key} is declared by both {owner[key]} and {domain.__name__}")
            context = key[0]
            if context != "user" and context not in KINDS:
                raise RuntimeError(f"v1 {key} in {domain.__name__}: the context is neither 'user' nor a kind")
            if operation.key.scope is not None and operation.key.scope not in ALL_SCOPES:
                raise RuntimeError(f"v1 {key} in {domain.__name__}: unknown API key scope {operation.key.scope!r}")
            merged[key], owner[key] = operation, domain.__name__
    return merged


def merge_v2(domains: Iterable[ModuleType]) -> tuple[V2Route, ...]:
    """One table of every domain's `V2`; refuses two routes of one verb and path shape."""
    merged: dict[tuple[str, str], V2Route] = {}
    owner: dict[tuple[str, str], str] = {}
    for domain in domains:
        for route in domain.V2:
            key = (route.method, route.shape)
            if key in merged:
                raise RuntimeError(
                    f"v2 {route.method} {route.pattern} is declared by both {owner[key]} and {domain.__name__}"
                )
            merged[key], owner[key] = route, domain.__name__
    return tuple(merged.values())


V1 = merge_v1(DOMAINS)
V2 = merge_v2(DOMAINS)
# The ResourceType values /public accepts: the kinds some v1 operation is declared for.
CONTEXTS = tuple(dict.fromkeys(context for context, _, _ in V1 if context != "user"))
# Literal segments win over parameters (`datasets/list` is not `datasets/{dataset_hash}`).
_BY_LITERALNESS = tuple(sorted(V2, key=lambda r: r.pattern.count("{")))


def _run(handler: Callable[[C], Any], modelled: bool, call: C) -> tuple[Any, str]:
    """The handler's result and the request log's outcome; a stand-in's refusals are logged NOT_MODELLED too."""
    try:
        result = handler(call)
    except ApiError as error:
        if not modelled:
            error.outcome = NOT_MODELLED
        raise
    return result, OK if modelled else NOT_MODELLED


# ---- v1 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """A parsed v1 request body (§2.1)."""

    query_type: str
    query_method: str
    uid: Any
    payload: Any

    @classmethod
    def parse(cls, body: Any) -> Envelope:
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        query_type, query_method = body.get("query_type"), body.get("query_method")
        if not isinstance(query_type, str) or not isinstance(query_method, str):
            raise invalid("'query_type' and 'query_method' must be strings")
        values = body.get("values")
        if not isinstance(values, dict):
            raise invalid("'values' must be an object with 'uid' and 'payload'")
        # A missing payload is null (one seed example omits it, §2.1).
        return cls(query_type, query_method, values.get("uid"), values.get("payload"))


def _check_key(key: ApiKey, operation: V1Operation, envelope: Envelope) -> None:
    call = f"{envelope.query_type} {envelope.query_method}"
    if not operation.key.allowed:
        raise operation_not_allowed(f"{call} needs a user credential; API keys cannot make it")
    if operation.key.scope is not None and operation.key.scope not in key.scopes:
        raise operation_not_allowed(f"{call} needs an API key with the {operation.key.scope} scope")


def dispatch_v1(
    store: Store, caller: Caller, *, user_endpoint: bool, resource_type: str, resource_id: str, envelope: Envelope
) -> tuple[Any, str]:
    """Run one envelope call for an authenticated caller: (result, log outcome); ApiError for every refusal.

    The context is `user` at /public/user and, at /public, the ResourceType header (or the kind of the API
    key's resource), because the same query_type means different things at the two endpoints (§2.3:
    `project POST` creates a project or replaces its ontology).
    """
    key, user = caller.api_key, caller.user
    # An API key is bound to one resource (checked at authentication); its kind is the context.
    context = "user" if user_endpoint else (key.resource_type if key is not None else resource_type)
    if not user_endpoint and context not in CONTEXTS:
        raise invalid(f"calls to /public need a ResourceType header, one of: {', '.join(CONTEXTS)}")
    operation = V1.get((context, envelope.query_type, envelope.query_method))
    if operation is None:
        # Encord's answer to an unknown call; the log tells it apart from a handler's own refusal.
        raise ApiError(
            "METHOD_NOT_ALLOWED_ERROR",
            f"{envelope.query_type} {envelope.query_method} is not supported at this endpoint",
            outcome=NO_ROUTE,
        )
    resource: Any = None
    if key is not None:
        _check_key(key, operation, envelope)
        resource = store.get(kind_named(context).cls, key.resource_hash)
        if resource is None:
            raise not_found(context, key.resource_hash)
    elif not user_endpoint:
        # Old SDKs addressed ontologies by uid rather than ResourceID.
        target = resource_id or (envelope.uid if isinstance(envelope.uid, str) else "")
        resource = visible(store, kind_named(context).cls, target, user)
        if operation.admin:
            require_admin(resource, user)
    call = V1Call(store, user, envelope.uid, envelope.payload, resource, key)
    return _run(operation.handler, operation.modelled, call)


# ---- v2 ----------------------------------------------------------------------------------------


def resolve_v2(method: str, path: str) -> tuple[V2Route, dict[str, str]]:
    """The route for `method path`; 404 (NO_ROUTE) when no pattern matches the path, 405 when only the verb is wrong."""
    path_matches = False
    for route in _BY_LITERALNESS:
        match = route.regex.fullmatch(path)
        if match is None:
            continue
        path_matches = True
        if route.method == method:
            return route, match.groupdict()
    if path_matches:
        raise ApiError("METHOD_NOT_ALLOWED_ERROR", f"{method} is not allowed on {path}")
    raise no_route(path)


def dispatch_v2(route: V2Route, call: V2Call) -> tuple[Any, str]:
    """Run one v2 call on its route: (result, log outcome)."""
    return _run(route.handler, route.modelled, call)


def route_params(method: str, path: str) -> tuple[str | None, str | None]:
    """(resource_type, resource_id) of a request for the request log, without raising."""
    try:
        route, params = resolve_v2(method, path)
    except ApiError:
        return None, None
    kind = route.resource_type
    if kind is None:
        return None, None
    # Projects, datasets and ontologies are named by hash (`{project_hash}`), storage by UUID (`{folder_uuid}`).
    return kind, params.get(f"{kind}_hash") or params.get(f"{kind}_uuid")
