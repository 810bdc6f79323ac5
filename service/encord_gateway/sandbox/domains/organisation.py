"""Organisations (U-07, U-07L, U-17..U-22, E-01, E-09): members with roles, tags, cloud integrations, metadata schemas.

Every user belongs to at least one organisation. Registering a key through the control API signs a user up: a new
e-mail gets an organisation of its own with itself as its (internal) admin, unless an admin already added the
e-mail to theirs (U-18), which it then belongs to. A user may be added to further organisations; its *current*
organisation, the one every organisation-level call acts on, is the first it joined.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import ApiError, forbidden, invalid, not_found
from ..operations import NO_CONTENT, NoContent, V1Call, V1Key, V1Operation, V2Call, V2Route
from ..records import new_hash, now, v2_time
from ..resources import remove_members, require_admin, visible
from ..store import Store, kind_named, register_kind
from .projects import Project
from .users import User

# ---- records -----------------------------------------------------------------------------------

ROLES = ("ADMIN", "MEMBER", "TASKER", "WORKFORCE_MANAGER")  # §6.2 organisation roles
MEMBER_TYPES = ("internal", "external")
ADMIN_ROLE = "ADMIN"
# A fixed namespace, so that a role's UUID within an organisation is the same on every read (`roleUuid`).
_ROLE_NAMESPACE = uuid.UUID("6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")


@register_kind("organisation")
@dataclass(kw_only=True)
class Organisation:
    hash: str
    number: int
    """The integer id legacy answers carry (`organisationId` of the deprecated metadata schema)."""
    name: str
    created_at: datetime
    metadata_schema: dict[str, Any] | None = None
    """E-09: the client-metadata schema, keyed by metadata key; None until one is saved."""
    legacy_schema: dict[str, str] | None = None
    """E-09 (deprecated calls): the simple schema `{key: type}`, a document of its own, as on Encord."""
    legacy_schema_uuid: str | None = None
    legacy_schema_created_at: datetime | None = None
    legacy_schema_updated_at: datetime | None = None


@register_kind(
    "organisation_member", id="key", parent="organisation_hash", parent_kinds=("organisation",), keys=("email",)
)
@dataclass(kw_only=True)
class OrganisationMember:
    key: str
    """`<organisation hash>/<email>`: one membership per user and organisation."""
    organisation_hash: str
    email: str
    role: str
    member_type: str
    created_at: datetime
    last_edited_at: datetime


@register_kind(
    "organisation_tag",
    id="uuid",
    parent="organisation_hash",
    parent_kinds=("organisation",),
    keys=("project_hashes",),
)
@dataclass(kw_only=True)
class OrganisationTag:
    uuid: str
    organisation_hash: str
    name: str
    description: str | None
    created_at: datetime
    project_hashes: list[str] = field(default_factory=list)
    """The projects it is attached to; their `tags` carry its name for the `tagsAnyof` filter of U-02."""


@register_kind(
    "cloud_integration", id="uuid", parent="organisation_hash", parent_kinds=("organisation",), keys=("owner",)
)
@dataclass(kw_only=True)
class CloudIntegration:
    """A cloud integration, made in Encord's web app (here: seeded through the control API)."""

    uuid: str
    organisation_hash: str
    owner: str
    title: str
    created_at: datetime


# ---- rules -------------------------------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
MAX_EMAIL_LENGTH = 320

MemberRemoved = Callable[[Store, str, str], None]
_MEMBER_REMOVED: list[MemberRemoved] = []


def on_member_removed(listener: MemberRemoved) -> MemberRemoved:
    """Register `listener(store, organisation_hash, email)`, run when U-19 removes a member (the groups domain,
    listed after this one, drops the user from the organisation's groups)."""
    _MEMBER_REMOVED.append(listener)
    return listener


def email_address(value: Any, what: str = "email") -> str:
    if not isinstance(value, str) or len(value) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(value):
        raise invalid(f"'{what}' must be an e-mail address")
    return value


