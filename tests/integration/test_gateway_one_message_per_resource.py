"""One message per resource through a running gateway: a Get and a List of the same resource agree.

Before: GetProject left out what ListProjects had (status, type, creator, role), GetDataset and
ListDatasets filled different storage fields, and `user_role` had three types on three resources.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from encord_gateway._generated.encord.gateway.v1 import common_pb2, datasets_pb2, projects_pb2

if TYPE_CHECKING:
    from conftest import GatewayProcess, Sandbox, Stubs

SHARED_PROJECT_FIELDS = (
    "project_hash", "title", "description", "created_at", "last_edited_at", "ontology_hash", "project_type", "status",
    "creator_email", "user_role",
)  # fmt: skip


def test_get_project_fills_every_field_list_projects_fills(
    stubs: Stubs, gateway: GatewayProcess, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    title = make_title("same")
    created = stubs.projects.CreateProject(projects_pb2.CreateProjectRequest(title=title, description="d"), metadata=md)

    got = stubs.projects.GetProject(projects_pb2.GetProjectRequest(project_hash=created.project_hash), metadata=md)
    (listed,) = stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(title_eq=title), metadata=md).projects

    assert got.user_role == common_pb2.PROJECT_USER_ROLE_ADMIN
    assert got.status != common_pb2.PROJECT_STATUS_UNSPECIFIED and got.creator_email
    assert {name: getattr(got, name) for name in SHARED_PROJECT_FIELDS} == {
        name: getattr(listed, name) for name in SHARED_PROJECT_FIELDS
    }


def test_get_dataset_and_list_datasets_fill_the_same_storage_and_role_fields(
    stubs: Stubs, gateway: GatewayProcess, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    title = make_title("storage")
    created = stubs.datasets.CreateDatasetLegacy(
        datasets_pb2.CreateDatasetLegacyRequest(title=title, storage_location=common_pb2.STORAGE_LOCATION_GCP),
        metadata=md,
    )
    got = stubs.datasets.GetDataset(datasets_pb2.GetDatasetRequest(dataset_hash=created.dataset_hash), metadata=md)
    (listed,) = stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest(title_eq=title), metadata=md).datasets

    assert got.storage_location == listed.storage_location == common_pb2.STORAGE_LOCATION_GCP
    assert listed.user_role == datasets_pb2.DATASET_USER_ROLE_ADMIN


def test_user_role_has_one_json_type_on_every_resource_over_rest(
    gateway: GatewayProcess, make_title: Callable[[str], str]
) -> None:
    title = make_title("roles")
    for path, body in (
        ("/v1/projects", {"title": title}),
        ("/v1/datasets", {"title": title}),
        ("/v1/ontologies", {"title": title, "structure": {"objects": [], "classifications": []}}),
    ):
        assert gateway.rest("POST", path, body=body).status == 200, path
    roles = {
        "projects": gateway.rest("GET", f"/v1/projects?title_eq={title}").json()["projects"][0]["user_role"],
        "datasets": gateway.rest("GET", f"/v1/datasets?title_eq={title}").json()["datasets"][0]["user_role"],
        "ontologies": gateway.rest("GET", f"/v1/ontologies?title_eq={title}").json()["ontologies"][0]["user_role"],
    }
    assert roles == {
        "projects": "PROJECT_USER_ROLE_ADMIN",
        "datasets": "DATASET_USER_ROLE_ADMIN",
        "ontologies": "ONTOLOGY_USER_ROLE_ADMIN",
    }


def test_get_dataset_and_list_data_rows_answer_the_same_typed_data_rows(
    stubs: Stubs, gateway: GatewayProcess, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    created = stubs.datasets.CreateDataset(datasets_pb2.CreateDatasetRequest(title=make_title("rows")), metadata=md)
    sandbox.seed_data_units(
        created.dataset_hash,
        [
            {"title": "clip.mp4", "data_type": "VIDEO", "frames": 20},
            {"title": "burst", "data_type": "IMG_GROUP", "images": ["b0.jpg", "b1.jpg"]},
        ],
    )

    got = stubs.datasets.GetDataset(datasets_pb2.GetDatasetRequest(dataset_hash=created.dataset_hash), metadata=md)
    listed = stubs.datasets.ListDataRows(
        datasets_pb2.ListDataRowsRequest(dataset_hash=created.dataset_hash), metadata=md
    )

    assert [(r.data_title, r.data_type) for r in got.data_rows] == [
        ("clip.mp4", datasets_pb2.DATA_ROW_TYPE_VIDEO),
        ("burst", datasets_pb2.DATA_ROW_TYPE_IMG_GROUP),
    ]
    assert list(got.data_rows) == list(listed.data_rows)
