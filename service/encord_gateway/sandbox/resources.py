"""What projects, datasets and ontologies share: identity, owner, members with roles, and who may see them.

A user acts on a resource with the strongest of two roles: the one it was given itself (a direct member,
P-07/D-06) and the ones groups it belongs to were granted (P-10, D-09, O-05). `members` holds that effective
role of everyone who can see the resource, so that `role_of`, `visible` and the members index answer for
group grants too; `direct_members` and `group_members` are what it is made of, and every change to either
goes through this module, which recomputes `members`. Storage folders (S-19) keep their members the same way,
with string roles (`Membered`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import forbidden, invalid, not_found
from .filters import ListFilter
from .records import new_hash, now
from .store import Store, kind_of

if TYPE_CHECKING:
    from .domains.users import User

# The role integer of an admin, for every kind of resource (§6.2); the owner of anything is its admin.
ADMIN = 0

# A role on a resource: an integer (projects, datasets, ontologies) or a string (storage folders), as on the wire.
Role = int | str

# Roles from strongest to weakest, for kinds whose roles are not integers already in that order: a project's
# team manager outranks its annotators and reviewers, a folder's admin its users (§6.2). Other kinds: the
# smaller integer is stronger.
ROLE_STRENGTH: dict[str, tuple[Role, ...]] = {"project": (ADMIN, 4, 3, 2, 1, 5), "storage_folder": ("admin", "user")}


class Membered(Protocol):
    """A record users reach directly and through groups: a Resource, or a storage folder."""

    owner: str
    members: dict[str, Any]
    direct_members: dict[str, Any] | None
    group_members: dict[str, Any]
    created_at: datetime

    def direct(self) -> dict[str, Any]: ...

    def touch(self) -> None: ...


@dataclass(kw_only=True)
class Resource:
    """What every resource has: identity, owner, members (email → effective role) and edit times."""

    hash: str
    title: str
    description: str
    owner: str
    members: dict[str, int]
    """Everyone who can see the resource, with the role they act with (indexed: `store.find(cls, "members", e)`)."""
    created_at: datetime
    last_edited_at: datetime
    direct_members: dict[str, int] | None = None
    """Users given a role on the resource itself; None for records from before groups, whose members all are."""
    group_members: dict[str, int] = field(default_factory=dict)
    """Users reaching the resource through groups, with the strongest role their groups were granted."""

    def role_of(self, email: str) -> int | None:
        return self.members.get(email)

    def direct(self) -> dict[str, int]:
        """The users given a role on the resource itself (P-08, D-07 list them; P-09, D-08 remove them)."""
        return dict(self.members if self.direct_members is None else self.direct_members)

    def readable_by(self, store: Store, email: str) -> bool:
        """Members may read a resource; a kind may widen this (a project's members read its ontology)."""
        return self.role_of(email) is not None

    def touch(self) -> None:
        self.last_edited_at = now()


R = TypeVar("R", bound=Resource)


def new_resource(title: str, description: str, user: User) -> dict[str, Any]:
    """The fields every new resource starts with; the creator is its owner and admin."""
    if not title.strip():
        raise invalid("title must not be empty")
    at = now()
    return {
        "hash": new_hash(),
        "title": title,
        "description": description,
        "owner": user.email,
        "members": {user.email: ADMIN},
        "direct_members": {user.email: ADMIN},
        "group_members": {},
        "created_at": at,
        "last_edited_at": at,
    }


def visible(store: Store, cls: type[R], resource_hash: Any, user: User) -> R:
    """The resource, or RESOURCE_NOT_FOUND_ERROR whether missing or someone else's (no existence leak)."""
    name = kind_of(cls).name
    if not isinstance(resource_hash, str) or not resource_hash:
        raise invalid(f"a {name} hash is required")
    record = store.get(cls, resource_hash)
    if record is None or not record.readable_by(store, user.email):
        raise not_found(name, resource_hash)
    return record


def require_admin(record: Resource, user: User) -> None:
    if record.role_of(user.email) != ADMIN:
        raise forbidden(f"only an admin of the {kind_of(type(record)).name} may do this")


def listing(store: Store, cls: type[R], user: User, flt: ListFilter) -> list[R]:
    """The caller's resources of a kind matching `flt`, oldest first (ties by hash, so paging is stable)."""
    return [r for r in store.find(cls, "members", user.email) if flt.matches(r)]


def strongest(kind: str, roles: Iterable[Role]) -> Role:
    """The strongest of several roles on a resource of `kind` (there must be at least one)."""
    order = ROLE_STRENGTH.get(kind)
    return min(roles, key=lambda role: order.index(role) if order and role in order else role)


def _recompute(
    store: Store, record: Membered, direct: Mapping[str, Role], granted: Mapping[str, Role], *, edited: bool
) -> None:
    kind = kind_of(type(record)).name
    record.direct_members, record.group_members = dict(direct), dict(granted)
    everyone = dict.fromkeys([*direct, *granted])
    record.members = {
        email: strongest(kind, [r for r in (direct.get(email), granted.get(email)) if r is not None])
        for email in everyone
    }
    if edited:
        record.touch()
    store.put(record)


def add_members(store: Store, record: Membered, emails: list[str], role: Role) -> None:
    """Existing direct members keep their role (P-07, D-06)."""
    direct = record.direct()
    for email in emails:
        direct.setdefault(email, role)
    _recompute(store, record, direct, record.group_members, edited=True)


def remove_members(store: Store, record: Membered, emails: Iterable[str]) -> None:
    """Take away the roles users were given on the resource itself; e-mails without one are ignored (P-09, D-08).
    Access a group grants them stays."""
    gone = set(emails)
    direct = {email: role for email, role in record.direct().items() if email not in gone}
    _recompute(store, record, direct, record.group_members, edited=True)


def set_group_members(store: Store, record: Membered, granted: Mapping[str, Role]) -> None:
    """Replace who reaches the resource through groups (the groups domain computes it from grants and members).
    Not an edit of the resource: its `last_edited_at` stays."""
    if dict(granted) != record.group_members:
        _recompute(store, record, record.direct(), granted, edited=False)
