"""Ontologies (O-01..O-04 and their legacy v1 forms): the `editor` structure a project's labels follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import payloads
from ..errors import invalid
from ..filters import V1_NAMES, V2_NAMES, ListFilter
from ..operations import NO_CONTENT, NoContent, V1Call, V1Key, V1Operation, V2Call, V2Route
from ..records import v1_time, v2_time
from ..resources import Resource, listing, new_resource, require_admin, visible
from ..store import Store, kind_named, register_kind
from .users import User

# ---- records -----------------------------------------------------------------------------------


@register_kind("ontology", keys=("members",))
@dataclass(kw_only=True)
class Ontology(Resource):
    editor: dict[str, Any]

    def readable_by(self, store: Store, email: str) -> bool:
        """A project's collaborators may also read (not edit) its ontology, as on Encord: the SDK fetches the
        ontology of every project it opens. Projects are looked up by kind name: their module imports this one.
        """
        if super().readable_by(store, email):
            return True
        sharing = store.find(kind_named("project").cls, "ontology_hash", self.hash)
        return any(p.role_of(email) is not None for p in sharing)


# ---- rules -------------------------------------------------------------------------------------


def empty_editor() -> dict[str, Any]:
    return {"objects": [], "classifications": []}


def create_ontology(store: Store, user: User, title: str, description: str, editor: dict[str, Any]) -> Ontology:
    return store.put(Ontology(**new_resource(title, description, user), editor=editor))


def update_ontology(
    store: Store, ontology: Ontology, user: User, title: str, description: str, editor: dict[str, Any]
) -> None:
    require_admin(ontology, user)
    if not title.strip():
        raise invalid("title must not be empty")
    ontology.title, ontology.description, ontology.editor = title, description, editor
    ontology.touch()
    store.put(ontology)


# ---- wire shapes -------------------------------------------------------------------------------


def ontology_v1(ontology: Ontology, user_role: int | None) -> dict[str, Any]:
    """O-01L / O-03L record (snake_case, v1 times)."""
    return {
        "ontology_hash": ontology.hash,
        "title": ontology.title,
        "description": ontology.description,
        "editor": ontology.editor,
        "created_at": v1_time(ontology.created_at),
        "last_edited_at": v1_time(ontology.last_edited_at),
        "user_role": user_role,
    }


def ontology_v2(ontology: Ontology, user_role: int | None) -> dict[str, Any]:
    """§7.13 OntologyWithUserRole; all keys required, `userRole` nullable."""
    return {
        "ontologyUuid": ontology.hash,
        "title": ontology.title,
        "description": ontology.description,
        "editor": ontology.editor,
        "createdAt": v2_time(ontology.created_at),
        "lastEditedAt": v2_time(ontology.last_edited_at),
        "userRole": user_role,
    }


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_get_ontology(call: V1Call) -> dict[str, Any]:
    return ontology_v1(call.resource_as(Ontology), call.role())


def v1_create_ontology(call: V1Call) -> dict[str, Any]:
    f = call.fields
    ontology = create_ontology(
        call.store,
        call.user,
        payloads.text(f, "title", non_empty=True),
        payloads.text(f, "description", default=""),
        payloads.editor(f.get("editor", {})),
    )
    return ontology_v1(ontology, ontology.role_of(call.user.email))


def v1_save_ontology(call: V1Call) -> bool:
    f, ontology = call.fields, call.resource_as(Ontology)
    update_ontology(
        call.store,
        ontology,
        call.user,
        payloads.text(f, "title", default=ontology.title, non_empty=True),
        payloads.text(f, "description", default=ontology.description),
        payloads.editor(f.get("editor", ontology.editor)),
    )
    return True


def v1_list_ontologies_with_role(call: V1Call) -> list[dict[str, Any]]:
    flt = ListFilter.from_fields(payloads.as_object(call.fields.get("filter"), "filter"), V1_NAMES)
    return [
        {"user_role": o.role_of(call.user.email), "ontology": ontology_v1(o, o.role_of(call.user.email))}
        for o in listing(call.store, Ontology, call.user, flt)
    ]


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_get_ontology(call: V2Call) -> dict[str, Any]:
    ontology = visible(call.store, Ontology, call.params["ontology_hash"], call.user)
    return ontology_v2(ontology, ontology.role_of(call.user.email))


def v2_list_ontologies(call: V2Call) -> dict[str, Any]:
    flt = ListFilter.from_fields(call.query, V2_NAMES)
    call.flag("includeOrgAccess", False)  # validated; the sandbox has no organisation admins
    rows = listing(call.store, Ontology, call.user, flt)
    # The SDK reads only the first page of this listing (§3.5), so everything goes in it.
    return {"results": [ontology_v2(o, o.role_of(call.user.email)) for o in rows], "nextPageToken": None}


def v2_create_ontology(call: V2Call) -> dict[str, Any]:
    body = call.json_object()
    ontology = create_ontology(
        call.store,
        call.user,
        payloads.text(body, "title", non_empty=True),
        payloads.text(body, "description", default=""),
        payloads.editor(body.get("editor", {})),
    )
    return ontology_v2(ontology, ontology.role_of(call.user.email))


def v2_save_ontology(call: V2Call) -> NoContent:
    body = call.json_object()
    ontology = visible(call.store, Ontology, call.params["ontology_hash"], call.user)
    update_ontology(
        call.store,
        ontology,
        call.user,
        payloads.text(body, "title", non_empty=True),
        payloads.text(body, "description", default=""),
        payloads.editor(body.get("editor")),
    )
    return NO_CONTENT


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("user", "ontology", "POST"): V1Operation(v1_create_ontology),  # O-03L
    ("user", "ontologywithuserrole", "GET"): V1Operation(v1_list_ontologies_with_role),  # O-02L
    ("ontology", "ontology", "GET"): V1Operation(v1_get_ontology),  # O-01L
    ("ontology", "ontology", "PUT"): V1Operation(v1_save_ontology),  # O-04L (admin checked by update_ontology)
}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "ontologies", v2_list_ontologies),  # O-02
    V2Route("POST", "ontologies", v2_create_ontology),  # O-03
    V2Route("GET", "ontologies/{ontology_hash}", v2_get_ontology),  # O-01 / P-03
    V2Route("PUT", "ontologies/{ontology_hash}", v2_save_ontology),  # O-04
)
