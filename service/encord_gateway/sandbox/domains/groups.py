"""Groups (U-09..U-16) and their grants on projects, datasets, ontologies and storage folders (P-10, D-09, O-05, S-19).

A group belongs to an organisation and holds some of its members. Granting a group a role on a resource gives every
member that role there (on a folder, on everything below it too); `resources.set_group_members` keeps each granted
resource's effective members up to date whenever a grant, a group's membership or the group itself changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import forbidden, invalid, not_found
from ..operations import NO_CONTENT, NoContent, V1Key, V1Operation, V2Call, V2Route
from ..records import new_hash, now, v2_time
from ..resources import Membered, Role, require_admin, set_group_members, strongest, visible
from ..store import Store, kind_named, record_id, register_kind
from .organisation import ADMIN_ROLE, current, home_of, membership, on_member_removed
from .storage import ADMIN_ROLE as FOLDER_ADMIN
from .storage import USER_ROLE as FOLDER_USER
from .storage import visible_folder, writable_folder
from .users import User

# ---- records -----------------------------------------------------------------------------------


@register_kind("group", parent="organisation_hash", parent_kinds=("organisation",), keys=("members",))
@dataclass(kw_only=True)
class Group:
    hash: str
    organisation_hash: str
    name: str
    description: str
    created_at: datetime
    members: list[str] = field(default_factory=list)
    managers: list[str] = field(default_factory=list)
    """Members who may change the group besides the organisation's admins: its creator (U-10)."""


@register_kind("group_grant", id="key", parent="group_hash", parent_kinds=("group",), keys=("resource_hash",))
@dataclass(kw_only=True)
class GroupGrant:
    """A group's role on one resource (one grant per group and resource)."""

    key: str
    """`<group hash>/<resource hash>`."""
    group_hash: str
    resource_kind: str
    resource_hash: str
    """The resource's id: a project's, dataset's or ontology's hash, a storage folder's UUID."""
    role: Role
    created_at: datetime


# Finds the resource a grant route names, if the caller may act on it (see it; administer it).
Finder = Callable[[Store, Any, User], Membered]


@dataclass(frozen=True)
class Grantable:
    """A kind of resource groups are granted roles on, and how its routes name and check it."""

    param: str
    """The route's path parameter holding the resource's id."""
    roles: tuple[Role, ...]
    """The roles a group may be granted (§6.2): integers, or strings for folders."""
    find: Finder
    """The resource, if the caller can see it (listing the grants)."""
    administered: Finder
    """The resource, if the caller administers it (granting and revoking)."""


def _resource(kind: str, *, admin: bool) -> Finder:
    def find(store: Store, resource_hash: Any, user: User) -> Membered:
        record = visible(store, kind_named(kind).cls, resource_hash, user)
        if admin:
            require_admin(record, user)
        found: Membered = record
        return found

    return find


def _grantable(kind: str, roles: tuple[Role, ...]) -> Grantable:
    return Grantable(f"{kind}_hash", roles, _resource(kind, admin=False), _resource(kind, admin=True))


GRANTABLE: dict[str, Grantable] = {
    "project": _grantable("project", tuple(range(6))),
    "dataset": _grantable("dataset", (0, 1)),
    "ontology": _grantable("ontology", (0, 1)),
    # A folder's admin is whoever holds admin on it or on a folder above it; Encord answers a folder the caller
    # cannot reach with an authorisation error, as every storage call does.
    "storage_folder": Grantable("folder_uuid", (FOLDER_USER, FOLDER_ADMIN), visible_folder, writable_folder),
}

# ---- rules -------------------------------------------------------------------------------------


def organisation_group(store: Store, user: User, group_hash: str) -> Group:
    """A group of the user's current organisation, else not found."""
    organisation, _ = current(store, user)
    group = store.get(Group, group_hash)
    if group is None or group.organisation_hash != organisation.hash:
        raise not_found("group", group_hash)
    return group