def membership(store: Store, organisation_hash: str, email: str) -> OrganisationMember | None:
    return store.get(OrganisationMember, f"{organisation_hash}/{email}")


def memberships(store: Store, email: str) -> list[OrganisationMember]:
    """Every organisation the user belongs to, in the order it joined them."""
    return store.find(OrganisationMember, "email", email)


def _join(store: Store, organisation: Organisation, email: str, role: str, member_type: str) -> OrganisationMember:
    at = now()
    key = f"{organisation.hash}/{email}"
    return store.put(
        OrganisationMember(
            key=key,
            organisation_hash=organisation.hash,
            email=email,
            role=role,
            member_type=member_type,
            created_at=at,
            last_edited_at=at,
        )
    )


def sign_up(store: Store, email: str) -> None:
    """A user registering its first key: an organisation of its own, unless one already added it (U-18)."""
    if memberships(store, email):
        return
    number = len(store.all(Organisation)) + 1
    organisation = store.put(
        Organisation(hash=new_hash(), number=number, name=f"{email}'s organisation", created_at=now())
    )
    _join(store, organisation, email, ADMIN_ROLE, "internal")


def current(store: Store, user: User) -> tuple[Organisation, OrganisationMember]:
    """The organisation the user acts in (the first it joined) and its membership there."""
    for member in memberships(store, user.email):
        organisation = store.get(Organisation, member.organisation_hash)
        if organisation is not None:
            return organisation, member
    raise forbidden("the user belongs to no organisation")


def administered(store: Store, user: User) -> Organisation:
    """The user's current organisation, which it must administer."""
    organisation, member = current(store, user)
    if member.role != ADMIN_ROLE:
        raise forbidden("only an admin of the organisation may do this")
    return organisation


def home_of(store: Store, email: str) -> str | None:
    """The hash of the organisation a user acts in; a resource belongs to its owner's."""
    found = memberships(store, email)
    return found[0].organisation_hash if found else None


def is_admin_of(store: Store, organisation_hash: str | None, email: str) -> bool:
    member = membership(store, organisation_hash, email) if organisation_hash else None
    return member is not None and member.role == ADMIN_ROLE


def add_member(store: Store, user: User, email: str, role: str, member_type: str) -> OrganisationMember:
    """U-18: the account is made when the e-mail has none; a member already there is a conflict."""
    organisation = administered(store, user)
    if role not in ROLES:
        raise invalid(f"'roleMnemonicName' must be one of {', '.join(ROLES)}")
    if member_type not in MEMBER_TYPES:
        raise invalid(f"'memberType' must be one of {', '.join(MEMBER_TYPES)}")
    if role == ADMIN_ROLE and member_type != "internal":
        raise invalid("only internal members may be organisation admins")
    if membership(store, organisation.hash, email) is not None:
        raise ApiError("RESOURCE_EXISTS_ERROR", f"{email} is already a member of the organisation")
    if store.get(User, email) is None:
        store.put(User(email=email, user_hash=new_hash(), public_keys=[], created_at=now()))
    return _join(store, organisation, email, role, member_type)


def remove_member(store: Store, user: User, email: str) -> None:
    """U-19: the membership goes at once, and with it the user's groups and roles on the organisation's resources."""
    organisation = administered(store, user)
    member = membership(store, organisation.hash, email)
    if store.get(User, email) is None or member is None:
        raise not_found("organisation user", email)
    admins = [m for m in store.children(OrganisationMember, organisation.hash) if m.role == ADMIN_ROLE]
    if member.role == ADMIN_ROLE and len(admins) == 1:
        raise invalid("the organisation's last admin cannot be removed")
    store.delete(OrganisationMember, member.key)
    for listener in _MEMBER_REMOVED:
        listener(store, organisation.hash, email)
    _unassign(store, organisation.hash, email)


def _unassign(store: Store, organisation_hash: str, email: str) -> None:
    """Take the user's own roles on the organisation's projects, datasets and ontologies (not those it owns)."""
    for kind in ("project", "dataset", "ontology"):
        for record in store.find(kind_named(kind).cls, "members", email):
            if record.owner != email and email in record.direct() and home_of(store, record.owner) == organisation_hash:
                remove_members(store, record, [email])


