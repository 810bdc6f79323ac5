"""google.api.http beyond `body: "*"`: one-field bodies, response_body and additional_bindings, as REST callers see them.

No public RPC uses these yet, so the test declares its own small service (package `resttest.v1`) in a
FileDescriptorProto, registers it in the default pool, and serves it through the real transcoder on a
real socket. A fake chain stands in for authentication and the engine: it records the request message
each call produced and answers from it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from encord_gateway._generated.encord.gateway.v1 import options_pb2
from encord_gateway.edge import openapi
from encord_gateway.edge.rest import build_app
from encord_gateway.operations import catalog
from encord_gateway.operations.engine import Outcome
from encord_gateway.pipeline import Call
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, json_format, message, message_factory
from google.rpc import code_pb2

PACKAGE = "resttest.v1"
SERVICE = f"{PACKAGE}.BindingService"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

FDP = descriptor_pb2.FieldDescriptorProto
STRING, BOOL, INT32, MESSAGE = FDP.TYPE_STRING, FDP.TYPE_BOOL, FDP.TYPE_INT32, FDP.TYPE_MESSAGE
REPEATED = FDP.LABEL_REPEATED


# ---------------------------------------------------------------------------------------------------
# The test service, declared as a descriptor


def _message(file: descriptor_pb2.FileDescriptorProto, name: str, *fields: tuple[str, int, str]) -> None:
    """A message of (name, type, shape) fields: shape "" is singular, "[]" repeated, "{}" a string-to-string map,
    and for message fields the type's name, "[]" first when repeated."""
    msg = file.message_type.add(name=name)
    for number, (field_name, field_type, shape) in enumerate(fields, start=1):
        added = msg.field.add(name=field_name, number=number, type=field_type)
        if shape.startswith("[]"):
            added.label = REPEATED
        if shape == "{}":
            entry_name = "".join(part.title() for part in field_name.split("_")) + "Entry"
            entry = msg.nested_type.add(name=entry_name)
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=STRING)
            entry.field.add(name="value", number=2, type=STRING)
            added.type, added.type_name, added.label = MESSAGE, f".{PACKAGE}.{name}.{entry_name}", REPEATED
        elif field_type == MESSAGE:
            added.type_name = f".{PACKAGE}.{shape.removeprefix('[]')}"


def _method(
    service: descriptor_pb2.ServiceDescriptorProto, name: str, request: str, response: str, rule: http_pb2.HttpRule
) -> None:
    method = service.method.add(name=name, input_type=f".{PACKAGE}.{request}", output_type=f".{PACKAGE}.{response}")
    method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    method.options.Extensions[options_pb2.admin].access = options_pb2.ACCESS_WRITE


def _file(name: str) -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name=f"resttest/v1/{name}.proto", package=PACKAGE, syntax="proto3")
    file.dependency.extend(["encord/gateway/v1/options.proto", "google/api/annotations.proto"])
    return file


def _register(file: descriptor_pb2.FileDescriptorProto) -> descriptor.FileDescriptor:
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(file.name)
    except KeyError:
        pool.Add(file)
        return pool.FindFileByName(file.name)


