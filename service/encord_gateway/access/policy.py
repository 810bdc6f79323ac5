"""Caller policies, deny by default: which organisations, resources and rights a caller holds.

A policy is a list of grants. A grant names one organisation, resource patterns (`*`,
`project:*`, `project:<hash>`, likewise for every kind of `operations.resources.KINDS`) and rights:
the method classes `read`, `write`, `administer` (changing who may do what in Encord: members,
groups, grants), `admin` (the gateway's own admin API), or named methods (`ProjectService.GetProject`).
A call is allowed when one grant covers its organisation, its resource and its right; nothing else is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..operations.resources import KINDS

RIGHT_CLASSES = frozenset({"read", "write", "administer", "admin"})
RESOURCE_KINDS = KINDS
MAX_GRANTS = 1000


class PolicyError(ValueError):
    """A policy document is malformed; the message names the offending member."""


@dataclass(frozen=True)
class Grant:
    organisation: str
    resources: tuple[str, ...]
    rights: frozenset[str]

    def covers_organisation(self, organisation: str | None) -> bool:
        """`*` grants every organisation; gateway-wide calls (organisation None) need exactly that."""
        return self.organisation == "*" or (organisation is not None and self.organisation == organisation)

    def covers_right(self, right_class: str, method: str) -> bool:
        """`method` is the fully qualified RPC name; named rights may omit the package."""
        return right_class in self.rights or method in self.rights or short_method_name(method) in self.rights

    def covers_resource(self, kind: str | None, resource_id: str | None) -> bool:
        """A named resource needs `*`, `kind:*` or `kind:<id>`; a collection (list, create) needs a wildcard.

        Calls on no particular kind of resource (kind None) need `*`.
        """
        for pattern in self.resources:
            if pattern == "*" or (kind is not None and pattern == f"{kind}:*"):
                return True
            if kind is not None and resource_id is not None and pattern == f"{kind}:{resource_id}":
                return True
        return False


@dataclass(frozen=True)
class Limits:
    """Per-caller limits; None means the gateway's default."""

    requests_per_second: float | None = None
    burst: int | None = None
    max_concurrent: int | None = None


@dataclass(frozen=True)
class Policy:
    grants: tuple[Grant, ...] = ()
    limits: Limits = field(default_factory=Limits)

    @property
    def organisations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(grant.organisation for grant in self.grants))

    def allows(
        self, organisation: str, kind: str | None, resource_id: str | None, right_class: str, method: str
    ) -> bool:
        return any(
            grant.covers_organisation(organisation)
            and grant.covers_right(right_class, method)
            and grant.covers_resource(kind, resource_id)
            for grant in self.grants
        )

    def allows_admin(self, organisation: str | None, method: str) -> bool:
        """Admin calls name an organisation (or none, for gateway-wide calls); resources do not apply."""
        return any(g.covers_organisation(organisation) and g.covers_right("admin", method) for g in self.grants)

    def to_json(self) -> dict[str, Any]:
        limits = {
            key: value
            for key, value in (
                ("requests_per_second", self.limits.requests_per_second),
                ("burst", self.limits.burst),
                ("max_concurrent", self.limits.max_concurrent),
            )
            if value is not None
        }
        document: dict[str, Any] = {
            "grants": [
                {"organisation": g.organisation, "resources": list(g.resources), "rights": sorted(g.rights)}
                for g in self.grants
            ]
        }
        if limits:
            document["limits"] = limits
        return document


def short_method_name(method: str) -> str:
    """`encord.gateway.v1.ProjectService.GetProject` → `ProjectService.GetProject`."""
    service, _, name = method.rpartition(".")
    return f"{service.rpartition('.')[2]}.{name}"


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
        raise PolicyError(f"{where} must be a non-empty list of strings")
    return value


def _resource(pattern: str, where: str) -> str:
    if pattern == "*":
        return pattern
    kind, sep, ident = pattern.partition(":")
    if not sep or kind not in RESOURCE_KINDS or not ident:
        raise PolicyError(
            f"{where}: {pattern!r} is not '*', '<kind>:*' or '<kind>:<id>' (kinds: {sorted(RESOURCE_KINDS)})"
        )
    return pattern


def _right(right: str, where: str) -> str:
    if right in RIGHT_CLASSES or (right.count(".") >= 1 and right.replace(".", "").replace("_", "").isalnum()):
        return right
    raise PolicyError(
        f"{where}: {right!r} is neither read, write, administer, admin nor a method name like ProjectService.GetProject"
    )


def _positive(value: Any, where: str, kind: type) -> Any:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value <= 0
        or (kind is int and value != int(value))
    ):
        raise PolicyError(f"{where} must be a positive {'integer' if kind is int else 'number'}")
    return kind(value)


def parse_policy(document: Any) -> Policy:
    """Build a Policy from its JSON form, refusing anything ambiguous (deny by default means exact)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise PolicyError(f"policy is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyError("policy must be a JSON object")
    unknown = set(document) - {"grants", "limits"}
    if unknown:
        raise PolicyError(f"unknown policy members: {sorted(unknown)}")
    raw_grants = document.get("grants", [])
    if not isinstance(raw_grants, list) or len(raw_grants) > MAX_GRANTS:
        raise PolicyError(f"grants must be a list of at most {MAX_GRANTS} objects")
    grants = []
    for index, raw in enumerate(raw_grants):
        where = f"grants[{index}]"
        if not isinstance(raw, dict) or set(raw) - {"organisation", "resources", "rights"}:
            raise PolicyError(f"{where} must be an object with organisation, resources and rights")
        organisation = raw.get("organisation")
        if not isinstance(organisation, str) or not organisation:
            raise PolicyError(f"{where}.organisation must be a non-empty string")
        resources = tuple(
            _resource(p, f"{where}.resources") for p in _strings(raw.get("resources"), f"{where}.resources")
        )
        rights = frozenset(_right(r, f"{where}.rights") for r in _strings(raw.get("rights"), f"{where}.rights"))
        grants.append(Grant(organisation, resources, rights))
    raw_limits = document.get("limits", {})
    if not isinstance(raw_limits, dict) or set(raw_limits) - {"requests_per_second", "burst", "max_concurrent"}:
        raise PolicyError("limits may hold requests_per_second, burst and max_concurrent")
    limits = Limits(
        requests_per_second=_positive(raw_limits.get("requests_per_second"), "limits.requests_per_second", float),
        burst=_positive(raw_limits.get("burst"), "limits.burst", int),
        max_concurrent=_positive(raw_limits.get("max_concurrent"), "limits.max_concurrent", int),
    )
    return Policy(tuple(grants), limits)
