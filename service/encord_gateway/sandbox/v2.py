"""v2 REST operations: one table of (verb, path pattern) → handler for the paths under /v2/public/."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import domain, payloads, shapes
from .errors import ApiError, invalid
from .filters import V2_DATASET_NAMES, V2_NAMES, ListFilter
from .state import Ontology, Project, Store, User

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class NoContent:
    """Marker result: answer 204 (the SDK ignores the body of these calls, §3.2)."""


NO_CONTENT = NoContent()


@dataclass
class V2Call:
    store: Store
    user: User
    params: dict[str, str]
    query: Mapping[str, str]
    query_lists: Mapping[str, list[str]]
    body: Any

    def json_object(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise invalid("the request body must be a JSON object")
        return self.body

    def flag(self, name: str, default: bool) -> bool:
        raw = self.query.get(name)
        if raw is None:
            return default
        # The SDK spells query booleans the Python way (§3.2); accept JSON spelling too.
        if raw in ("True", "true"):
            return True
        if raw in ("False", "false"):
            return False
        raise invalid(f"{name} must be True or False")

    def page_size(self) -> int:
        raw = self.query.get("pageSize")
        if raw is None:
            return DEFAULT_PAGE_SIZE
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise invalid(f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}")
        return int(raw)

    def project(self) -> Project:
        return domain.visible(self.store, "project", self.params["project_hash"], self.user, Project)

    def ontology(self) -> Ontology:
        return domain.visible(self.store, "ontology", self.params["ontology_hash"], self.user, Ontology)


V2Handler = Callable[[V2Call], Any]


# ---- paging ------------------------------------------------------------------------------------
# Tokens are keyset positions (created_at, hash) rather than offsets, so a resource created while a
# client pages never makes another appear twice or go missing.


def _encode_token(created_at: datetime, resource_hash: str) -> str:
    raw = json.dumps([created_at.isoformat(), resource_hash]).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, resource_hash = json.loads(raw)
        return datetime.fromisoformat(created), str(resource_hash)
    except (binascii.Error, ValueError, TypeError):
        raise invalid("pageToken is not a token this server issued") from None


def page(call: V2Call, rows: Sequence[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """One page of `rows` (already sorted by (created_at, hash)) after the caller's pageToken."""
    token = call.query.get("pageToken")
    if token:
        position = _decode_token(token)
        rows = [r for r in rows if (r.created_at, r.hash) > position]
    size = call.page_size()
    chunk = rows[:size]
    next_token = _encode_token(chunk[-1].created_at, chunk[-1].hash) if len(rows) > size else None
    return {"results": [render(r) for r in chunk], "nextPageToken": next_token}


# ---- projects ----------------------------------------------------------------------------------


def get_project(call: V2Call) -> dict[str, Any]:
    project = call.project()
    return shapes.project_v2(call.store, project, project.role_of(call.user.email))


def list_projects(call: V2Call) -> dict[str, Any]:
    flt = ListFilter.from_fields(call.query, V2_NAMES)
    call.flag("includeOrgAccess", False)  # validated; the sandbox has no organisation admins
    rows = domain.listing(call.store, call.store.projects, call.user, flt)
    tags = call.query_lists.get("tagsAnyof")
    if tags:
        rows = [p for p in rows if set(p.tags) & set(tags)]
    return page(call, rows, lambda p: shapes.project_v2(call.store, p, p.role_of(call.user.email)))


def list_project_datasets(call: V2Call) -> dict[str, Any]:
    datasets = shapes.datasets_of(call.store, call.project())
    return {"results": [shapes.project_dataset_v2(d) for d in datasets], "nextPageToken": None}


# ---- datasets ----------------------------------------------------------------------------------


