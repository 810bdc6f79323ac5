"""What projects, datasets and ontologies share: identity, owner, members with roles, and who may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import forbidden, invalid, not_found
from .filters import ListFilter
from .records import new_hash, now
from .store import Store, kind_of

if TYPE_CHECKING:
    from .domains.users import User

# The role integer of an admin, for every kind of resource (§6.2); the owner of anything is its admin.
ADMIN = 0


@dataclass(kw_only=True)
class Resource:
    """What every resource has: identity, owner, members (email → role) and edit times."""

    hash: str
    title: str
    description: str
    owner: str
    members: dict[str, int]
    created_at: datetime
    last_edited_at: datetime

    def role_of(self, email: str) -> int | None:
        return self.members.get(email)

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


def add_members(store: Store, record: Resource, emails: list[str], role: int) -> None:
    """Existing members keep their role (P-07, D-06)."""
    for email in emails:
        record.members.setdefault(email, role)
    record.touch()
    store.put(record)