def organisation_tag(store: Store, user: User, tag_uuid: str) -> OrganisationTag:
    """A tag of the user's current organisation, else not found."""
    organisation, _ = current(store, user)
    tag = store.get(OrganisationTag, tag_uuid)
    if tag is None or tag.organisation_hash != organisation.hash:
        raise not_found("organisation tag", tag_uuid)
    return tag


def create_tag(store: Store, user: User, name: str, description: str | None) -> OrganisationTag:
    organisation = administered(store, user)
    if any(t.name == name for t in store.children(OrganisationTag, organisation.hash)):
        raise ApiError("RESOURCE_EXISTS_ERROR", f"the organisation already has a tag named {name!r}")
    return store.put(
        OrganisationTag(
            uuid=new_hash(), organisation_hash=organisation.hash, name=name, description=description, created_at=now()
        )
    )


def _sync_project_tags(store: Store, project: Project) -> None:
    project.tags = [t.name for t in store.find(OrganisationTag, "project_hashes", project.hash)]
    store.put(project)


def attach_tag(store: Store, tag: OrganisationTag, project: Project) -> None:
    if project.hash not in tag.project_hashes:
        tag.project_hashes.append(project.hash)
        store.put(tag)
    _sync_project_tags(store, project)


def detach_tag(store: Store, tag: OrganisationTag, project: Project) -> None:
    if project.hash in tag.project_hashes:
        tag.project_hashes.remove(project.hash)
        store.put(tag)
    _sync_project_tags(store, project)


def delete_tag(store: Store, user: User, tag_uuid: str) -> None:
    """U-22: detached from every project first."""
    administered(store, user)
    tag = organisation_tag(store, user, tag_uuid)
    store.delete(OrganisationTag, tag.uuid)
    for project_hash in tag.project_hashes:
        project = store.get(Project, project_hash)
        if project is not None:
            _sync_project_tags(store, project)


def seed_integration(store: Store, owner: str, title: str) -> CloudIntegration:
    """A cloud integration as the web app would make it (control API): it belongs to its owner's organisation."""
    organisation_hash = home_of(store, owner)
    if organisation_hash is None:
        raise not_found("user", owner)
    if not title.strip():
        raise invalid("'title' must not be empty")
    return store.put(
        CloudIntegration(
            uuid=new_hash(), organisation_hash=organisation_hash, owner=owner, title=title, created_at=now()
        )
    )


def integrations(store: Store, user: User, *, include_org_access: bool) -> list[CloudIntegration]:
    """The user's own integrations; with `include_org_access`, an organisation admin sees all of its organisation's."""
    organisation, member = current(store, user)
    if include_org_access and member.role == ADMIN_ROLE:
        return store.children(CloudIntegration, organisation.hash)
    return [i for i in store.find(CloudIntegration, "owner", user.email) if i.organisation_hash == organisation.hash]


# The kinds of a metadata schema entry (`ty`) and of the deprecated simple schema's values.
SCHEMA_TYPES = frozenset(
    {
        "number",
        "boolean",
        "varchar",
        "datetime",
        "enum",
        "embedding",
        "text",
        "uuid",
        "variant",
        "user",
        "tombstone",
        "geospatial",
    }
)
LEGACY_SCHEMA_TYPES = frozenset(
    {"number", "string", "boolean", "datetime", "geospatial", "enum", "embedding", "long_string"}
)


def metadata_key(key: str) -> str:
    """The SDK's rule for a metadata key: letters and digits, with `-`, `_`, spaces and dots between."""
    stripped = re.sub(r"[-_ .]", "", key)
    if key.startswith("$") or not stripped or not stripped.isalnum() or stripped == "keyframes":
        raise invalid(f"{key!r} is not a valid metadata key")
    return key