def _binding_service() -> descriptor.ServiceDescriptor:
    file = _file("bindings")
    _message(file, "Action", ("kind", STRING, ""), ("weight", INT32, ""))
    _message(file, "Note", ("text", STRING, ""), ("tags", STRING, "[]"))
    _message(
        file, "ApplyActionsRequest",
        ("project_hash", STRING, ""), ("actions", MESSAGE, "[]Action"), ("dry_run", BOOL, ""), ("note", STRING, ""),
    )  # fmt: skip
    _message(file, "ApplyActionsResponse", ("applied", MESSAGE, "[]Action"), ("skipped", INT32, ""))
    _message(file, "SetLabelsRequest", ("item", STRING, ""), ("item_labels", MESSAGE, "{}"))
    _message(file, "SetLabelsResponse", ("item", STRING, ""), ("item_labels", MESSAGE, "{}"))
    _message(
        file, "UpdateNoteRequest", ("project_hash", STRING, ""), ("note", MESSAGE, "Note"), ("validate_only", BOOL, "")
    )
    _message(file, "GetNoteRequest", ("project_hash", STRING, ""), ("owner", STRING, ""))
    _message(file, "GetNoteResponse", ("note", MESSAGE, "Note"), ("etag", STRING, ""))
    service = file.service.add(name="BindingService")
    _method(
        service, "ApplyActions", "ApplyActionsRequest", "ApplyActionsResponse",
        http_pb2.HttpRule(
            post="/v1/resttest/projects/{project_hash}/actions", body="actions", response_body="applied",
            additional_bindings=[http_pb2.HttpRule(post="/v1/resttest/projects/{project_hash}/actions:apply", body="*")],
        ),
    )  # fmt: skip
    _method(
        service, "SetLabels", "SetLabelsRequest", "SetLabelsResponse",
        http_pb2.HttpRule(put="/v1/resttest/items/{item}/labels", body="item_labels", response_body="item_labels"),
    )  # fmt: skip
    _method(
        service, "UpdateNote", "UpdateNoteRequest", "Note",
        http_pb2.HttpRule(patch="/v1/resttest/projects/{project_hash}/note", body="note"),
    )  # fmt: skip
    _method(
        service, "GetNote", "GetNoteRequest", "GetNoteResponse",
        http_pb2.HttpRule(
            get="/v1/resttest/projects/{project_hash}/note", response_body="note",
            additional_bindings=[http_pb2.HttpRule(get="/v1/resttest/owners/{owner}/projects/{project_hash}/note")],
        ),
    )  # fmt: skip
    return _register(file).services_by_name["BindingService"]


BINDING_SERVICE = _binding_service()
SPECS = {spec.full_name: spec for spec in (catalog._spec(SERVICE, m) for m in BINDING_SERVICE.methods)}


def message_class(name: str) -> type[message.Message]:
    return message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(f"{PACKAGE}.{name}"))


Note = message_class("Note")
ApplyActionsResponse, SetLabelsResponse = message_class("ApplyActionsResponse"), message_class("SetLabelsResponse")
GetNoteResponse = message_class("GetNoteResponse")


# ---------------------------------------------------------------------------------------------------
# A chain that records what the transcoder produced and answers from it


def _apply_actions(request: Any) -> message.Message:
    if request.dry_run:
        return ApplyActionsResponse(skipped=len(request.actions))
    return ApplyActionsResponse(applied=list(request.actions))


def _get_note(request: Any) -> message.Message:
    if request.project_hash == "no-note":
        return GetNoteResponse(etag="e0")
    return GetNoteResponse(note=Note(text=f"note of {request.project_hash}", tags=[request.owner or "-"]), etag="e1")


ANSWERS: dict[str, Callable[[Any], message.Message]] = {
    "ApplyActions": _apply_actions,
    "SetLabels": lambda request: SetLabelsResponse(item=request.item, item_labels=dict(request.item_labels)),
    "UpdateNote": lambda request: Note(text=request.note.text.upper(), tags=request.note.tags),
    "GetNote": _get_note,
}


@dataclass
class FakeChain:
    """Stands in for the pipeline: no authentication, no engine, one answer per method."""

    calls: list[tuple[str, message.Message]] = field(default_factory=list)

    async def run(self, call: Call) -> None:
        request = await call.read_request()  # the real pipeline authenticates first, then reads
        self.calls.append((call.spec.method, request))
        call.outcome = Outcome(ANSWERS[call.spec.method](request), None)