def create_dataset(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    dataset = domain.create_dataset(
        call.store,
        call.user,
        payloads.text(body, "title", non_empty=True),
        payloads.optional_text(body, "description") or "",
        storage_location=0,  # not on the wire in the current API (§9 item 21)
        backing_folder=payloads.flag(body, "createBackingFolder", default=True),
    )
    return {"datasetUuid": dataset.hash, "backingFolderUuid": dataset.backing_folder_uuid}


def list_datasets(call: V2Call) -> dict[str, Any]:
    flt = ListFilter.from_fields(call.query, V2_DATASET_NAMES)
    call.flag("includeOrgAccess", False)
    rows = domain.listing(call.store, call.store.datasets, call.user, flt)
    return {"result": [shapes.dataset_v2(d, d.role_of(call.user.email)) for d in rows]}


# ---- ontologies --------------------------------------------------------------------------------


def get_ontology(call: V2Call) -> dict[str, Any]:
    ontology = call.ontology()
    return shapes.ontology_v2(ontology, ontology.role_of(call.user.email))


def list_ontologies(call: V2Call) -> dict[str, Any]:
    flt = ListFilter.from_fields(call.query, V2_NAMES)
    call.flag("includeOrgAccess", False)
    rows = domain.listing(call.store, call.store.ontologies, call.user, flt)
    # The SDK reads only the first page of this listing (§3.5), so everything goes in it.
    return {
        "results": [shapes.ontology_v2(o, o.role_of(call.user.email)) for o in rows],
        "nextPageToken": None,
    }


def create_ontology(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    ontology = domain.create_ontology(
        call.store,
        call.user,
        payloads.text(body, "title", non_empty=True),
        payloads.text(body, "description", default=""),
        payloads.editor(body.get("editor", {})),
    )
    return shapes.ontology_v2(ontology, ontology.role_of(call.user.email))


def save_ontology(call: V2Call) -> NoContent:
    body, ontology = call.json_object(), call.ontology()
    domain.update_ontology(
        call.store,
        ontology,
        call.user,
        payloads.text(body, "title", non_empty=True),
        payloads.text(body, "description", default=""),
        payloads.editor(body.get("editor")),
    )
    return NO_CONTENT


# ---- user --------------------------------------------------------------------------------------


def mint_bearer_token(call: V2Call) -> dict[str, Any]:
    return {"token": call.store.mint_token(call.user.email)}


# ---- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class V2Route:
    method: str
    pattern: str
    handler: V2Handler
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        parts = [f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in self.pattern.split("/")]
        object.__setattr__(self, "regex", re.compile("/".join(parts)))

    @property
    def resource_type(self) -> str | None:
        """The kind named by the route's first path parameter (`{project_hash}` → project), for the log."""
        match = re.search(r"\{(\w+?)_(?:hash|uuid)\}", self.pattern)
        return match.group(1) if match else None


ROUTES: tuple[V2Route, ...] = (
    V2Route("GET", "projects", list_projects),  # U-02
    V2Route("GET", "projects/{project_hash}", get_project),  # U-04 / P-02
    V2Route("GET", "projects/{project_hash}/datasets", list_project_datasets),  # P-04
    V2Route("POST", "datasets", create_dataset),  # U-05
    V2Route("GET", "datasets/list", list_datasets),  # U-06
    V2Route("GET", "ontologies", list_ontologies),  # O-02
    V2Route("POST", "ontologies", create_ontology),  # O-03
    V2Route("GET", "ontologies/{ontology_hash}", get_ontology),  # O-01 / P-03
    V2Route("PUT", "ontologies/{ontology_hash}", save_ontology),  # O-04
    V2Route("GET", "user/bearer-token", mint_bearer_token),  # U-08
)


_BY_LITERALNESS = tuple(sorted(ROUTES, key=lambda r: r.pattern.count("{")))


def resolve(method: str, path: str) -> tuple[V2Route, dict[str, str]]:
    """The route for `method path`; 404 when no pattern matches the path, 405 when only the verb is wrong.

    Literal segments win over parameters (`datasets/list` is not `datasets/{dataset_hash}`), because the
    table is searched with the most literal patterns first.
    """
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
    raise ApiError("RESOURCE_NOT_FOUND_ERROR", f"no such endpoint: {path}")


def route_params(method: str, path: str) -> tuple[str | None, str | None]:
    """(resource_type, resource_id) of a request for the request log, without raising."""
    try:
        route, params = resolve(method, path)
    except ApiError:
        return None, None
    kind = route.resource_type
    return kind, (params.get(f"{kind}_hash") if kind else None)


__all__ = ["NO_CONTENT", "ROUTES", "NoContent", "V2Call", "V2Route", "resolve", "route_params"]