def save_metadata_schema(store: Store, user: User, schema: Any) -> None:
    organisation = administered(store, user)
    document = payloads.as_object(schema, "the metadata schema")
    for key, entry in document.items():
        metadata_key(key)
        if not isinstance(entry, dict) or entry.get("ty") not in SCHEMA_TYPES:
            raise invalid(
                f"{key!r}: each entry must be an object whose 'ty' is one of {', '.join(sorted(SCHEMA_TYPES))}"
            )
    organisation.metadata_schema = document
    store.put(organisation)


def save_legacy_schema(store: Store, user: User, schema: Any) -> None:
    organisation = administered(store, user)
    document = payloads.as_object(schema, "the metadata schema")
    for key, kind in document.items():
        metadata_key(key)
        if kind not in LEGACY_SCHEMA_TYPES:
            raise invalid(f"{key!r}: the type must be one of {', '.join(sorted(LEGACY_SCHEMA_TYPES))}")
    at = now()
    if organisation.legacy_schema is None:
        organisation.legacy_schema_uuid, organisation.legacy_schema_created_at = new_hash(), at
    organisation.legacy_schema, organisation.legacy_schema_updated_at = dict(document), at
    store.put(organisation)


# ---- wire shapes -------------------------------------------------------------------------------


def organisation_user_v2(member: OrganisationMember) -> dict[str, Any]:
    """§7.13 OrganisationUser."""
    return {
        "email": member.email,
        "roleMnemonicName": member.role,
        "roleUuid": str(uuid.uuid5(_ROLE_NAMESPACE, f"{member.organisation_hash}/{member.role}")),
        "memberType": member.member_type,
        "createdAt": v2_time(member.created_at),
        "lastEditedAt": v2_time(member.last_edited_at),
    }


def tag_v2(tag: OrganisationTag) -> dict[str, Any]:
    """§7.13 OrganisationTag."""
    return {"uuid": tag.uuid, "name": tag.name}


def integration_v2(integration: CloudIntegration) -> dict[str, Any]:
    """§7.13 CloudIntegrationV2."""
    return {"integrationUuid": integration.uuid, "title": integration.title}


def integration_v1(integration: CloudIntegration) -> dict[str, Any]:
    """U-07L item."""
    return {"id": integration.uuid, "title": integration.title}


def legacy_schema_v2(organisation: Organisation) -> dict[str, Any] | None:
    """The deprecated schema record; None (JSON null) until one is saved."""
    if organisation.legacy_schema is None:
        return None
    assert organisation.legacy_schema_created_at is not None and organisation.legacy_schema_updated_at is not None
    return {
        "uuid": organisation.legacy_schema_uuid,
        "metadataSchema": organisation.legacy_schema,
        "organisationId": organisation.number,
        "createdAt": v2_time(organisation.legacy_schema_created_at),
        "updatedAt": v2_time(organisation.legacy_schema_updated_at),
    }