def managed_group(store: Store, user: User, group_hash: str) -> Group:
    """A group the user may change: it administers the organisation, or manages the group."""
    group = organisation_group(store, user, group_hash)
    _, member = current(store, user)
    if member.role != ADMIN_ROLE and user.email not in group.managers:
        raise forbidden("only an organisation admin or a manager of the group may change it")
    return group


def create_group(store: Store, user: User, name: str, description: str) -> Group:
    """U-10: organisation admins create groups and manage the ones they create."""
    organisation, member = current(store, user)
    if member.role != ADMIN_ROLE:
        raise forbidden("only an organisation admin may create groups")
    if not name.strip():
        raise invalid("'name' must not be empty")
    return store.put(
        Group(
            hash=new_hash(),
            organisation_hash=organisation.hash,
            name=name,
            description=description,
            created_at=now(),
            members=[user.email],
            managers=[user.email],
        )
    )


def refresh_resource(store: Store, kind: str, resource_hash: str) -> None:
    """Recompute who reaches one resource through groups, and with which role."""
    record: Membered | None = store.get(kind_named(kind).cls, resource_hash)
    if record is None:
        return
    roles: dict[str, list[Role]] = {}
    for grant in store.find(GroupGrant, "resource_hash", resource_hash):
        group = store.get(Group, grant.group_hash)
        for email in group.members if group is not None else []:
            roles.setdefault(email, []).append(grant.role)
    set_group_members(store, record, {email: strongest(kind, granted) for email, granted in roles.items()})


def _refresh_granted(store: Store, group: Group) -> None:
    for grant in store.children(GroupGrant, group.hash):
        refresh_resource(store, grant.resource_kind, grant.resource_hash)


def add_group_users(store: Store, group: Group, emails: list[str]) -> None:
    """U-15: every e-mail must be a member of the group's organisation."""
    strangers = [e for e in emails if membership(store, group.organisation_hash, e) is None]
    if strangers:
        raise forbidden(f"not members of the organisation: {', '.join(strangers)}")
    group.members.extend(e for e in dict.fromkeys(emails) if e not in group.members)
    store.put(group)
    _refresh_granted(store, group)


def remove_group_users(store: Store, group: Group, emails: list[str]) -> None:
    """U-16: e-mails not in the group are ignored."""
    group.members = [e for e in group.members if e not in emails]
    group.managers = [e for e in group.managers if e not in emails]
    store.put(group)
    _refresh_granted(store, group)


def delete_group(store: Store, group: Group) -> None:
    """U-12: revokes every grant the group held."""
    grants = store.children(GroupGrant, group.hash)
    for grant in grants:
        store.delete(GroupGrant, grant.key)
    store.delete(Group, group.hash)
    for grant in grants:
        refresh_resource(store, grant.resource_kind, grant.resource_hash)


@on_member_removed
def leave_groups(store: Store, organisation_hash: str, email: str) -> None:
    """A user removed from an organisation (U-19) leaves its groups, and the access they gave."""
    for group in store.find(Group, "members", email):
        if group.organisation_hash == organisation_hash:
            remove_group_users(store, group, [email])


def grant(store: Store, user: User, kind: str, record: Membered, group_hashes: list[str], role: Role) -> None:
    """P-10, D-09, O-05, S-19 (POST): the resource's admin (whom the handler checked) grants groups of its current
    organisation a role on it (one of the kind's GRANTABLE roles, which the handler checks too)."""
    resource_hash = record_id(record)
    groups = [organisation_group(store, user, h) for h in dict.fromkeys(group_hashes)]
    for group in groups:
        key = f"{group.hash}/{resource_hash}"
        existing = store.get(GroupGrant, key)
        created = existing.created_at if existing is not None else now()
        store.put(
            GroupGrant(
                key=key,
                group_hash=group.hash,
                resource_kind=kind,
                resource_hash=resource_hash,
                role=role,
                created_at=created,
            )
        )
    refresh_resource(store, kind, resource_hash)


def revoke(store: Store, kind: str, record: Membered, group_hashes: list[str]) -> None:
    """P-10, D-09, O-05, S-19 (DELETE, by the resource's admin): groups without a grant on it are ignored."""
    resource_hash = record_id(record)
    for group_hash in group_hashes:
        store.delete(GroupGrant, f"{group_hash}/{resource_hash}")
    refresh_resource(store, kind, resource_hash)


