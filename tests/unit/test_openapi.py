"""The OpenAPI document describes exactly the REST routes the transcoder serves, derived from the descriptors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from encord_gateway import __version__
from encord_gateway.edge import openapi
from encord_gateway.edge.rest import build_app
from encord_gateway.operations.catalog import OperationSpec, load_catalog
from google.protobuf import descriptor_pb2

SPECS = load_catalog()
DOCUMENT = openapi.build_openapi(SPECS)
VERBS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def rest_specs() -> list[OperationSpec]:
    return [spec for spec in SPECS.values() if spec.http is not None]


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for verb, operation in item.items():
            if verb in VERBS:
                yield path, verb, operation


def rpc_operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {op["operationId"]: (path, verb, op) for path, verb, op in operations() if path != openapi.DOCUMENT_PATH}


def operation(full_name: str) -> dict[str, Any]:
    return rpc_operations()[full_name][2]


def resolve(ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = DOCUMENT
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    assert isinstance(node, dict)
    return node


def walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_refs(value)


def schema_of(node: dict[str, Any]) -> dict[str, Any]:
    """A schema with a $ref (possibly wrapped in allOf to carry annotations) followed to its target."""
    if "$ref" in node:
        return resolve(node["$ref"])
    if "allOf" in node and len(node["allOf"]) == 1:
        return schema_of(node["allOf"][0])
    return node


def request_body_schema(full_name: str) -> dict[str, Any]:
    return schema_of(operation(full_name)["requestBody"]["content"]["application/json"]["schema"])


def query_parameters(full_name: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation(full_name).get("parameters", []) if p["in"] == "query"}


def test_document_header() -> None:
    assert DOCUMENT["openapi"] == "3.0.3"
    assert DOCUMENT["info"]["title"] == "Encord Gateway"
    assert DOCUMENT["info"]["version"] == __version__
    bearer = DOCUMENT["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert DOCUMENT["security"] == [{"bearer": []}]
    assert DOCUMENT["paths"][openapi.DOCUMENT_PATH]["get"]["security"] == []


def test_every_rest_route_appears_with_its_verb_and_path() -> None:
    expected = {(spec.http.template, spec.http.verb.lower(), spec.full_name) for spec in rest_specs() if spec.http}
    assert len(expected) >= 11
    documented = {(path, verb, op["operationId"]) for path, verb, op in operations() if path != openapi.DOCUMENT_PATH}
    assert documented == expected


def test_the_documented_paths_are_the_paths_the_app_serves() -> None:
    app = build_app(SPECS, pipeline=None)  # type: ignore[arg-type]  # routes only; nothing is called
    served = {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource}
    for path, verb, _ in operations():
        assert (verb.upper(), path) in served


def test_operation_ids_are_unique_and_the_rpc_full_names() -> None:
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids))
    assert set(rpc_operations()) == {spec.full_name for spec in rest_specs()}
    for full_name, (_, _, op) in rpc_operations().items():
        assert op["tags"] == [SPECS[full_name].service.rsplit(".", 1)[-1]]
    assert sorted(tag["name"] for tag in DOCUMENT["tags"]) == sorted(
        {spec.service.rsplit(".", 1)[-1] for spec in rest_specs()}
    )


def test_every_ref_resolves() -> None:
    refs = set(walk_refs(DOCUMENT))
    assert "#/components/schemas/google.rpc.Status" in refs
    for ref in refs:
        resolve(ref)


def test_every_component_schema_is_used() -> None:
    used = {ref.rsplit("/", 1)[-1] for ref in walk_refs(DOCUMENT)}
    assert set(DOCUMENT["components"]["schemas"]) == used


def test_path_parameters_match_the_template_variables() -> None:
    for path, _, op in operations():
        variables = re.findall(r"\{([^}]+)\}", path)
        path_parameters = [p for p in op.get("parameters", []) if p["in"] == "path"]
        assert [p["name"] for p in path_parameters] == variables, path
        assert all(p["required"] is True for p in path_parameters)


def test_responses_are_the_response_message_and_status_errors() -> None:
    for full_name, (_, _, op) in rpc_operations().items():
        spec = SPECS[full_name]
        # A server stream answers NDJSON, one response message per line.
        content = op["responses"]["200"]["content"][
            "application/x-ndjson" if spec.server_streaming else "application/json"
        ]
        response_name = spec.response_class.DESCRIPTOR.full_name
        if response_name == "google.protobuf.Empty":
            assert content["schema"] == {"type": "object"}  # `{}`: well-known types are inlined
        else:
            assert content["schema"] == {"$ref": f"#/components/schemas/{response_name}"}
        error = op["responses"]["default"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/google.rpc.Status"}
    status = DOCUMENT["components"]["schemas"]["google.rpc.Status"]
    assert set(status["properties"]) == {"code", "message", "details"}
    assert status["properties"]["details"]["type"] == "array"


def test_body_routes_have_a_body_and_no_query_parameters() -> None:
    for spec in rest_specs():
        assert spec.http is not None
        op = operation(spec.full_name)
        if spec.http.body == "*":
            body = request_body_schema(spec.full_name)
            fields = [f.name for f in spec.request_class.DESCRIPTOR.fields if f.name not in spec.http.path_fields]
            assert list(body.get("properties", {})) == fields
            assert not query_parameters(spec.full_name)
        elif spec.http.body:
            # A one-field body: that field is the body and not a query parameter.
            assert "requestBody" in op
            assert spec.http.body not in query_parameters(spec.full_name)
        else:
            assert "requestBody" not in op


def test_create_project_body_requires_the_title() -> None:
    body = request_body_schema("encord.gateway.v1.ProjectService.CreateProject")
    assert body["required"] == ["title"]
    assert body["properties"]["dataset_hashes"]["type"] == "array"
    assert body["properties"]["dataset_hashes"]["items"] == {"type": "string", "format": "uuid"}
    assert operation("encord.gateway.v1.ProjectService.CreateProject")["requestBody"]["required"] is True


def test_path_fields_are_not_repeated_in_the_body() -> None:
    body = request_body_schema("encord.gateway.v1.ProjectService.CreateProjectApiKey")
    assert set(body["properties"]) == {"title", "scopes"}
    assert body["required"] == ["title", "scopes"]


def test_get_routes_take_their_filters_as_query_parameters() -> None:
    params = query_parameters("encord.gateway.v1.ProjectService.ListProjects")
    assert set(params) == {
        "title_eq", "title_like", "desc_eq", "desc_like",
        "created_before", "created_after", "edited_before", "edited_after",
        "include_org_access", "tags_anyof", "page_token", "page_size",
    }  # fmt: skip
    assert params["title_like"]["schema"] == {"type": "string"}
    assert params["created_after"]["schema"] == {"type": "string", "format": "date-time"}
    assert params["include_org_access"]["schema"] == {"type": "boolean"}
    assert params["tags_anyof"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert params["tags_anyof"]["explode"] is True
    assert not any(p.get("required") for p in params.values())
    assert "SQL LIKE" in params["title_like"]["description"]


def test_message_fields_of_a_get_request_are_not_query_parameters() -> None:
    # The transcoder cannot read `dataset_access_settings` from a query string, so it is not offered.
    assert "dataset_access_settings" not in query_parameters("encord.gateway.v1.DatasetService.GetDataset")


def test_input_only_fields_are_write_only() -> None:
    for name in ("RegisterOrganisationKey", "RotateOrganisationKey"):
        body = request_body_schema(f"encord.gateway.admin.v1.CredentialAdminService.{name}")
        assert body["properties"]["private_key"]["writeOnly"] is True
        assert body["properties"]["passphrase"]["writeOnly"] is True
        assert "private_key" in body["required"]
        assert "organisation" not in body["properties"]
    api_key = request_body_schema("encord.gateway.admin.v1.CredentialAdminService.RegisterResourceApiKey")
    assert api_key["properties"]["api_key"]["writeOnly"] is True


def test_proto3_json_types() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    project = schemas["encord.gateway.v1.Project"]["properties"]
    assert project["created_at"] == {"type": "string", "format": "date-time"}
    assert project["editor_ontology"]["type"] == "object"
    assert project["datasets"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/encord.gateway.v1.ProjectDataset"},
    }
    assert schema_of(project["status"])["enum"][:2] == ["PROJECT_STATUS_UNSPECIFIED", "PROJECT_STATUS_NOT_STARTED"]
    assert schema_of(project["user_role"])["type"] == "string"
    vault = schemas["encord.gateway.admin.v1.VaultStatus"]["properties"]
    assert vault["encryptions_under_active_term"] == {"type": "string", "format": "int64"}
    assert vault["active_term"] == {"type": "integer", "format": "int32"}
    assert vault["terms"] == {"type": "array", "items": {"type": "integer", "format": "int32"}}
    limits = schemas["encord.gateway.admin.v1.Limits"]["properties"]
    assert limits["requests_per_second"] == {"type": "number", "format": "double"}
    ttl = request_body_schema("encord.gateway.admin.v1.CallerAdminService.IssueToken")["properties"]["ttl"]
    assert ttl["type"] == "string" and ttl["example"] == "3.5s"


def test_maps_and_other_well_known_types() -> None:
    file = descriptor_pb2.FileDescriptorProto(name="openapi_test.proto", package="openapi.test", syntax="proto3")
    file.dependency.extend(["google/protobuf/struct.proto", "google/protobuf/wrappers.proto"])
    msg = file.message_type.add(name="Sample")
    entry = msg.nested_type.add(name="LabelsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING)
    entry.field.add(name="value", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_UINT64)
    repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    msg.field.add(name="labels", number=1, type=11, type_name=".openapi.test.Sample.LabelsEntry", label=repeated)
    msg.field.add(name="value", number=2, type=11, type_name=".google.protobuf.Value")
    msg.field.add(name="list", number=3, type=11, type_name=".google.protobuf.ListValue")
    msg.field.add(name="count", number=4, type=11, type_name=".google.protobuf.Int32Value")
    msg.field.add(name="blob", number=5, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES)
    msg.field.add(name="child", number=6, type=11, type_name=".openapi.test.Sample")
    from google.protobuf import descriptor_pool, struct_pb2, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    for dependency in (struct_pb2, wrappers_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(dependency.DESCRIPTOR.serialized_pb))
    pool.Add(file)
    schemas = openapi.SchemaSet({})
    assert schemas.message_ref(pool.FindMessageTypeByName("openapi.test.Sample")) == {
        "$ref": "#/components/schemas/openapi.test.Sample"
    }
    properties = schemas.schemas["openapi.test.Sample"]["properties"]
    assert properties["labels"] == {"type": "object", "additionalProperties": {"type": "string", "format": "int64"}}
    assert properties["value"] == {}
    assert properties["list"] == {"type": "array", "items": {}}
    assert properties["count"] == {"type": "integer", "format": "int32", "nullable": True}
    assert properties["blob"] == {"type": "string", "format": "byte"}
    assert properties["child"] == {"$ref": "#/components/schemas/openapi.test.Sample"}  # recursion terminates
    assert "openapi.test.Sample.LabelsEntry" not in schemas.schemas


def test_descriptions_come_from_the_proto_comments() -> None:
    create = operation("encord.gateway.v1.ProjectService.CreateProject")
    assert create["summary"] == "Creates a project; the calling organisation becomes its admin."
    assert "    POST /v1/projects" in create["description"]  # the worked example, as a code block
    # Without comments every summary falls back to the method name.
    bare = openapi.build_openapi(SPECS, comments={})
    for path, item in bare["paths"].items():
        for op in item.values():
            if path != openapi.DOCUMENT_PATH:
                assert op["summary"] == SPECS[op["operationId"]].method
                assert "description" not in op


def test_the_document_is_deterministic_json() -> None:
    first = json.dumps(openapi.build_openapi(SPECS))
    again = json.dumps(openapi.build_openapi(load_catalog()))
    assert first == again
    assert list(DOCUMENT["paths"]) == sorted(DOCUMENT["paths"])
    assert list(DOCUMENT["components"]["schemas"]) == sorted(DOCUMENT["components"]["schemas"])


def test_the_document_is_valid_openapi_3_0() -> None:
    # openapi-spec-validator is a test dependency: a missing package fails this test, it does not skip it.
    from openapi_spec_validator import OpenAPIV30SpecValidator, validate

    validate(json.loads(json.dumps(DOCUMENT)), cls=OpenAPIV30SpecValidator)
