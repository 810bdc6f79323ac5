"""Projects, datasets and ontologies over gRPC: create, get and list (with the SDK's filters) through the gateway."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from encord_gateway._generated.encord.gateway.v1 import common_pb2, datasets_pb2, ontologies_pb2, projects_pb2
from google.protobuf import json_format, struct_pb2, timestamp_pb2

if TYPE_CHECKING:
    from conftest import GatewayProcess, Stubs

OBJECT = {
    "id": "1",
    "name": "Car",
    "color": "#D33115",
    "shape": "bounding_box",
    "featureNodeHash": "0a1b2c3d",
    "required": False,
    "attributes": [],
}
STRUCTURE = {"objects": [OBJECT], "classifications": []}


def struct(value: dict[str, object]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def as_dict(message: struct_pb2.Struct) -> dict[str, object]:
    return json_format.MessageToDict(message)


def assert_recent(stamp: timestamp_pb2.Timestamp) -> None:
    assert stamp.seconds, "timestamp is not set"
    assert abs(stamp.ToDatetime().timestamp() - time.time()) < 300, stamp


def test_create_project_with_dataset_and_ontology_then_get_it(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    dataset = stubs.datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(title=make_title("ds"), description="attached"), metadata=md
    )
    ontology = stubs.ontologies.CreateOntology(
        ontologies_pb2.CreateOntologyRequest(title=make_title("onto"), structure=struct(STRUCTURE)), metadata=md
    )
    title = make_title("project")
    created = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(
            title=title,
            description="a project made over gRPC",
            dataset_hashes=[dataset.dataset_hash],
            ontology_hash=ontology.ontology_hash,
        ),
        metadata=md,
    )
    assert created.project_hash

    project = stubs.projects.GetProject(projects_pb2.GetProjectRequest(project_hash=created.project_hash), metadata=md)
    assert project.project_hash == created.project_hash
    assert project.title == title
    assert project.description == "a project made over gRPC"
    assert_recent(project.created_at)
    assert project.ontology_hash == ontology.ontology_hash
    editor = as_dict(project.editor_ontology)
    assert [o["name"] for o in editor["objects"]] == ["Car"], editor
    assert [d.dataset_hash for d in project.datasets] == [dataset.dataset_hash]
    assert project.datasets[0].title == dataset.title
    assert project.datasets[0].description == "attached"


def test_list_projects_lists_a_new_project_and_honours_filters(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    tag = make_title("flt")
    first_title, second_title = f"{tag}-alpha", f"{tag}-beta"
    first = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=first_title, description=f"{tag} first description"), metadata=md
    )
    time.sleep(0.01)  # distinct creation times for the created_before/after filters
    second = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=second_title, description=f"{tag} second description"), metadata=md
    )

    def titles(**filters: object) -> list[str]:
        listed = stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(**filters), metadata=md)
        return sorted(p.title for p in listed.projects if p.title.startswith(tag))

    everything = stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(title_like=f"{tag}%"), metadata=md)
    by_hash = {p.project_hash: p for p in everything.projects}
    assert set(by_hash) == {first.project_hash, second.project_hash}
    assert by_hash[first.project_hash].title == first_title
    assert by_hash[first.project_hash].user_role == common_pb2.PROJECT_USER_ROLE_ADMIN

    assert titles(title_eq=first_title) == [first_title]
    assert titles(title_like=f"%{tag}-b%") == [second_title]
    assert titles(desc_eq=f"{tag} first description") == [first_title]
    assert titles(desc_like=f"{tag} second%") == [second_title]
    first_created = by_hash[first.project_hash].created_at
    second_created = by_hash[second.project_hash].created_at
    assert titles(title_like=f"{tag}%", created_after=first_created) == [second_title]
    assert titles(title_like=f"{tag}%", created_before=second_created) == [first_title]
    first_edited = by_hash[first.project_hash].last_edited_at
    second_edited = by_hash[second.project_hash].last_edited_at
    assert titles(title_like=f"{tag}%", edited_after=first_edited) == [second_title]
    assert titles(title_like=f"{tag}%", edited_before=second_edited) == [first_title]
    assert titles(title_eq=f"{tag}-nothing") == []


def test_list_projects_pages_past_the_first_hundred(
    gateway_factory: Callable[..., GatewayProcess], stubs_for: Callable[..., Stubs]
) -> None:
    fresh = gateway_factory()  # its own organisation: exactly the projects made here
    md = fresh.auth_metadata
    with fresh.channel() as opened:
        stubs = stubs_for(opened)
        made = {
            stubs.projects.CreateProject(
                projects_pb2.CreateProjectRequest(title=f"paged-{i:03d}"), metadata=md
            ).project_hash
            for i in range(101)
        }
        first = stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=md)
        assert len(first.projects) == 100
        assert first.next_page_token
        second = stubs.projects.ListProjects(
            projects_pb2.ListProjectsRequest(page_token=first.next_page_token), metadata=md
        )
        assert len(second.projects) == 1
        assert not second.next_page_token
        seen = [p.project_hash for p in first.projects] + [p.project_hash for p in second.projects]
        assert len(seen) == len(set(seen)) == 101
        assert set(seen) == made


def test_create_dataset_echoes_and_get_and_list_return_it(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    title = make_title("dataset")
    created = stubs.datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(
            title=title,
            description="street scenes",
            storage_location=common_pb2.STORAGE_LOCATION_CORD_STORAGE,
        ),
        metadata=md,
    )
    assert created.dataset_hash
    assert created.title == title
    assert created.description == "street scenes"
    assert created.storage_location == common_pb2.STORAGE_LOCATION_CORD_STORAGE

    fetched = stubs.datasets.GetDataset(datasets_pb2.GetDatasetRequest(dataset_hash=created.dataset_hash), metadata=md)
    assert fetched.dataset_hash == created.dataset_hash
    assert fetched.title == title
    assert fetched.description == "street scenes"
    # GetDataset (v1, `dataset_type: "CORD_STORAGE"`) and ListDatasets (v2, `storageLocation: 0`) fill the same field.
    assert fetched.storage_location == common_pb2.STORAGE_LOCATION_CORD_STORAGE
    (listed,) = stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest(title_eq=title), metadata=md).datasets
    assert listed.storage_location == fetched.storage_location
    assert listed.user_role == datasets_pb2.DATASET_USER_ROLE_ADMIN  # v2 answers "admin"

    def hashes(**filters: object) -> list[str]:
        listed = stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest(**filters), metadata=md)
        return [d.dataset_hash for d in listed.datasets]

    assert hashes(title_eq=title) == [created.dataset_hash]
    assert hashes(title_like=f"%{title[-10:]}") == [created.dataset_hash]
    assert created.dataset_hash in hashes(desc_eq="street scenes")
    assert created.dataset_hash in hashes(desc_like="street%")
    assert hashes(title_eq=title, desc_eq="something else") == []
    listed = stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest(title_eq=title), metadata=md).datasets[0]
    assert_recent(listed.created_at)
    assert hashes(title_eq=title, created_before=listed.created_at) == []
    after = timestamp_pb2.Timestamp(seconds=listed.created_at.seconds - 60)
    assert hashes(title_eq=title, created_after=after) == [created.dataset_hash]


def test_create_ontology_with_an_object_then_get_and_list_it(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    title = make_title("ontology")
    created = stubs.ontologies.CreateOntology(
        ontologies_pb2.CreateOntologyRequest(title=title, description="vehicles", structure=struct(STRUCTURE)),
        metadata=md,
    )
    assert created.ontology_hash
    assert created.title == title

    fetched = stubs.ontologies.GetOntology(
        ontologies_pb2.GetOntologyRequest(ontology_hash=created.ontology_hash), metadata=md
    )
    assert fetched.title == title
    assert fetched.description == "vehicles"
    assert_recent(fetched.created_at)
    structure = as_dict(fetched.structure)
    (car,) = structure["objects"]
    assert car["name"] == "Car"
    assert car["shape"] == "bounding_box"
    assert car["featureNodeHash"] == "0a1b2c3d"
    assert structure["classifications"] == []

    def hashes(**filters: object) -> list[str]:
        listed = stubs.ontologies.ListOntologies(ontologies_pb2.ListOntologiesRequest(**filters), metadata=md)
        return [o.ontology_hash for o in listed.ontologies]

    assert hashes(title_eq=title) == [created.ontology_hash]
    assert hashes(title_like=f"{title[:-3]}%") == [created.ontology_hash]
    assert created.ontology_hash in hashes(desc_eq="vehicles")
    assert created.ontology_hash in hashes(desc_like="vehic%")
    assert hashes(title_eq=title, created_before=fetched.created_at) == []
    assert created.ontology_hash in hashes()
