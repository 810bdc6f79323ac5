"""Administering projects and datasets: their users (P-08, P-09, D-07, D-08), copies (P-11) and status (P-12)."""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
from datetime import timedelta
from typing import Any

from .. import payloads
from ..errors import forbidden, invalid
from ..operations import NO_CONTENT, NoContent, V1Call, V1Key, V1Operation, V2Call, V2Route
from ..paging import page_size
from ..records import new_hash, now
from ..resources import ADMIN, Resource, add_members, new_resource, remove_members, require_admin, visible
from ..store import Store
from .datasets import DataRow, Dataset, attachable_datasets, create_dataset, data_rows_of
from .organisation import home_of, is_admin_of
from .projects import Project, datasets_of
from .users import User

# ---- rules -------------------------------------------------------------------------------------

PROJECT_STATUSES = ("notStarted", "inProgress", "inReview", "paused", "completed", "cancelled", "archived")  # §6.9
COPY_OPTIONS = ("labels", "datasets", "models", "collaborators")  # §5.3 †
REVIEW_STATES = ("APPROVED", "PENDING", "REJECTED", "DELETED", "NOT_SELECTED_FOR_REVIEW")


def remove_users(store: Store, user: User, record: Resource, emails: list[str]) -> None:
    """P-09, D-08: the resource's admin removes users; removing an admin takes an organisation admin too."""
    require_admin(record, user)
    admins = [e for e in emails if record.direct().get(e) == ADMIN]
    if admins and not is_admin_of(store, home_of(store, record.owner), user.email):
        raise forbidden(f"only an organisation admin may remove the admins {', '.join(admins)}")
    remove_members(store, record, emails)


def set_status(store: Store, user: User, project: Project, status: str) -> None:
    require_admin(project, user)
    if status not in PROJECT_STATUSES:
        raise invalid(f"'status' must be one of {', '.join(PROJECT_STATUSES)}")
    project.status = status
    project.touch()
    store.put(project)


@dataclasses.dataclass(frozen=True)
class CopyRequest:
    """What the SDK asks a copy to carry (§5.3 †), read and checked before anything is written."""

    options: tuple[str, ...]
    title: str | None
    description: str | None
    clone: bool
    dataset_title: str | None
    dataset_description: str | None
    data_hashes: dict[str, list[str]]

    @classmethod
    def parse(cls, fields: dict[str, Any]) -> CopyRequest:
        options = payloads.text_list(fields, "copy_project_options", default=[])
        if unknown := [o for o in options if o not in COPY_OPTIONS]:
            raise invalid(f"unknown copy_project_options {unknown}; the options are {', '.join(COPY_OPTIONS)}")
        labels = payloads.as_object(fields.get("copy_labels_options"), "copy_labels_options")
        metadata = payloads.as_object(fields.get("project_copy_metadata"), "project_copy_metadata")
        if labels.get("accepted_label_hashes") is not None:
            payloads.text_list(labels, "accepted_label_hashes")
        statuses = labels.get("accepted_label_statuses")
        if statuses is not None and (not isinstance(statuses, list) or set(statuses) - set(REVIEW_STATES)):
            raise invalid(f"'accepted_label_statuses' must be a list of {', '.join(REVIEW_STATES)}")
        clone = payloads.flag(labels, "create_new_dataset", default=False)
        if clone and "datasets" in options:
            raise invalid("a copy either attaches the datasets ('datasets') or clones them (create_new_dataset)")
        mapping = payloads.as_object(labels.get("datasets_to_data_hashes_map"), "datasets_to_data_hashes_map")
        data_hashes = {key: payloads.text_list(mapping, key) for key in mapping}
        return cls(
            options=tuple(options),
            title=payloads.optional_text(metadata, "project_title"),
            description=payloads.optional_text(metadata, "project_description"),
            clone=clone,
            dataset_title=payloads.optional_text(metadata, "dataset_title"),
            dataset_description=payloads.optional_text(metadata, "dataset_description"),
            data_hashes=data_hashes,
        )


