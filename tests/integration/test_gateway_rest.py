"""The same operations over REST/JSON, and REST and gRPC seeing the same data."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from encord_gateway._generated.encord.gateway.v1 import datasets_pb2, ontologies_pb2, projects_pb2
from google.protobuf import json_format

if TYPE_CHECKING:
    from conftest import GatewayProcess, Stubs

STRUCTURE = {
    "objects": [
        {"id": "1", "name": "Pedestrian", "color": "#FE9200", "shape": "polygon", "featureNodeHash": "77aa88bb"}
    ],
    "classifications": [],
}


def query(**params: str) -> str:
    return "?" + urllib.parse.urlencode(params)


def test_rest_projects_create_get_list(gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]) -> None:
    dataset = gateway.rest("POST", "/v1/datasets", body={"title": make_title("rest-ds")})
    assert dataset.status == 200, dataset.body
    ontology = gateway.rest("POST", "/v1/ontologies", body={"title": make_title("rest-onto"), "structure": STRUCTURE})
    assert ontology.status == 200, ontology.body
    dataset_hash, ontology_hash = dataset.json()["dataset_hash"], ontology.json()["ontology_hash"]

    title = make_title("rest-project")
    created = gateway.rest(
        "POST",
        "/v1/projects",
        body={
            "title": title,
            "description": "made over REST",
            "dataset_hashes": [dataset_hash],
            "ontology_hash": ontology_hash,
        },
    )
    assert created.status == 200, created.body
    assert created.headers["content-type"].startswith("application/json")
    project_hash = created.json()["project_hash"]

    got = gateway.rest("GET", f"/v1/projects/{project_hash}")
    assert got.status == 200, got.body
    project = got.json()
    assert project["project_hash"] == project_hash
    assert project["title"] == title
    assert project["description"] == "made over REST"
    assert project["created_at"].endswith("Z")
    assert project["ontology_hash"] == ontology_hash
    assert [o["name"] for o in project["editor_ontology"]["objects"]] == ["Pedestrian"]
    assert [d["dataset_hash"] for d in project["datasets"]] == [dataset_hash]

    listed = gateway.rest("GET", "/v1/projects" + query(title_like=f"%{title[-10:]}"))
    assert listed.status == 200, listed.body
    assert [p["project_hash"] for p in listed.json()["projects"]] == [project_hash]
    assert gateway.rest("GET", "/v1/projects" + query(title_eq=title, desc_eq="other")).json().get("projects", []) == []

    # gRPC sees what REST created.
    over_grpc = stubs.projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gateway.auth_metadata
    )
    assert over_grpc.title == title
    assert json_format.MessageToDict(over_grpc, preserving_proto_field_name=True) == project


def test_rest_sees_what_grpc_created(gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]) -> None:
    md = gateway.auth_metadata
    title = make_title("grpc-made")
    project_hash = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=title, description="from gRPC"), metadata=md
    ).project_hash
    got = gateway.rest("GET", f"/v1/projects/{project_hash}")
    assert got.status == 200, got.body
    assert got.json()["title"] == title
    assert got.json()["description"] == "from gRPC"
    listed = gateway.rest("GET", "/v1/projects" + query(title_eq=title)).json()
    assert [p["project_hash"] for p in listed["projects"]] == [project_hash]

    dataset_hash = stubs.datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(title=title), metadata=md
    ).dataset_hash
    assert gateway.rest("GET", f"/v1/datasets/{dataset_hash}").json()["title"] == title
    ontology_hash = stubs.ontologies.CreateOntology(
        ontologies_pb2.CreateOntologyRequest(title=title), metadata=md
    ).ontology_hash
    assert gateway.rest("GET", f"/v1/ontologies/{ontology_hash}").json()["title"] == title


def test_rest_datasets_create_get_list(gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]) -> None:
    title = make_title("rest-dataset")
    created = gateway.rest(
        "POST",
        "/v1/datasets",
        body={"title": title, "description": "cones", "storage_location": "STORAGE_LOCATION_CORD_STORAGE"},
    )
    assert created.status == 200, created.body
    body = created.json()
    assert body["title"] == title
    assert body["description"] == "cones"
    assert body["storage_location"] == "STORAGE_LOCATION_CORD_STORAGE"
    dataset_hash = body["dataset_hash"]

    got = gateway.rest("GET", f"/v1/datasets/{dataset_hash}")
    assert got.status == 200, got.body
    assert got.json()["title"] == title
    assert got.json()["description"] == "cones"

    for params in ({"title_eq": title}, {"title_like": f"{title[:-4]}%"}, {"title_eq": title, "desc_like": "con%"}):
        listed = gateway.rest("GET", "/v1/datasets" + query(**params))
        assert listed.status == 200, listed.body
        assert [d["dataset_hash"] for d in listed.json()["datasets"]] == [dataset_hash], params

    over_grpc = stubs.datasets.ListDatasets(
        datasets_pb2.ListDatasetsRequest(title_eq=title), metadata=gateway.auth_metadata
    )
    assert [d.dataset_hash for d in over_grpc.datasets] == [dataset_hash]


def test_rest_ontologies_create_get_list(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    title = make_title("rest-ontology")
    created = gateway.rest(
        "POST", "/v1/ontologies", body={"title": title, "description": "people", "structure": STRUCTURE}
    )
    assert created.status == 200, created.body
    ontology_hash = created.json()["ontology_hash"]

    got = gateway.rest("GET", f"/v1/ontologies/{ontology_hash}")
    assert got.status == 200, got.body
    ontology = got.json()
    assert ontology["title"] == title
    assert ontology["description"] == "people"
    assert ontology["structure"]["objects"][0]["name"] == "Pedestrian"
    assert ontology["structure"]["objects"][0]["shape"] == "polygon"

    listed = gateway.rest("GET", "/v1/ontologies" + query(title_like=f"%{title[-10:]}"))
    assert listed.status == 200, listed.body
    assert [o["ontology_hash"] for o in listed.json()["ontologies"]] == [ontology_hash]

    over_grpc = stubs.ontologies.GetOntology(
        ontologies_pb2.GetOntologyRequest(ontology_hash=ontology_hash), metadata=gateway.auth_metadata
    )
    assert json_format.MessageToDict(over_grpc.structure) == ontology["structure"]


def test_rest_accepts_json_names_as_well_as_proto_names(
    gateway: GatewayProcess, make_title: Callable[[str], str]
) -> None:
    dataset_hash = gateway.rest("POST", "/v1/datasets", body={"title": make_title("camel-ds")}).json()["dataset_hash"]
    title = make_title("camel")
    created = gateway.rest("POST", "/v1/projects", body={"title": title, "datasetHashes": [dataset_hash]})
    assert created.status == 200, created.body
    project = gateway.rest("GET", f"/v1/projects/{created.json()['project_hash']}").json()
    assert [d["dataset_hash"] for d in project["datasets"]] == [dataset_hash]
    listed = gateway.rest("GET", "/v1/projects" + query(titleEq=title))
    assert listed.status == 200, listed.body
    assert [p["title"] for p in listed.json()["projects"]] == [title]
