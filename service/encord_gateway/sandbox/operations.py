"""How a domain declares its operations: the call a handler receives, and the v1 and v2 table entries."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from . import payloads
from .errors import invalid
from .store import Store

if TYPE_CHECKING:
    from .domains.apikeys import ApiKey
    from .domains.users import User

T = TypeVar("T")


# ---- v1 envelope operations --------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRule:
    """Whether a legacy resource API key may make a v1 call, and the §6.4 scope it must carry to do so."""

    allowed: bool
    scope: str | None = None


USER_ONLY = KeyRule(allowed=False)
"""User credentials only: no scope covers the call (membership and admin changes, key management)."""
ANY_KEY = KeyRule(allowed=True)
"""Any key of the resource, whatever its scopes (reading the resource record, `apikeymeta`)."""


def needs(scope: str) -> KeyRule:
    """A key with this scope may make the call (routing checks at import that the scope exists)."""
    return KeyRule(allowed=True, scope=scope)


@dataclass
class V1Call:
    """One authenticated envelope call: `resource` is the ResourceID record of the context, None at /public/user."""

    store: Store
    user: User
    uid: Any
    payload: Any
    resource: Any
    api_key: ApiKey | None = None

    @property
    def fields(self) -> dict[str, Any]:
        return payloads.as_object(self.payload, "payload")

    def resource_as(self, cls: type[T]) -> T:
        assert isinstance(self.resource, cls)  # guaranteed by the table's context
        return self.resource

    def role(self) -> int | None:
        return self.resource.role_of(self.user.email) if self.resource is not None else None


V1Handler = Callable[[V1Call], Any]
V1Key = tuple[str, str, str]
"""(context, query_type, query_method); the context is "user" for /public/user, else a kind name (ResourceType)."""


@dataclass(frozen=True)
class V1Operation:
    handler: V1Handler
    admin: bool = False
    """The caller must administer the ResourceID resource (writes that change it)."""
    key: KeyRule = USER_ONLY
    """Whether a resource API key may make the call, and the scope it needs (§6.4)."""
    modelled: bool = True
    """False for a stand-in handler; the request log then says NOT_MODELLED instead of its outcome."""


# ---- v2 REST routes ----------------------------------------------------------------------------


class NoContent:
    """Marker result: answer 204 (the SDK ignores the body of these calls, §3.2)."""


NO_CONTENT = NoContent()


@dataclass(frozen=True)
class Held:
    """Marker result of a long poll (§4.5) whose answer is not final yet: the server may hold the call for up to
    `hold_seconds`, running the handler again every little while until it answers something else, and
    otherwise answers `body`."""

    body: Any
    hold_seconds: float


@dataclass
class V2Call:
    """One authenticated v2 call: `params` are the route's path parameters."""

    store: Store
    user: User
    params: dict[str, str]
    query: Mapping[str, str]
    query_lists: Mapping[str, list[str]]
    body: Any
    origin: str = ""
    """Scheme and host the caller reached the sandbox at, for links the sandbox serves itself."""

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


V2Handler = Callable[[V2Call], Any]


@dataclass(frozen=True)
class V2Route:
    """`pattern` is the path under /v2/public/; `{name}` segments become `call.params[name]`."""

    method: str
    pattern: str
    handler: V2Handler
    modelled: bool = True
    """False for a stand-in handler; the request log then says NOT_MODELLED instead of its outcome."""
    regex: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        parts = [f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in self.pattern.split("/")]
        object.__setattr__(self, "regex", re.compile("/".join(parts)))

    @property
    def shape(self) -> str:
        """The pattern with parameter names erased: two routes of one shape and verb would shadow each other."""
        return re.sub(r"\{\w+\}", "{}", self.pattern)

    @property
    def resource_type(self) -> str | None:
        """The kind named by the route's first path parameter (`{project_hash}` → project), for the log."""
        match = re.search(r"\{(\w+?)_(?:hash|uuid)\}", self.pattern)
        return match.group(1) if match else None
