"""The proto-declared mapping produces the SDK's wire calls and reads Encord's answers back."""

from __future__ import annotations

import json

import pytest
from encord_gateway._generated.encord.gateway.v1 import common_pb2, datasets_pb2, ontologies_pb2, projects_pb2
from encord_gateway.operations import catalog, plan, wiremap
from google.protobuf import json_format

SPECS = catalog.load_catalog()
PROJECT = "00000000-0000-0000-0000-000000000001"


def spec(name: str) -> catalog.OperationSpec:
    return SPECS[f"encord.gateway.v1.{name}"]


def test_every_public_rpc_declares_an_operation_and_a_rest_route() -> None:
    assert {s.method for s in SPECS.values()} >= {
        "CreateProject", "GetProject", "ListProjects",
        "CreateDataset", "GetDataset", "ListDatasets",
        "CreateOntology", "GetOntology", "ListOntologies",
    }  # fmt: skip
    assert all(s.http is not None for s in SPECS.values())


def test_get_project_sends_the_worked_example_body_byte_for_byte() -> None:
    request = projects_pb2.GetProjectRequest(project_hash=PROJECT, include_labels_metadata=True)
    call = spec("ProjectService.GetProject").plan.wire_call(request)
    assert call.body == (
        b'{"query_type": "project", "query_method": "GET", '
        b'"values": {"uid": null, "payload": {"include_labels_metadata": true}}}'
    )
    assert (call.path, call.resource_type, call.resource_id) == ("/public", "project", PROJECT)


def test_create_project_goes_to_the_user_endpoint_with_the_sdk_payload_order() -> None:
    request = projects_pb2.CreateProjectRequest(title="Cars", ontology_hash=PROJECT)
    call = spec("ProjectService.CreateProject").plan.wire_call(request)
    assert call.path == "/public/user" and call.resource_type == "" and not call.retryable
    assert list(json.loads(call.body or b"")["values"]["payload"].items()) == [
        ("title", "Cars"),
        ("description", ""),
        ("dataset_hashes", []),
        ("workflow_type", "manual"),
        ("ontology_hash", PROJECT),
    ]


def test_list_projects_query_uses_camel_case_python_booleans_and_plus_for_spaces() -> None:
    request = projects_pb2.ListProjectsRequest(title_like="a b&c%", tags_anyof=["x", "y"])
    request.created_after.FromJsonString("2024-01-01T00:00:00Z")
    call = spec("ProjectService.ListProjects").plan.wire_call(request)
    assert call.target == (
        "/v2/public/projects?titleLike=a+b%26c%25&createdAfter=2024-01-01T00%3A00%3A00%2B00%3A00"
        "&includeOrgAccess=False&tagsAnyof=x&tagsAnyof=y"
    )
    assert call.body is None


def test_list_datasets_renames_description_filters_to_encords_keys() -> None:
    call = spec("DatasetService.ListDatasets").plan.wire_call(datasets_pb2.ListDatasetsRequest(desc_eq="d"))
    assert call.target == "/v2/public/datasets/list?descriptionEq=d&includeOrgAccess=False"


def test_create_dataset_defaults_follow_the_sdk_and_storage_location_is_echoed() -> None:
    operation = spec("DatasetService.CreateDataset")
    request = datasets_pb2.CreateDatasetRequest(title="D", storage_location=common_pb2.STORAGE_LOCATION_AWS_S3)
    call = operation.plan.wire_call(request)
    assert json.loads(call.body or b"") == {"title": "D", "createBackingFolder": True, "legacyCall": False}
    response = operation.plan.response(
        operation.response_class, {"datasetUuid": PROJECT, "backingFolderUuid": None}, request
    )
    assert isinstance(response, datasets_pb2.CreateDatasetResponse)
    assert (response.dataset_hash, response.storage_location) == (PROJECT, common_pb2.STORAGE_LOCATION_AWS_S3)


def test_create_ontology_sends_the_structure_as_encords_editor_untouched() -> None:
    structure = {"objects": [{"id": "1", "name": "Car", "featureNodeHash": "abcd1234", "attributes": None}]}
    request = ontologies_pb2.CreateOntologyRequest(title="O")
    request.structure.update(structure)
    body = json.loads(spec("OntologyService.CreateOntology").plan.wire_call(request).body or b"")
    assert body == {"title": "O", "description": "", "editor": structure}


def test_project_record_timestamps_enums_and_nested_lists_are_read_mechanically() -> None:
    operation = spec("ProjectService.GetProject")
    record = {
        "project_hash": PROJECT,
        "title": "T",
        "created_at": "2024-01-02 03:04:05",
        "last_edited_at": "Tue, 02 Jan 2024 03:04:05 UTC",
        "editor_ontology": '{"objects": []}',
        "datasets": [{"dataset_hash": "d", "title": "dt", "unknown_key": 1}],
        "status": "inProgress",
        "userRole": 0,
        "not_a_field": {"x": 1},
    }
    response = operation.plan.response(operation.response_class, record, projects_pb2.GetProjectRequest())
    as_json = json_format.MessageToDict(response, preserving_proto_field_name=True)
    assert as_json["created_at"] == "2024-01-02T03:04:05Z"
    assert as_json["last_edited_at"] == "2024-01-02T03:04:05Z"
    assert as_json["editor_ontology"] == {"objects": []}
    assert as_json["datasets"] == [{"dataset_hash": "d", "title": "dt"}]
    assert as_json["status"] == "PROJECT_STATUS_IN_PROGRESS"
    assert as_json["user_role"] == "PROJECT_USER_ROLE_ADMIN"


def test_an_answer_that_does_not_fit_the_message_is_reported_as_malformed() -> None:
    operation = spec("DatasetService.ListDatasets")
    with pytest.raises(wiremap.MalformedUpstreamResult):
        operation.plan.response(operation.response_class, {"results": []}, datasets_pb2.ListDatasetsRequest())
    with pytest.raises(wiremap.MalformedUpstreamResult):
        operation.plan.response(
            operation.response_class, {"result": [{"title": {"not": "a string"}}]}, datasets_pb2.ListDatasetsRequest()
        )


@pytest.mark.parametrize(
    "text",
    ["2024-01-02 03:04:05", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00", "2024-01-02T04:04:05+01:00"],
)
def test_every_encord_datetime_spelling_reads_as_the_same_instant(text: str) -> None:
    assert wiremap.parse_timestamp(text) == "2024-01-02T03:04:05Z"


def test_a_mapping_naming_a_missing_field_fails_at_start_up_not_at_call_time() -> None:
    from encord_gateway._generated.encord.gateway.v1 import options_pb2

    bad = options_pb2.Operation(v2=options_pb2.V2Call(method="GET", path="projects/{nope}"))
    descriptor = projects_pb2.GetProjectRequest.DESCRIPTOR
    with pytest.raises(ValueError, match="no path field nope"):
        plan.CallPlan.build(bad, descriptor, projects_pb2.Project.DESCRIPTOR)