# ---- wire shapes -------------------------------------------------------------------------------


def group_v2(group: Group) -> dict[str, Any]:
    """§7.13 Group."""
    return {
        "groupHash": group.hash,
        "name": group.name,
        "description": group.description,
        "createdAt": v2_time(group.created_at),
    }


def entity_group_v2(store: Store, group: Group, record: Membered, role: Role) -> dict[str, Any]:
    """§7.13 entity group: a group with its role on a resource."""
    same = group.organisation_hash == home_of(store, record.owner)
    return group_v2(group) | {"isSameOrganisation": same, "userRole": role}


def _one_page(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The listings the SDK reads only once (§3.5): everything in the first page."""
    return {"results": results, "nextPageToken": None}


def _group_hashes(values: Any, what: str) -> list[str]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise invalid(f"'{what}' must be a non-empty list of group hashes")
    return values


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_list_groups(call: V2Call) -> dict[str, Any]:
    organisation, _ = current(call.store, call.user)
    return _one_page([group_v2(g) for g in call.store.children(Group, organisation.hash)])


def v2_create_group(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    name = payloads.text(body, "name", non_empty=True)
    description = payloads.optional_text(body, "description") or ""
    return group_v2(create_group(call.store, call.user, name, description))


def v2_get_group(call: V2Call) -> dict[str, Any]:
    return group_v2(organisation_group(call.store, call.user, call.params["group_hash"]))


def v2_delete_group(call: V2Call) -> NoContent:
    delete_group(call.store, managed_group(call.store, call.user, call.params["group_hash"]))
    return NO_CONTENT


def v2_update_group(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    group = managed_group(call.store, call.user, call.params["group_hash"])
    name, description = payloads.optional_text(body, "name"), payloads.optional_text(body, "description")
    if name is None and description is None:
        raise invalid("give 'name', 'description' or both")
    if name is not None:
        if not name.strip():
            raise invalid("'name' must not be empty")
        group.name = name
    if description is not None:
        group.description = description
    return group_v2(call.store.put(group))


def v2_list_group_users(call: V2Call) -> dict[str, Any]:
    group = organisation_group(call.store, call.user, call.params["group_hash"])
    return _one_page([{"userEmail": e} for e in group.members])


def v2_add_group_users(call: V2Call) -> dict[str, Any]:
    group = managed_group(call.store, call.user, call.params["group_hash"])
    add_group_users(call.store, group, payloads.text_list(call.json_object(), "userEmails"))
    return _one_page([{"userEmail": e} for e in group.members])


def v2_remove_group_users(call: V2Call) -> NoContent:
    group = managed_group(call.store, call.user, call.params["group_hash"])
    remove_group_users(call.store, group, payloads.text_list(call.json_object(), "userEmails"))
    return NO_CONTENT


def _role(body: dict[str, Any], grantable: Grantable) -> Role:
    """The POST body's `userRole`: one of the kind's roles, of the same JSON type (`true` is not the role 1)."""
    role = body.get("userRole")
    for choice in grantable.roles:
        if type(role) is type(choice) and role == choice:
            return choice
    raise invalid(f"'userRole' must be one of {', '.join(json.dumps(r) for r in grantable.roles)}")


def _list_entity_groups(call: V2Call, kind: str) -> dict[str, Any]:
    grantable = GRANTABLE[kind]
    record = grantable.find(call.store, call.params[grantable.param], call.user)
    rows = []
    for found in call.store.find(GroupGrant, "resource_hash", record_id(record)):
        group = call.store.get(Group, found.group_hash)
        if group is not None:
            rows.append(entity_group_v2(call.store, group, record, found.role))
    return _one_page(rows)


def _add_entity_groups(call: V2Call, kind: str) -> NoContent:
    grantable = GRANTABLE[kind]
    record = grantable.administered(call.store, call.params[grantable.param], call.user)
    body = call.json_object()
    role = _role(body, grantable)
    hashes = _group_hashes(body.get("groupHashList"), "groupHashList")
    grant(call.store, call.user, kind, record, hashes, role)
    return NO_CONTENT


def _remove_entity_groups(call: V2Call, kind: str) -> NoContent:
    grantable = GRANTABLE[kind]
    record = grantable.administered(call.store, call.params[grantable.param], call.user)
    revoke(call.store, kind, record, _group_hashes(call.query_lists.get("groupHashList"), "groupHashList"))
    return NO_CONTENT


def v2_list_project_groups(call: V2Call) -> dict[str, Any]:
    return _list_entity_groups(call, "project")


def v2_add_project_groups(call: V2Call) -> NoContent:
    return _add_entity_groups(call, "project")


def v2_remove_project_groups(call: V2Call) -> NoContent:
    return _remove_entity_groups(call, "project")


def v2_list_dataset_groups(call: V2Call) -> dict[str, Any]:
    return _list_entity_groups(call, "dataset")


def v2_add_dataset_groups(call: V2Call) -> NoContent:
    return _add_entity_groups(call, "dataset")


def v2_remove_dataset_groups(call: V2Call) -> NoContent:
    return _remove_entity_groups(call, "dataset")


def v2_list_ontology_groups(call: V2Call) -> dict[str, Any]:
    return _list_entity_groups(call, "ontology")


def v2_add_ontology_groups(call: V2Call) -> NoContent:
    return _add_entity_groups(call, "ontology")


def v2_remove_ontology_groups(call: V2Call) -> NoContent:
    return _remove_entity_groups(call, "ontology")


def v2_list_folder_groups(call: V2Call) -> dict[str, Any]:
    return _list_entity_groups(call, "storage_folder")


def v2_add_folder_groups(call: V2Call) -> NoContent:
    return _add_entity_groups(call, "storage_folder")


def v2_remove_folder_groups(call: V2Call) -> NoContent:
    return _remove_entity_groups(call, "storage_folder")


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "user/current-organisation/groups", v2_list_groups),  # U-09
    V2Route("POST", "organisation/groups", v2_create_group),  # U-10
    V2Route("GET", "organisation/groups/{group_hash}", v2_get_group),  # U-11
    V2Route("DELETE", "organisation/groups/{group_hash}", v2_delete_group),  # U-12
    V2Route("PATCH", "organisation/groups/{group_hash}", v2_update_group),  # U-13
    V2Route("GET", "organisation/groups/{group_hash}/users", v2_list_group_users),  # U-14
    V2Route("POST", "organisation/groups/{group_hash}/users", v2_add_group_users),  # U-15
    V2Route("POST", "organisation/groups/{group_hash}/users/bulk-delete", v2_remove_group_users),  # U-16
    V2Route("GET", "projects/{project_hash}/groups", v2_list_project_groups),  # P-10
    V2Route("POST", "projects/{project_hash}/groups", v2_add_project_groups),  # P-10
    V2Route("DELETE", "projects/{project_hash}/groups", v2_remove_project_groups),  # P-10
    V2Route("GET", "datasets/{dataset_hash}/groups", v2_list_dataset_groups),  # D-09
    V2Route("POST", "datasets/{dataset_hash}/groups", v2_add_dataset_groups),  # D-09
    V2Route("DELETE", "datasets/{dataset_hash}/groups", v2_remove_dataset_groups),  # D-09
    V2Route("GET", "ontologies/{ontology_hash}/groups", v2_list_ontology_groups),  # O-05
    V2Route("POST", "ontologies/{ontology_hash}/groups", v2_add_ontology_groups),  # O-05
    V2Route("DELETE", "ontologies/{ontology_hash}/groups", v2_remove_ontology_groups),  # O-05
    V2Route("GET", "storage/folders/{folder_uuid}/groups", v2_list_folder_groups),  # S-19
    V2Route("POST", "storage/folders/{folder_uuid}/groups", v2_add_folder_groups),  # S-19
    V2Route("DELETE", "storage/folders/{folder_uuid}/groups", v2_remove_folder_groups),  # S-19
)
