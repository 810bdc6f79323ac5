"""The proto-declared mapping produces the SDK's wire calls and reads Encord's answers back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from declared import declare, enum, field, message, op
from encord_gateway._generated.encord.gateway.v1 import (
    common_pb2,
    datasets_pb2,
    ontologies_pb2,
    options_pb2,
    projects_pb2,
)
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


# ---- each mapping mechanism, on messages declared at test time ----------------------------------------------

TIME_Z, TIME_UNIX = options_pb2.TIMESTAMP_FORMAT_Z, options_pb2.TIMESTAMP_FORMAT_UNIX_SECONDS
D = declare(
    "wiremap",
    enum("Shade", ("SHADE_UNSPECIFIED", None), ("SHADE_LIGHT", "light"), ("SHADE_DARK", "DARK")),
    enum("Level", ("LEVEL_UNSPECIFIED", None), ("LEVEL_LOW", "1"), ("LEVEL_HIGH", "5"), wire_integer=True),
    message("Pair", "int32 priority = 2", "string data_hash = 1", wire_tuple=True),  # numbers out of order
    message(
        "Settings",
        "string title", "int32 count", "bool enabled", "optional string note", "optional int32 limit",
        "repeated string tags", "Pair pair", "map<int32, string> names", "Shade shade", "Level level",
        field("string description", wire_name="desc"), "string display_name",
    ),
    message(
        "Record",
        field("string storage_location", wire_alias=["type"]),
        field("google.protobuf.Struct meta", wire_json_text=True),
        field("repeated string labels", wire_json_text=True),
        "bytes blob",
        "google.protobuf.Timestamp at_offset",
        field("google.protobuf.Timestamp at_z", wire_time=TIME_Z),
        field("google.protobuf.Timestamp at_unix", wire_time=TIME_UNIX),
        "repeated Pair pairs",
        "map<string, Settings> by_name",
        "Settings settings",
        "google.protobuf.Struct doc",
        "Shade shade",
    ),
)  # fmt: skip
Settings, Record, Pair = D["Settings"], D["Record"], D["Pair"]


def v1_payload(request: Any, *fields: str, keep_nulls: bool = False, camel: bool = False) -> bytes:
    """The `values.payload` bytes of a v1 call whose payload is `fields` of `request`."""
    call_plan = D.plan(
        op(
            f'v1: {{query_type: "record" query_method: "POST" payload_fields: {json.dumps(list(fields))} '
            f"keep_nulls: {str(keep_nulls).lower()} camel_case: {str(camel).lower()}}}"
        ),
        request.DESCRIPTOR.name,
        "Record",
    )
    body = call_plan.wire_call(request).body or b""
    prefix = b'{"query_type": "record", "query_method": "POST", "values": {"uid": null, "payload": '
    assert body.startswith(prefix) and body.endswith(b"}}")
    return body[len(prefix) : -2]


def test_nested_fields_without_presence_are_always_sent_and_unset_optional_ones_left_out() -> None:
    payload = json.loads(v1_payload(Record(settings=Settings(shade=2, level=1)), "settings"))
    assert payload == {
        "settings": {
            "title": "", "count": 0, "enabled": False, "tags": [], "names": {}, "shade": "DARK", "level": 1,
            "desc": "", "display_name": "",
        }
    }  # fmt: skip


def test_nested_unset_optional_fields_are_null_when_the_call_keeps_nulls() -> None:
    settings = Settings(note="", limit=0, shade=1, level=1)  # optional fields set to their defaults: present
    assert json.loads(v1_payload(Record(settings=settings), "settings", keep_nulls=True))["settings"] == {
        "title": "", "count": 0, "enabled": False, "note": "", "limit": 0, "tags": [], "pair": None, "names": {},
        "shade": "light", "level": 1, "desc": "", "display_name": "",
    }  # fmt: skip
    unset = json.loads(v1_payload(Record(settings=Settings(shade=1, level=1)), "settings", keep_nulls=True))
    assert (unset["settings"]["note"], unset["settings"]["limit"], unset["settings"]["pair"]) == (None, None, None)


def test_camel_case_calls_use_json_names_and_wire_name_wins_over_both() -> None:
    settings = Settings(display_name="n", description="d", shade=1, level=2)
    payload = json.loads(v1_payload(Record(settings=settings), "settings", camel=True))["settings"]
    assert (payload["displayName"], payload["desc"]) == ("n", "d")
    assert "display_name" not in payload and "description" not in payload


def test_a_map_travels_as_an_object_with_text_keys_in_key_order_and_reads_back_without_nulls() -> None:
    settings = Settings(names={10: "ten", 2: "two"}, shade=1, level=1)
    assert b'"names": {"2": "two", "10": "ten"}' in v1_payload(Record(settings=settings), "settings")
    decoded = wiremap.decode(Record, {"by_name": {"a": {"title": "A", "desc": "x"}, "b": None}})
    assert list(decoded.by_name) == ["a"]  # type: ignore[attr-defined]
    assert (decoded.by_name["a"].title, decoded.by_name["a"].description) == ("A", "x")  # type: ignore[attr-defined]


def test_a_wire_tuple_message_is_an_array_in_field_number_order_both_ways() -> None:
    record = Record(pairs=[Pair(data_hash="d1", priority=3), Pair(data_hash="d2")])
    assert v1_payload(record, "pairs") == b'{"pairs": [["d1", 3], ["d2", 0]]}'
    decoded = wiremap.decode(Record, {"pairs": [["d1", 3], ["d2"]]})
    assert [(p.data_hash, p.priority) for p in decoded.pairs] == [("d1", 3), ("d2", 0)]  # type: ignore[attr-defined]
    assert wiremap.decode_value(Pair, ["d3", 7]) == Pair(data_hash="d3", priority=7)


def test_wire_json_text_sends_json_inside_a_string_and_reads_it_back() -> None:
    record = Record(labels=["a", "b"])
    record.meta.update({"b": 2, "a": "x"})
    assert (
        v1_payload(record, "meta", "labels")
        == b'{"meta": "{\\"a\\": \\"x\\", \\"b\\": 2}", "labels": "[\\"a\\", \\"b\\"]"}'
    )
    decoded = wiremap.decode(Record, {"meta": '{"k": [1, 2]}', "labels": '["x"]'})
    assert json_format.MessageToDict(decoded) == {"meta": {"k": [1.0, 2.0]}, "labels": ["x"]}
    assert wiremap.decode(Record, {"meta": "{not json", "labels": "nope"}) == Record()  # unreadable: dropped


def test_bytes_travel_as_base64_text_both_ways() -> None:
    assert v1_payload(Record(blob=b"\x00\xffhi"), "blob") == b'{"blob": "AP9oaQ=="}'
    assert wiremap.decode(Record, {"blob": "AP9oaQ=="}).blob == b"\x00\xffhi"  # type: ignore[attr-defined]


def test_wire_time_picks_the_spelling_of_each_timestamp() -> None:
    record = Record()
    for name in ("at_offset", "at_z", "at_unix"):
        getattr(record, name).FromJsonString("2024-01-02T03:04:05Z")
    assert json.loads(v1_payload(record, "at_offset", "at_z", "at_unix")) == {
        "at_offset": "2024-01-02T03:04:05+00:00",
        "at_z": "2024-01-02T03:04:05Z",
        "at_unix": 1704164645,
    }


def test_a_wire_alias_is_read_but_never_sent() -> None:
    assert wiremap.decode(Record, {"type": "AWS"}).storage_location == "AWS"  # type: ignore[attr-defined]
    assert v1_payload(Record(storage_location="AWS"), "storage_location") == b'{"storage_location": "AWS"}'


def test_struct_keys_are_sorted_and_whole_numbers_are_integers() -> None:
    record = Record()
    record.doc.update({"z": 1.0, "a": {"range": [[0.0, 2.0]], "ratio": 0.5, "none": None}, "big": 2.0**60})
    assert v1_payload(record, "doc") == (
        b'{"doc": {"a": {"none": null, "range": [[0, 2]], "ratio": 0.5}, "big": 1.152921504606847e+18, "z": 1}}'
    )


def test_enums_travel_as_wire_values_strings_or_integers_and_read_back_from_either_spelling() -> None:
    settings = Settings(shade=2, level=2)
    assert b'"shade": "DARK", "level": 5' in v1_payload(Record(settings=settings), "settings")
    decoded = wiremap.decode(Settings, {"shade": "light", "level": 1})
    assert (decoded.shade, decoded.level) == (1, 1)  # type: ignore[attr-defined]
    by_name = wiremap.decode(Settings, {"shade": "SHADE_DARK", "level": "LEVEL_HIGH"})
    assert (by_name.shade, by_name.level) == (2, 2)  # type: ignore[attr-defined]
    assert wiremap.decode(Settings, {"shade": "purple", "level": 9}) == Settings()  # unknown values are dropped


def test_an_answer_read_under_any_spelling_of_a_key() -> None:
    for key in ("display_name", "displayName"):
        assert wiremap.decode(Settings, {key: "n"}).display_name == "n"  # type: ignore[attr-defined]
    for key in ("desc", "description"):
        assert wiremap.decode(Settings, {key: "d"}).description == "d"  # type: ignore[attr-defined]


def test_a_non_object_answer_for_a_message_is_malformed() -> None:
    with pytest.raises(wiremap.MalformedUpstreamResult, match="expected a JSON object, got a string"):
        wiremap.decode_value(Settings, "not an object")