def _one_page(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The listings the SDK reads only once (§3.5): everything in the first page."""
    return {"results": results, "nextPageToken": None}


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_list_cloud_integrations(call: V1Call) -> list[dict[str, Any]]:
    return [integration_v1(i) for i in integrations(call.store, call.user, include_org_access=False)]


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_list_organisation_users(call: V2Call) -> dict[str, Any]:
    organisation, _ = current(call.store, call.user)
    return _one_page([organisation_user_v2(m) for m in call.store.children(OrganisationMember, organisation.hash)])


def v2_add_organisation_user(call: V2Call) -> NoContent:
    body = call.json_object()
    add_member(
        call.store,
        call.user,
        email_address(body.get("email")),
        payloads.text(body, "roleMnemonicName"),
        payloads.text(body, "memberType"),
    )
    return NO_CONTENT


def v2_remove_organisation_user(call: V2Call) -> NoContent:
    remove_member(call.store, call.user, call.params["email"])
    return NO_CONTENT


def v2_list_organisation_tags(call: V2Call) -> dict[str, Any]:
    organisation, _ = current(call.store, call.user)
    return _one_page([tag_v2(t) for t in call.store.children(OrganisationTag, organisation.hash)])


def v2_create_organisation_tag(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    tag = create_tag(
        call.store, call.user, payloads.text(body, "name", non_empty=True), payloads.optional_text(body, "description")
    )
    return tag_v2(tag)


def v2_delete_organisation_tag(call: V2Call) -> NoContent:
    delete_tag(call.store, call.user, call.params["tag_uuid"])
    return NO_CONTENT


def _administered_project(call: V2Call) -> Project:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    require_admin(project, call.user)
    return project


def v2_list_project_tags(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    return _one_page([tag_v2(t) for t in call.store.find(OrganisationTag, "project_hashes", project.hash)])


def v2_attach_project_tag(call: V2Call) -> NoContent:
    project = _administered_project(call)
    attach_tag(call.store, organisation_tag(call.store, call.user, call.params["tag_uuid"]), project)
    return NO_CONTENT


def v2_detach_project_tag(call: V2Call) -> NoContent:
    project = _administered_project(call)
    detach_tag(call.store, organisation_tag(call.store, call.user, call.params["tag_uuid"]), project)
    return NO_CONTENT


def v2_list_cloud_integrations(call: V2Call) -> dict[str, Any]:
    include = call.flag("includeOrgAccess", False)
    wanted_uuids = call.query_lists.get("filterIntegrationUuids")
    wanted_titles = call.query_lists.get("filterIntegrationTitles")
    found = integrations(call.store, call.user, include_org_access=include)
    # Both filters AND together (U-07).
    if wanted_uuids:
        found = [i for i in found if i.uuid in wanted_uuids]
    if wanted_titles:
        found = [i for i in found if i.title in wanted_titles]
    return {"result": [integration_v2(i) for i in found]}


def v2_get_metadata_schema(call: V2Call) -> dict[str, Any] | None:
    organisation, _ = current(call.store, call.user)
    return organisation.metadata_schema


def v2_save_metadata_schema(call: V2Call) -> NoContent:
    save_metadata_schema(call.store, call.user, call.body)
    return NO_CONTENT


def v2_get_legacy_metadata_schema(call: V2Call) -> dict[str, Any] | None:
    organisation, _ = current(call.store, call.user)
    return legacy_schema_v2(organisation)


def v2_save_legacy_metadata_schema(call: V2Call) -> NoContent:
    save_legacy_schema(call.store, call.user, call.body)
    return NO_CONTENT


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("user", "cloudintegration", "GET"): V1Operation(v1_list_cloud_integrations),  # U-07L
}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "cloud-integrations", v2_list_cloud_integrations),  # U-07
    V2Route("GET", "organisation/users", v2_list_organisation_users),  # U-17
    V2Route("POST", "organisation/users", v2_add_organisation_user),  # U-18
    V2Route("DELETE", "organisation/users/{email}", v2_remove_organisation_user),  # U-19
    V2Route("GET", "organisation/organisation-tags", v2_list_organisation_tags),  # U-20
    V2Route("POST", "organisation/organisation-tags", v2_create_organisation_tag),  # U-21
    V2Route("DELETE", "organisation/organisation-tags/{tag_uuid}", v2_delete_organisation_tag),  # U-22
    V2Route("GET", "projects/{project_hash}/tags", v2_list_project_tags),  # E-01
    V2Route("PUT", "projects/{project_hash}/tags/{tag_uuid}", v2_attach_project_tag),  # E-01
    V2Route("DELETE", "projects/{project_hash}/tags/{tag_uuid}", v2_detach_project_tag),  # E-01
    V2Route("GET", "organisation/client-metadata-schema-v2", v2_get_metadata_schema),  # E-09
    V2Route("POST", "organisation/client-metadata-schema-v2", v2_save_metadata_schema),  # E-09
    V2Route("GET", "organisation/client-metadata-schema", v2_get_legacy_metadata_schema),  # E-09 (deprecated)
    V2Route("POST", "organisation/client-metadata-schema", v2_save_legacy_metadata_schema),  # E-09 (deprecated)
)
