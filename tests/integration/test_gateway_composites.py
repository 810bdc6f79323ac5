"""Operations that are several Encord calls, bound to earlier answers, and the ontology saves, as a caller sees them.

GetProjectDetails reads the project and then its ontology; AddProjectOntology* read the project's
legacy editor and write it back with one more entry; SaveOntologyLegacy reads the ontology record and
writes it back with the caller's changes. Reads of a changed resource must show the change (the
writes invalidate the gateway's cache).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import ontologies_pb2, projects_pb2
from google.protobuf import json_format, struct_pb2

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox, Stubs

CAR = {"id": "1", "name": "Car", "color": "#D33115", "shape": "bounding_box", "featureNodeHash": "0a1b2c3d"}
TRUCK = {"id": "2", "name": "Truck", "color": "#E27300", "shape": "polygon", "featureNodeHash": "4e5f6a7b"}
WEATHER = {
    "id": "1",
    "featureNodeHash": "8c9d0e1f",
    "attributes": [
        {
            "id": "1.1",
            "name": "Weather",
            "type": "radio",
            "required": False,
            "featureNodeHash": "2a3b4c5d",
            "options": [{"id": "1.1.1", "label": "Sunny", "value": "Sunny", "featureNodeHash": "6e7f8a9b"}],
        }
    ],
}


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def as_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def new_project(stubs: Stubs, gateway: GatewayProcess, title: str) -> str:
    request = projects_pb2.CreateProjectRequest(title=title)
    return str(stubs.projects.CreateProject(request, metadata=gateway.auth_metadata).project_hash)


def new_ontology(stubs: Stubs, gateway: GatewayProcess, title: str, structure: dict[str, Any]) -> str:
    request = ontologies_pb2.CreateOntologyRequest(title=title, description="vehicles", structure=struct(structure))
    return str(stubs.ontologies.CreateOntology(request, metadata=gateway.auth_metadata).ontology_hash)


def get_ontology(stubs: Stubs, gateway: GatewayProcess, ontology_hash: str) -> ontologies_pb2.Ontology:
    request = ontologies_pb2.GetOntologyRequest(ontology_hash=ontology_hash)
    return stubs.ontologies.GetOntology(request, metadata=gateway.auth_metadata)


# ---- GetProjectDetails (U-04) -------------------------------------------------------------------


def test_project_details_are_the_project_and_its_ontologys_structure(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    ontology_hash = new_ontology(
        stubs, gateway, make_title("details-ontology"), {"objects": [CAR], "classifications": []}
    )
    title = make_title("details")
    request = projects_pb2.CreateProjectRequest(title=title, ontology_hash=ontology_hash)
    project_hash = stubs.projects.CreateProject(request, metadata=gateway.auth_metadata).project_hash

    details = stubs.projects.GetProjectDetails(
        projects_pb2.GetProjectDetailsRequest(project_hash=project_hash), metadata=gateway.auth_metadata
    )

    assert (details.project.project_hash, details.project.title) == (project_hash, title)
    assert details.project.ontology_hash == ontology_hash
    assert details.ontology.ontology_hash == ontology_hash
    assert [o["name"] for o in as_dict(details.ontology.structure)["objects"]] == ["Car"]


# ---- the legacy editor (P-13) --------------------------------------------------------------------


def test_added_objects_are_appended_to_the_projects_ontology(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    project_hash = new_project(stubs, gateway, make_title("editor"))
    read = projects_pb2.GetProjectRequest(project_hash=project_hash)
    before = stubs.projects.GetProject(read, metadata=md)  # now cached by the gateway
    assert as_dict(before.editor_ontology)["objects"] == []

    for entry in (CAR, TRUCK):
        stubs.projects.AddProjectOntologyObject(
            projects_pb2.AddProjectOntologyObjectRequest(
                project_hash=project_hash, object=json_format.ParseDict(entry, projects_pb2.LegacyOntologyObject())
            ),
            metadata=md,
        )

    after = stubs.projects.GetProject(read, metadata=md)
    assert as_dict(after.editor_ontology)["objects"] == [CAR, TRUCK]
    assert as_dict(get_ontology(stubs, gateway, after.ontology_hash).structure)["objects"] == [CAR, TRUCK]


def test_an_added_classification_over_rest_shows_in_the_project(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    project_hash = new_project(stubs, gateway, make_title("editor-rest"))

    reply = gateway.rest("POST", f"/v1/projects/{project_hash}/ontology/classifications", body=WEATHER)

    assert reply.status == 200, reply.body
    project = stubs.projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gateway.auth_metadata
    )
    editor = as_dict(project.editor_ontology)
    assert editor["classifications"] == [WEATHER]
    assert editor["objects"] == []


@pytest.fixture
def faulty_upstream(
    sandbox_factory: Callable[[Path | None], Sandbox], gateway_kit: GatewayKit, tmp_path: Path
) -> Iterator[tuple[Sandbox, GatewayProcess]]:
    """A sandbox of this test's own (faults never reach the session's) and a gateway in front of it."""
    upstream = sandbox_factory(None)
    gateway = type(gateway_kit)(upstream).start(tmp_path / "gateway")
    try:
        yield upstream, gateway
    finally:
        gateway.stop()


def test_adding_an_object_to_a_project_without_an_editor_is_not_found_and_writes_nothing(
    faulty_upstream: tuple[Sandbox, GatewayProcess], stubs_for: Callable[[grpc.Channel], Stubs]
) -> None:
    upstream, gateway = faulty_upstream
    with gateway.channel() as opened:
        stubs = stubs_for(opened)
        project_hash = new_project(stubs, gateway, "no-editor")
        record = {"project_hash": project_hash, "title": "no-editor", "description": "", "datasets": []}
        status, _ = upstream.control(
            "POST",
            "/sandbox/v1/faults",
            {
                "match": {"api": "v1", "query_type": "project", "query_method": "GET"},
                "times": 1,
                "status": 200,
                "body": json.dumps({"status": 200, "response": record}),
            },
        )
        assert status == 201
        upstream.clear_requests_log()

        with pytest.raises(grpc.RpcError) as caught:
            stubs.projects.AddProjectOntologyObject(
                projects_pb2.AddProjectOntologyObjectRequest(
                    project_hash=project_hash, object=json_format.ParseDict(CAR, projects_pb2.LegacyOntologyObject())
                ),
                metadata=gateway.auth_metadata,
            )

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no legacy ontology editor" in (caught.value.details() or "")
    calls = [(e["query_type"], e["query_method"]) for e in upstream.requests_log()]
    assert calls == [("project", "GET")]  # read, and nothing written


# ---- saving ontologies (O-04, O-01L + O-04L) ------------------------------------------------------


def test_saving_an_ontology_changes_what_get_ontology_returns(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    ontology_hash = new_ontology(stubs, gateway, make_title("saved"), {"objects": [CAR], "classifications": []})
    assert get_ontology(stubs, gateway, ontology_hash).description == "vehicles"  # now cached by the gateway
    title = make_title("saved-again")
    structure = {"objects": [CAR, TRUCK], "classifications": [WEATHER]}

    stubs.ontologies.SaveOntology(
        ontologies_pb2.SaveOntologyRequest(
            ontology_hash=ontology_hash, title=title, description="vehicles and weather", structure=struct(structure)
        ),
        metadata=gateway.auth_metadata,
    )

    saved = get_ontology(stubs, gateway, ontology_hash)
    assert (saved.title, saved.description) == (title, "vehicles and weather")
    assert as_dict(saved.structure)["objects"] == [CAR, TRUCK]
    assert as_dict(saved.structure)["classifications"] == [WEATHER]


def test_a_legacy_save_changes_only_what_it_is_given(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    ontology_hash = new_ontology(stubs, gateway, make_title("legacy-saved"), {"objects": [CAR], "classifications": []})
    before = get_ontology(stubs, gateway, ontology_hash)  # now cached by the gateway
    title = make_title("legacy-renamed")

    stubs.ontologies.SaveOntologyLegacy(
        ontologies_pb2.SaveOntologyRequest(ontology_hash=ontology_hash, title=title), metadata=md
    )

    renamed = get_ontology(stubs, gateway, ontology_hash)
    assert renamed.title == title
    assert renamed.description == "vehicles"
    assert as_dict(renamed.structure) == as_dict(before.structure)
    assert renamed.created_at == before.created_at

    structure = {"objects": [TRUCK], "classifications": []}
    stubs.ontologies.SaveOntologyLegacy(
        ontologies_pb2.SaveOntologyRequest(ontology_hash=ontology_hash, structure=struct(structure)), metadata=md
    )

    legacy = stubs.ontologies.GetOntologyLegacy(
        ontologies_pb2.GetOntologyRequest(ontology_hash=ontology_hash), metadata=md
    )
    assert (legacy.title, legacy.description) == (title, "vehicles")
    assert as_dict(legacy.structure)["objects"] == [TRUCK]
    assert as_dict(get_ontology(stubs, gateway, ontology_hash).structure)["objects"] == [TRUCK]


def test_a_legacy_ontology_is_created_and_read_back_through_the_legacy_calls(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    title = make_title("legacy-created")

    created = stubs.ontologies.CreateOntologyLegacy(
        ontologies_pb2.CreateOntologyRequest(
            title=title, description="old style", structure=struct({"objects": [CAR], "classifications": []})
        ),
        metadata=md,
    )

    assert created.ontology_hash and created.title == title
    read = stubs.ontologies.GetOntologyLegacy(
        ontologies_pb2.GetOntologyRequest(ontology_hash=created.ontology_hash), metadata=md
    )
    assert (read.title, read.description) == (title, "old style")
    assert as_dict(read.structure)["objects"] == [CAR]
    assert read.HasField("user_role") and read.user_role == 0  # the creator administers it
    assert get_ontology(stubs, gateway, created.ontology_hash).title == title