@dataclass
class Rest:
    client: TestClient[Any, Any]
    chain: FakeChain

    async def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        """(HTTP status, parsed JSON answer) of one call."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        response: ClientResponse = await self.client.request(method, path, data=data)
        assert response.content_type == "application/json", response.content_type
        return response.status, await response.json()

    def only_request(self, method: str) -> dict[str, Any]:
        """The single request message the pipeline received, as proto3 JSON with proto field names."""
        assert [name for name, _ in self.chain.calls] == [method], self.chain.calls
        return json_format.MessageToDict(self.chain.calls[0][1], preserving_proto_field_name=True)


@pytest.fixture
async def rest() -> AsyncIterator[Rest]:
    chain = FakeChain()
    app = build_app(SPECS, chain)  # type: ignore[arg-type]  # the fake has the pipeline's run()
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield Rest(client, chain)


def violations(answer: dict[str, Any]) -> dict[str, str]:
    """The fields a google.rpc.Status JSON names in its BadRequest, with their descriptions."""
    return {
        violation["field"]: violation["description"]
        for detail in answer.get("details", [])
        if detail.get("@type") == BAD_REQUEST
        for violation in detail["field_violations"]
    }


def assert_invalid_argument(status: int, answer: Any, field_name: str, words: str = "") -> None:
    assert status == 400, (status, answer)
    assert answer["code"] == code_pb2.INVALID_ARGUMENT, answer
    assert field_name in violations(answer), answer
    assert words in violations(answer)[field_name], answer


# ---------------------------------------------------------------------------------------------------
# body: "<repeated field>" with response_body: "<repeated field>"

ACTIONS = [{"kind": "label", "weight": 2}, {"kind": "review"}]


async def test_a_repeated_body_field_takes_a_json_array_and_the_rest_comes_from_path_and_query(rest: Rest) -> None:
    status, answer = await rest.call("POST", "/v1/resttest/projects/p-1/actions?note=first%20pass", ACTIONS)
    assert status == 200, answer
    assert rest.only_request("ApplyActions") == {"project_hash": "p-1", "actions": ACTIONS, "note": "first pass"}
    assert answer == ACTIONS  # response_body "applied": the bare array, not {"applied": [...]}


async def test_an_empty_response_body_list_is_an_empty_array(rest: Rest) -> None:
    status, answer = await rest.call("POST", "/v1/resttest/projects/p-1/actions?dry_run=true", ACTIONS)
    assert (status, answer) == (200, [])
    assert rest.only_request("ApplyActions")["dry_run"] is True


async def test_a_non_array_body_for_a_repeated_field_is_invalid_argument_naming_it(rest: Rest) -> None:
    for body in ({"actions": ACTIONS}, ACTIONS[0], "label"):
        status, answer = await rest.call("POST", "/v1/resttest/projects/p-1/actions", body)
        assert_invalid_argument(status, answer, "actions", "must be a JSON array")
    assert rest.chain.calls == []


async def test_a_bad_element_of_the_body_array_names_the_body_field(rest: Rest) -> None:
    status, answer = await rest.call("POST", "/v1/resttest/projects/p-1/actions", [{"kind": "x", "colour": "red"}])
    assert_invalid_argument(status, answer, "actions", "colour")
    status, answer = await rest.call("POST", "/v1/resttest/projects/p-1/actions", raw=b"[{")
    assert_invalid_argument(status, answer, "(body)", "not valid JSON")
    assert rest.chain.calls == []


async def test_the_query_string_cannot_set_the_body_field(rest: Rest) -> None:
    status, answer = await rest.call("POST", "/v1/resttest/projects/p-1/actions?actions=label", ACTIONS)
    assert_invalid_argument(status, answer, "actions", "is the request body")
    # Nor under its lowerCamelCase JSON name.
    status, answer = await rest.call("PUT", "/v1/resttest/items/i-1/labels?itemLabels=x", {"a": "1"})
    assert_invalid_argument(status, answer, "item_labels", "is the request body")
    assert rest.chain.calls == []


# ---------------------------------------------------------------------------------------------------
# body: "<map field>" and body: "<message field>"


async def test_a_map_body_field_takes_a_json_object_and_answers_the_bare_map(rest: Rest) -> None:
    status, answer = await rest.call("PUT", "/v1/resttest/items/i-1/labels", {"colour": "red", "size": "L"})
    assert (status, answer) == (200, {"colour": "red", "size": "L"})
    assert rest.only_request("SetLabels") == {"item": "i-1", "item_labels": {"colour": "red", "size": "L"}}


async def test_an_empty_response_body_map_is_an_empty_object(rest: Rest) -> None:
    status, answer = await rest.call("PUT", "/v1/resttest/items/i-1/labels")
    assert (status, answer) == (200, {})
    assert rest.only_request("SetLabels") == {"item": "i-1"}


async def test_a_non_object_body_for_a_map_field_is_invalid_argument_naming_it(rest: Rest) -> None:
    status, answer = await rest.call("PUT", "/v1/resttest/items/i-1/labels", [["colour", "red"]])
    assert_invalid_argument(status, answer, "item_labels", "must be a JSON object")
    assert rest.chain.calls == []


async def test_a_message_body_field_is_that_message_and_the_answer_the_whole_response(rest: Rest) -> None:
    path = "/v1/resttest/projects/p-1/note?validateOnly=true"
    status, answer = await rest.call("PATCH", path, {"text": "hello", "tags": ["a", "b"]})
    assert (status, answer) == (200, {"text": "HELLO", "tags": ["a", "b"]})
    assert rest.only_request("UpdateNote") == {
        "project_hash": "p-1",
        "note": {"text": "hello", "tags": ["a", "b"]},
        "validate_only": True,
    }


async def test_a_body_that_is_not_the_message_names_the_body_field(rest: Rest) -> None:
    for body in (["hello"], {"project_hash": "p-2"}):  # the body is the Note, which has no project_hash
        status, answer = await rest.call("PATCH", "/v1/resttest/projects/p-1/note", body)
        assert_invalid_argument(status, answer, "note")
    assert rest.chain.calls == []


# ---------------------------------------------------------------------------------------------------
# additional_bindings


async def test_each_additional_binding_is_a_route_of_the_same_rpc_with_its_own_answer(rest: Rest) -> None:
    status, answer = await rest.call("GET", "/v1/resttest/projects/p-1/note")
    assert (status, answer) == (200, {"text": "note of p-1", "tags": ["-"]})  # response_body "note"
    status, answer = await rest.call("GET", "/v1/resttest/owners/o-7/projects/p-1/note")
    assert (status, answer) == (200, {"note": {"text": "note of p-1", "tags": ["o-7"]}, "etag": "e1"})
    received = [(name, json_format.MessageToDict(request)) for name, request in rest.chain.calls]
    assert received == [("GetNote", {"projectHash": "p-1"}), ("GetNote", {"projectHash": "p-1", "owner": "o-7"})]


async def test_an_unset_message_response_body_is_an_empty_object(rest: Rest) -> None:
    assert await rest.call("GET", "/v1/resttest/projects/no-note/note") == (200, {})


async def test_an_additional_binding_has_its_own_body_rule(rest: Rest) -> None:
    path = "/v1/resttest/projects/p-1/actions:apply"
    status, answer = await rest.call("POST", path, {"actions": ACTIONS, "dryRun": True})
    assert (status, answer) == (200, {"skipped": 2})  # no response_body here: the whole message
    assert rest.only_request("ApplyActions") == {"project_hash": "p-1", "actions": ACTIONS, "dry_run": True}
    status, answer = await rest.call("POST", path, ACTIONS)  # body "*" is an object, never a bare array
    assert_invalid_argument(status, answer, "(body)", "must be a JSON object")


async def test_a_verb_a_binding_does_not_declare_is_refused(rest: Rest) -> None:
    status, answer = await rest.call("DELETE", "/v1/resttest/owners/o-7/projects/p-1/note")
    # HTTP's 405 (edge/conventions.py adds `Allow`); the Status keeps grpc-gateway's UNIMPLEMENTED code.
    assert status == 405 and answer["code"] == code_pb2.UNIMPLEMENTED, answer
    assert rest.chain.calls == []


# ---------------------------------------------------------------------------------------------------
# The OpenAPI document

DOCUMENT = openapi.build_openapi(SPECS, comments={})


def documented(path: str, verb: str) -> dict[str, Any]:
    operation: dict[str, Any] = DOCUMENT["paths"][path][verb]
    return operation


def parameters(operation: dict[str, Any], where: str) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == where]


def body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def answer_schema(operation: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return schema


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{PACKAGE}.{name}"}


async def test_the_served_document_has_one_operation_per_binding(rest: Rest) -> None:
    status, served = await rest.call("GET", openapi.DOCUMENT_PATH)
    assert status == 200
    operations = {
        (path, verb): operation["operationId"]
        for path, item in served["paths"].items()
        for verb, operation in item.items()
        if path != openapi.DOCUMENT_PATH
    }
    assert operations == {
        ("/v1/resttest/projects/{project_hash}/actions", "post"): f"{SERVICE}.ApplyActions",
        ("/v1/resttest/projects/{project_hash}/actions:apply", "post"): f"{SERVICE}.ApplyActions2",
        ("/v1/resttest/items/{item}/labels", "put"): f"{SERVICE}.SetLabels",
        ("/v1/resttest/projects/{project_hash}/note", "patch"): f"{SERVICE}.UpdateNote",
        ("/v1/resttest/projects/{project_hash}/note", "get"): f"{SERVICE}.GetNote",
        ("/v1/resttest/owners/{owner}/projects/{project_hash}/note", "get"): f"{SERVICE}.GetNote2",
    }
    # The app's route names are the operationIds, so a route and its documentation share one name.
    named = {
        (route.method.lower(), route.resource.canonical): route.name
        for route in rest.client.app.router.routes()
        if route.resource is not None and route.name
    }
    assert {(path, verb): named[(verb, path)] for path, verb in operations} == operations


def test_a_repeated_body_field_is_documented_as_an_array_body_and_left_out_of_the_query() -> None:
    operation = documented("/v1/resttest/projects/{project_hash}/actions", "post")
    assert body_schema(operation) == {"type": "array", "items": ref("Action")}
    assert parameters(operation, "path") == ["project_hash"]
    assert parameters(operation, "query") == ["dry_run", "note"]
    assert answer_schema(operation) == {"type": "array", "items": ref("Action")}


def test_map_and_message_body_fields_are_documented_as_that_field() -> None:
    labels = documented("/v1/resttest/items/{item}/labels", "put")
    assert body_schema(labels) == {"type": "object", "additionalProperties": {"type": "string"}}
    assert answer_schema(labels) == {"type": "object", "additionalProperties": {"type": "string"}}
    assert parameters(labels, "query") == []
    note = documented("/v1/resttest/projects/{project_hash}/note", "patch")
    assert body_schema(note) == ref("Note")
    assert parameters(note, "query") == ["validate_only"]
    assert answer_schema(note) == ref("Note")


def test_each_binding_is_documented_with_its_own_body_and_answer() -> None:
    star = documented("/v1/resttest/projects/{project_hash}/actions:apply", "post")
    assert body_schema(star) == {"$ref": f"#/components/schemas/{SERVICE}.ApplyActions2Body"}
    assert list(DOCUMENT["components"]["schemas"][f"{SERVICE}.ApplyActions2Body"]["properties"]) == [
        "actions", "dry_run", "note",
    ]  # fmt: skip
    assert parameters(star, "query") == []
    assert answer_schema(star) == ref("ApplyActionsResponse")
    get_note = documented("/v1/resttest/projects/{project_hash}/note", "get")
    assert parameters(get_note, "query") == ["owner"]
    assert answer_schema(get_note) == ref("Note")
    by_owner = documented("/v1/resttest/owners/{owner}/projects/{project_hash}/note", "get")
    assert parameters(by_owner, "path") == ["owner", "project_hash"]
    assert parameters(by_owner, "query") == []
    assert answer_schema(by_owner) == ref("GetNoteResponse")


def test_the_document_with_bindings_is_valid_openapi_3_0() -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator, validate

    validate(json.loads(json.dumps(DOCUMENT)), cls=OpenAPIV30SpecValidator)


# ---------------------------------------------------------------------------------------------------
# Rules the gateway refuses at start-up


def _invalid_service() -> descriptor.ServiceDescriptor:
    file = _file("invalid")
    _message(file, "Thing", ("name", STRING, ""), ("parts", STRING, "[]"), ("owner", MESSAGE, "Thing"))
    service = file.service.add(name="InvalidService")
    extra = http_pb2.HttpRule(get="/v1/resttest/things/{name}:nested")
    cases = {
        "NestedAdditionalBinding": http_pb2.HttpRule(
            get="/v1/resttest/things/{name}",
            additional_bindings=[http_pb2.HttpRule(get="/v1/resttest/x/{name}", additional_bindings=[extra])],
        ),
        "UnknownBodyField": http_pb2.HttpRule(post="/v1/resttest/things", body="thing"),
        "NestedBodyField": http_pb2.HttpRule(post="/v1/resttest/things", body="owner.name"),
        "UnknownResponseBody": http_pb2.HttpRule(get="/v1/resttest/things/{name}", response_body="things"),
        "GetWithBody": http_pb2.HttpRule(get="/v1/resttest/things/{name}", body="*"),
        "BodyIsPathVariable": http_pb2.HttpRule(post="/v1/resttest/things/{name}", body="name"),
        "RepeatedPathVariable": http_pb2.HttpRule(get="/v1/resttest/things/{parts}"),
        "UnknownPathVariable": http_pb2.HttpRule(get="/v1/resttest/things/{id}"),
        "PatternPathVariable": http_pb2.HttpRule(get="/v1/resttest/{name=things/*}"),
        "BadAdditionalBinding": http_pb2.HttpRule(
            get="/v1/resttest/things/{name}", additional_bindings=[http_pb2.HttpRule(delete="/v1/x/{name}", body="*")]
        ),
    }
    for name, rule in cases.items():
        _method(service, name, "Thing", "Thing", rule)
    return _register(file).services_by_name["InvalidService"]


INVALID_SERVICE = _invalid_service()


@pytest.mark.parametrize(
    ("method", "words"),
    [
        ("NestedAdditionalBinding", "additional_bindings of its own"),
        ("UnknownBodyField", "body 'thing' is not a top-level field"),
        ("NestedBodyField", "body 'owner.name' is not a top-level field"),
        ("UnknownResponseBody", "response_body 'things' is not a top-level field"),
        ("GetWithBody", "a GET binding cannot have a request body"),
        ("BodyIsPathVariable", "body field 'name' is also a path variable"),
        ("RepeatedPathVariable", "path variable {parts} must be a singular scalar field"),
        ("UnknownPathVariable", "path variable {id} is not a field"),
        ("PatternPathVariable", "{name=things/*} is not of the supported form"),
        ("BadAdditionalBinding", "DELETE /v1/x/{name}: a DELETE binding cannot have a request body"),
    ],
)
def test_a_rule_against_the_spec_fails_at_start_up_naming_the_method(method: str, words: str) -> None:
    with pytest.raises(ValueError) as raised:
        catalog._spec(INVALID_SERVICE.full_name, INVALID_SERVICE.methods_by_name[method])
    assert str(raised.value).startswith(f"{INVALID_SERVICE.full_name}.{method}: "), raised.value
    assert words in str(raised.value)


def test_two_bindings_on_one_verb_and_path_fail_at_start_up() -> None:
    spec = SPECS[f"{SERVICE}.GetNote"]
    assert spec.http is not None
    duplicate = catalog.HttpRule("GET", "/v1/resttest/projects/{project_hash}/note", "")
    other = dataclasses.replace(spec, method="Other", http=duplicate)
    clash = {spec.full_name: spec, other.full_name: other}
    with pytest.raises(ValueError, match="is already bound"):
        build_app(clash, FakeChain())  # type: ignore[arg-type]