def _fresh_stages(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workflow's stages under new UUIDs, pathways pointing at the new ones."""
    renamed = {stage.get("uuid"): new_hash() for stage in stages}
    fresh = copy.deepcopy(stages)
    for stage in fresh:
        stage["uuid"] = renamed[stage.get("uuid")]
        for pathway in stage.get("pathways") or []:
            pathway["uuid"] = new_hash()
            pathway["destinationUuid"] = renamed.get(pathway.get("destinationUuid"), pathway.get("destinationUuid"))
    return fresh


def _clone_datasets(store: Store, user: User, source: Project, request: CopyRequest) -> Dataset:
    """One new dataset holding copies of the source's data units: those the map names, else all of them."""
    datasets = [visible(store, Dataset, d.hash, user) for d in datasets_of(store, source)]
    by_hash = {d.hash: d for d in datasets}
    if strangers := [h for h in request.data_hashes if h not in by_hash]:
        raise invalid(f"datasets_to_data_hashes_map names datasets the project does not have: {strangers}")
    rows: list[DataRow] = []
    for dataset in datasets:
        if request.data_hashes and dataset.hash not in request.data_hashes:
            continue
        wanted = set(request.data_hashes.get(dataset.hash, []))
        units = data_rows_of(store, dataset)
        if missing := wanted - {r.data_hash for r in units}:
            raise invalid(f"dataset {dataset.hash} has no data units {sorted(missing)}")
        rows += [r for r in units if not wanted or r.data_hash in wanted]
    clone = create_dataset(
        store,
        user,
        request.dataset_title or f"{source.title} (copy)",
        request.dataset_description or "",
        storage_location=0,
        backing_folder=True,
    )
    at = now()
    for index, row in enumerate(rows):
        data_hash = new_hash()
        # A microsecond apart, so that the clone lists its units in the source's order (ties would go by hash).
        created = at + timedelta(microseconds=index)
        store.put(
            dataclasses.replace(
                row,
                data_hash=data_hash,
                dataset_hash=clone.hash,
                created_at=created,
                last_edited_at=created,
                file_link=f"cord-data/{clone.hash}/{data_hash}",
                backing_item_uuid=None,
            )
        )
    return clone


def copy_project(store: Store, user: User, source: Project, request: CopyRequest) -> Project:
    """P-11: a new project the caller owns, on the same ontology, with what was asked for.

    `datasets` attaches the source's datasets (the caller must administer them, as for P-05); cloning makes one new dataset of copies of its data units (all,
    or those `datasets_to_data_hashes_map` names); `collaborators` gives the source's users their roles. Label
    rows and models are not modelled by the sandbox, so `labels` and `models` carry nothing yet.
    """
    base = new_resource(
        request.title if request.title is not None else f"{source.title} (copy)",
        request.description if request.description is not None else source.description,
        user,
    )
    if request.clone:
        dataset_hashes = [_clone_datasets(store, user, source, request).hash]
    else:
        attached = attachable_datasets(store, user, source.dataset_hashes) if "datasets" in request.options else []
        dataset_hashes = [d.hash for d in attached]
    workflow = source.workflow_manager_uuid is not None
    project = store.put(
        dataclasses.replace(
            source,
            **base,
            dataset_hashes=dataset_hashes,
            status=PROJECT_STATUSES[0],
            tags=[],
            workflow_manager_uuid=new_hash() if workflow else None,
            workflow_stages=_fresh_stages(source.workflow_stages),
        )
    )
    if "collaborators" in request.options:
        by_role: dict[int, list[str]] = {}
        for email, role in source.direct().items():
            if email != user.email:
                by_role.setdefault(role, []).append(email)
        for role, emails in by_role.items():
            add_members(store, project, emails, role)
    return project


# ---- wire shapes -------------------------------------------------------------------------------


def project_user_v2(email: str, role: int) -> dict[str, Any]:
    return {"userEmail": email, "userRole": role}


def dataset_user_v2(dataset: Dataset, email: str, role: int) -> dict[str, Any]:
    return {"datasetUuid": dataset.hash, "userEmail": email, "userRole": role}


def _email_token(email: str) -> str:
    return base64.urlsafe_b64encode(email.encode("utf-8")).decode("ascii").rstrip("=")


def _after_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid("pageToken is not a token this server issued") from None


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_copy_project(call: V1Call) -> str:
    request = CopyRequest.parse(call.fields)
    return copy_project(call.store, call.user, call.resource_as(Project), request).hash


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_list_project_users(call: V2Call) -> dict[str, Any]:
    """P-08 pages by e-mail (keyset: a user added meanwhile never makes another appear twice)."""
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    users = sorted(project.direct().items())
    token = call.query.get("pageToken")
    if token:
        after = _after_token(token)
        users = [(email, role) for email, role in users if email > after]
    size = page_size(call)
    chunk = users[:size]
    next_token = _email_token(chunk[-1][0]) if len(users) > size else None
    return {"results": [project_user_v2(e, r) for e, r in chunk], "nextPageToken": next_token}


def v2_remove_project_users(call: V2Call) -> NoContent:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    remove_users(call.store, call.user, project, payloads.text_list(call.json_object(), "userEmails"))
    return NO_CONTENT


def v2_set_project_status(call: V2Call) -> NoContent:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    set_status(call.store, call.user, project, payloads.text(call.json_object(), "status"))
    return NO_CONTENT


def v2_list_dataset_users(call: V2Call) -> dict[str, Any]:
    dataset = visible(call.store, Dataset, call.params["dataset_hash"], call.user)
    users = [dataset_user_v2(dataset, e, r) for e, r in dataset.direct().items()]
    return {"results": users, "nextPageToken": None}  # the SDK reads only the first page (§3.5)


def v2_remove_dataset_users(call: V2Call) -> NoContent:
    dataset = visible(call.store, Dataset, call.params["dataset_hash"], call.user)
    remove_users(call.store, call.user, dataset, payloads.text_list(call.json_object(), "userEmails"))
    return NO_CONTENT


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("project", "projectcopy", "POST"): V1Operation(v1_copy_project, admin=True),  # P-11
}

V2: tuple[V2Route, ...] = (
    V2Route("GET", "projects/{project_hash}/users", v2_list_project_users),  # P-08
    V2Route("POST", "projects/{project_hash}/users/bulk-delete", v2_remove_project_users),  # P-09
    V2Route("PUT", "projects/{project_hash}/status", v2_set_project_status),  # P-12
    V2Route("GET", "datasets/{dataset_hash}/users", v2_list_dataset_users),  # D-07
    V2Route("POST", "datasets/{dataset_hash}/users/bulk-delete", v2_remove_dataset_users),  # D-08
)
