"""Plans: each mechanism of the declaration language turns a request into the exact wire call, and every
declaration that cannot work fails `CallPlan.build` at start-up with a message naming the problem.

Every test declares the operation it needs in the proto's own text form (see declared.py), on small
messages declared below, and asserts what reaches the wire: path, query string, body bytes, v1 envelope.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import pytest
from declared import declare, enum, field, message, op, rpc
from encord_gateway.errors import GatewayError
from encord_gateway.operations import plan
from encord_gateway.operations.plan import CallPlan, PlanError
from encord_gateway.operations.wiremap import MalformedUpstreamResult
from encord_gateway.upstream.calls import WireCall
from google.protobuf import empty_pb2

PROJECT = "00000000-0000-0000-0000-000000000001"

D = declare(
    "plan",
    enum("Kind", ("KIND_UNSPECIFIED", None), ("KIND_IMAGE", "image"), ("KIND_VIDEO_GROUP", "video group")),
    message("Obj", "string id", "string name"),
    message(
        "Req",
        "string project_hash", "string title", "optional string note", "optional bool flag", "int32 count",
        "repeated string hashes", "repeated Obj objects", "Obj object", "Kind kind",
        field("string description", wire_name="desc"), "string display_name", "google.protobuf.Struct doc",
        "google.protobuf.Timestamp after",
    ),
    message("Resp", "string title", "string project_hash", "repeated Obj objects", "Obj object", "Obj other"),
    # for the start-up checks
    message("NoToken", "uint32 page_size"),
    message("IntToken", "int32 page_token", "uint32 page_size"),
    message("Paged", "uint32 page_size", "string page_token", "string title", "int32 wait", "string text_wait",
            "bytes data", "repeated bytes datas", "map<string, string> labels"),
    message("Page", "repeated Obj items", "string next_page_token", "Obj one"),
    message("PageWithoutToken", "repeated Obj items"),
    rpc("StreamsNothing", "Req", "Obj", op('v1: {query_type: "x" query_method: "GET"}'), server_streaming=True),
    rpc("UndeclaredStream", "Paged", "Obj", op('v1: {query_type: "x" query_method: "GET"}'), client_streaming=True),
    rpc("StreamNotClient", "Paged", "Obj", op('v1: {query_type: "x" query_method: "POST"} client_stream: {chunk_field: "data" max_bytes: 9}')),
)  # fmt: skip
Req, Resp, Obj = D["Req"], D["Resp"], D["Obj"]

GET = 'v1: {query_type: "project" query_method: "GET"}'


def build(text: str, request: str = "Req", response: str = "Resp", *, server_streaming: bool = False) -> CallPlan:
    return D.plan(op(text), request, response, server_streaming=server_streaming)


def envelope(call: WireCall) -> Any:
    return json.loads(call.body or b"")


def payload(call: WireCall) -> Any:
    return envelope(call)["values"]["payload"]


def v1_payload(fields: list[str], request: Any, *, options: str = "") -> Any:
    """The payload of a v1 POST whose payload_fields are `fields`."""
    text = f'v1: {{query_type: "project" query_method: "POST" payload_fields: {json.dumps(fields)} {options}}}'
    return payload(build(text).wire_call(request))


def composite_call(text: str, request: Any, step: str, **answers: Any) -> WireCall:
    """The call of `step` in a composite, given the answers of the steps before it."""
    call_plan = build(text)
    scope = call_plan.scope(request)
    scope.results.update(answers)
    return call_plan.build_call(next(s for s in call_plan.steps if s.name == step), scope)


# ---- entries ---------------------------------------------------------------------------------------------


def test_the_v1_envelope_carries_set_fields_under_their_wire_keys_in_declared_order() -> None:
    text = (
        'v1: {query_type: "project" query_method: "POST" payload_fields: ["title", "description", "hashes", "count"]}'
    )
    call = build(text).wire_call(Req(title="T", description="D", hashes=["a", "b"]))
    assert call.body == (
        b'{"query_type": "project", "query_method": "POST", '
        b'"values": {"uid": null, "payload": {"title": "T", "desc": "D", "hashes": ["a", "b"]}}}'
    )  # count is 0, its default: left out
    assert (call.api, call.http_method, call.path, call.query) == ("v1", "POST", "/public/user", "")


def test_unset_fields_are_null_when_the_call_keeps_nulls_and_optional_ones_set_to_a_default_are_sent() -> None:
    fields = ["title", "note", "flag", "hashes", "object"]
    assert v1_payload(fields, Req(), options="keep_nulls: true") == {
        "title": None, "note": None, "flag": None, "hashes": None, "object": None,
    }  # fmt: skip
    assert v1_payload(fields, Req(note="", flag=False)) == {"note": "", "flag": False}


def test_camel_case_payloads_use_json_names_and_wire_name_still_wins() -> None:
    request = Req(display_name="N", description="D")
    assert v1_payload(["display_name", "description"], request, options="camel_case: true") == {
        "displayName": "N",
        "desc": "D",
    }
    assert v1_payload(["display_name", "desc"], request) == {
        "display_name": "N",
        "desc": "D",
    }  # a wire name names it too


def test_a_literal_is_the_value_of_an_unset_field_and_of_a_constant_key() -> None:
    fields = ['title="untitled"', "flag=false", 'workflow_type="manual"', "filter={}"]
    assert v1_payload(fields, Req()) == {"title": "untitled", "flag": False, "workflow_type": "manual", "filter": {}}
    assert v1_payload(fields, Req(title="T", flag=True)) == {
        "title": "T",
        "flag": True,
        "workflow_type": "manual",
        "filter": {},
    }


def test_a_reference_entry_sends_a_request_value_under_a_key_of_its_own() -> None:
    fields = ["name=$request.title", "first=$request.hashes.0", "inner=$request.object.name"]
    assert v1_payload(fields, Req(title="T", hashes=["h1", "h2"], object=Obj(name="o"))) == {
        "name": "T",
        "first": "h1",
        "inner": "o",
    }
    assert v1_payload(fields, Req()) == {}
    assert v1_payload(fields, Req(), options="keep_nulls: true") == {"name": None, "first": None, "inner": None}


TITLE_FALLBACK = f"""
    steps: {{name: "get" {GET}}}
    steps: {{name: "set" v1: {{query_type: "project" query_method: "POST" payload_fields: ["title=$get.title"]}}}}
"""


def test_a_field_with_a_reference_falls_back_to_an_earlier_answer_when_unset() -> None:
    answer = {"title": "from Encord"}
    assert payload(composite_call(TITLE_FALLBACK, Req(), "set", get=answer)) == {"title": "from Encord"}
    assert payload(composite_call(TITLE_FALLBACK, Req(title="mine"), "set", get=answer)) == {"title": "mine"}


def test_dotted_keys_set_members_of_nested_objects() -> None:
    fields = ["meta.name=$request.title", 'meta.kind="x"', "meta.deep.n=1", "top=true"]
    assert v1_payload(fields, Req(title="T")) == {"meta": {"name": "T", "kind": "x", "deep": {"n": 1}}, "top": True}


READ_MODIFY_WRITE = f"""
    steps: {{name: "get" {GET}}}
    steps: {{
        name: "set"
        v1: {{query_type: "project" query_method: "POST"
             payload_fields: ["editor=$get.editor", "editor.objects+=object", "editor.tags+=hashes", "editor.tags+=$request.title"]}}
    }}
"""


def test_appends_add_to_the_list_read_from_an_earlier_answer() -> None:
    request = Req(object=Obj(id="2", name="Car"), hashes=["h1", "h2"], title="t")
    answer = {"editor": {"objects": [{"id": "1"}], "tags": ["t0"], "other": 1}}
    assert payload(composite_call(READ_MODIFY_WRITE, request, "set", get=answer)) == {
        "editor": {"objects": [{"id": "1"}, {"id": "2", "name": "Car"}], "tags": ["t0", "h1", "h2", "t"], "other": 1}
    }


def test_an_append_creates_the_list_it_adds_to() -> None:
    request = Req(object=Obj(id="2"), title="t")
    assert payload(composite_call(READ_MODIFY_WRITE, request, "set", get={"editor": {}})) == {
        "editor": {"objects": [{"id": "2", "name": ""}], "tags": ["t"]}
    }


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [({"editor": {"objects": "not a list"}}, "editor.objects is not a list"), ({"editor": "text"}, "'editor' is not")],
)
def test_appending_to_something_that_is_not_a_list_or_inside_a_non_object_refuses_to_build(
    answer: Any, complaint: str
) -> None:
    with pytest.raises(MalformedUpstreamResult, match=complaint):
        composite_call(READ_MODIFY_WRITE, Req(object=Obj(id="2")), "set", get=answer)


def test_building_a_call_leaves_the_answers_it_read_unchanged() -> None:
    call_plan = build(READ_MODIFY_WRITE)
    scope = call_plan.scope(Req(object=Obj(id="2")))
    scope.results["get"] = {"editor": {"objects": [{"id": "1"}]}}
    first = call_plan.build_call(call_plan.steps[1], scope)
    again = call_plan.build_call(call_plan.steps[1], scope)
    assert scope.results["get"] == {"editor": {"objects": [{"id": "1"}]}}
    assert first.body == again.body


# ---- payload_field, body_field, body_as_list -------------------------------------------------------------


def test_a_repeated_payload_field_is_the_whole_payload_as_a_json_array() -> None:
    call_plan = build('v1: {query_type: "labelrow" query_method: "GET" payload_field: "hashes"}')
    assert payload(call_plan.wire_call(Req(hashes=["a", "b"]))) == ["a", "b"]
    assert payload(call_plan.wire_call(Req())) == []


def test_a_message_payload_field_is_an_object_that_payload_fields_add_to() -> None:
    text = 'v1: {query_type: "labelrow" query_method: "POST" payload_field: "object" payload_fields: ["title", "flag=true"]}'
    call_plan = build(text)
    assert payload(call_plan.wire_call(Req(object=Obj(id="1", name="n"), title="T"))) == {
        "id": "1",
        "name": "n",
        "title": "T",
        "flag": True,
    }
    assert payload(call_plan.wire_call(Req())) == {"flag": True}


def test_a_reference_payload_field_takes_an_earlier_answer_whole() -> None:
    text = f"""
        steps: {{name: "get" {GET}}}
        steps: {{name: "put" v1: {{query_type: "labelrow" query_method: "POST" payload_field: "$get.row" payload_fields: ["title"]}}}}
    """
    call = composite_call(text, Req(title="T"), "put", get={"row": {"data_hash": "d", "labels": {}}})
    assert payload(call) == {"data_hash": "d", "labels": {}, "title": "T"}


def test_without_payload_entries_the_payload_is_null() -> None:
    assert payload(build(GET).wire_call(Req(title="ignored"))) is None


def test_a_v2_body_field_is_the_body_and_body_as_list_wraps_the_object_in_an_array() -> None:
    listed = build('v2: {method: "POST" path: "tasks" body_field: "hashes"}')
    assert listed.wire_call(Req(hashes=["a"])).body == b'["a"]'
    assert listed.wire_call(Req()).body == b"[]"
    wrapped = build(
        'v2: {method: "POST" path: "tasks" body_field: "object" body_fields: ["title", "extra=1"] body_as_list: true}'
    )
    assert wrapped.wire_call(Req(object=Obj(id="1"), title="t")).body == (
        b'[{"id": "1", "name": "", "title": "t", "extra": 1}]'
    )


def test_a_v1_list_payload_field_with_payload_fields_fails_at_start_up() -> None:
    with pytest.raises(PlanError, match="cannot take"):
        build('v1: {query_type: "labelrow" query_method: "POST" payload_field: "hashes" payload_fields: ["title"]}')


# ---- uid ---------------------------------------------------------------------------------------------------


def test_the_uid_comes_from_a_field_or_a_reference_and_is_null_when_unset() -> None:
    from_field = build('v1: {query_type: "labelrow" query_method: "GET" uid_field: "hashes"}')
    assert envelope(from_field.wire_call(Req(hashes=["a", "b"])))["values"]["uid"] == ["a", "b"]
    single = build('v1: {query_type: "labelrow" query_method: "GET" uid_field: "title"}')
    assert envelope(single.wire_call(Req()))["values"]["uid"] is None
    text = f"""
        steps: {{name: "find" {GET}}}
        steps: {{name: "get" v1: {{query_type: "labelrow" query_method: "GET" uid_field: "$find.0.label_hash"}}}}
    """
    call = composite_call(text, Req(), "get", find=[{"label_hash": "L1"}])
    assert envelope(call)["values"] == {"uid": "L1", "payload": None}


def test_a_generated_uid_is_a_fresh_uuid4_for_every_call() -> None:
    call_plan = build('v1: {query_type: "labelrow" query_method: "POST" uid_generated: GENERATED_UUID4}')
    uids = [envelope(call_plan.wire_call(Req()))["values"]["uid"] for _ in range(3)]
    assert len(set(uids)) == 3
    assert all(uuid.UUID(uid).version == 4 and str(uuid.UUID(uid)) == uid for uid in uids)


# ---- v1 routing and retry safety ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("resource_type: RESOURCE_TYPE_PROJECT resource_field: 'project_hash'", ("/public", "project", PROJECT)),
        ("resource_type: RESOURCE_TYPE_DATASET resource_field: 'project_hash'", ("/public", "dataset", PROJECT)),
        ("resource_type: RESOURCE_TYPE_ONTOLOGY resource_field: 'project_hash'", ("/public", "ontology", PROJECT)),
        ("resource_type: RESOURCE_TYPE_PROJECT", ("/public/user", "", "")),
    ],
)
def test_a_v1_call_on_a_resource_goes_to_public_with_its_resource_headers(extra: str, expected: Any) -> None:
    call = build(f"{GET} {extra}").wire_call(Req(project_hash=PROJECT))
    assert (call.path, call.resource_type, call.resource_id) == expected


def test_a_user_endpoint_call_names_its_resource_in_the_payload_not_the_headers() -> None:
    text = (
        'v1: {query_type: "apikeymeta" query_method: "GET" user_endpoint: true payload_fields: ["project_hash"]} '
        "resource_type: RESOURCE_TYPE_PROJECT resource_field: 'project_hash'"
    )
    call = build(text).wire_call(Req(project_hash=PROJECT))
    assert (call.path, call.resource_type, call.resource_id) == ("/public/user", "", "")
    assert payload(call) == {"project_hash": PROJECT}


@pytest.mark.parametrize(
    ("text", "retryable"),
    [
        ('v1: {query_type: "x" query_method: "POST"} access: ACCESS_READ', True),  # a read, whatever its verb
        ('v1: {query_type: "x" query_method: "GET"} access: ACCESS_WRITE', True),  # a GET, even in a write
        ('v1: {query_type: "x" query_method: "POST"} access: ACCESS_WRITE', False),
        ('v2: {method: "DELETE" path: "x"} access: ACCESS_WRITE', False),
        ('v1: {query_type: "x" query_method: "POST"} access: ACCESS_COMPUTE', False),
    ],
)
def test_only_reads_and_get_calls_are_marked_safe_to_retry(text: str, retryable: bool) -> None:
    assert build(text).wire_call(Req()).retryable is retryable


# ---- v2 path, query and body -------------------------------------------------------------------------------


def test_v2_path_placeholders_are_percent_encoded_and_enums_use_their_wire_value() -> None:
    call = build('v2: {method: "GET" path: "projects/{project_hash}/kinds/{kind}"}').wire_call(
        Req(project_hash="a/b c?", kind=2)
    )
    assert call.path == "/v2/public/projects/a%2Fb%20c%3F/kinds/video%20group"
    assert (call.query_type, call.query_method, call.http_method) == (
        "projects/{project_hash}/kinds/{kind}",
        "GET",
        "GET",
    )


def test_a_v2_path_placeholder_can_name_an_earlier_answer() -> None:
    text = """
        steps: {name: "project" v2: {method: "GET" path: "projects/{project_hash}"}}
        steps: {name: "ontology" v2: {method: "GET" path: "ontologies/{$project.ontologyHash}"}}
    """
    call = composite_call(text, Req(project_hash=PROJECT), "ontology", project={"ontologyHash": "o 1"})
    assert call.target == "/v2/public/ontologies/o%201"


@pytest.mark.parametrize(
    ("path", "request_message", "answers"),
    [
        ("ontologies/{$project.ontologyHash}", Req(), {"project": {"ontologyHash": None}}),
        ("ontologies/{$project.ontologyHash}", Req(), {"project": {}}),
    ],
)
def test_a_path_placeholder_an_earlier_answer_leaves_empty_refuses_to_build_the_call(
    path: str, request_message: Any, answers: Any
) -> None:
    text = f'steps: {{name: "project" {GET}}} steps: {{name: "next" v2: {{method: "GET" path: "{path}"}}}}'
    with pytest.raises(MalformedUpstreamResult, match="a path segment of the call has no value"):
        composite_call(text, request_message, "next", **answers)


def test_a_path_placeholder_the_caller_left_empty_is_invalid_argument_naming_the_field() -> None:
    text = f'steps: {{name: "project" {GET}}} steps: {{name: "next" v2: {{method: "GET" path: "projects/{{project_hash}}"}}}}'
    with pytest.raises(GatewayError) as raised:
        composite_call(text, Req(), "next")
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.field_violations == [("project_hash", "is required")]


def test_the_v2_query_repeats_list_keys_spells_booleans_like_python_and_sends_objects_as_json() -> None:
    text = (
        'v2: {method: "GET" path: "projects" query_fields: '
        '["hashes", "flag", "doc", "after", "title", "display_name", "include_org_access=false", "never=null"]}'
    )
    request = Req(hashes=["x", "y z"], flag=True, title="a&b%", display_name="d")
    request.doc.update({"b": 1, "a": "q"})
    request.after.FromJsonString("2024-01-01T00:00:00Z")
    assert build(text).wire_call(request).query == (
        "hashes=x&hashes=y+z&flag=True&doc=%7B%22a%22%3A+%22q%22%2C+%22b%22%3A+1%7D"
        "&after=2024-01-01T00%3A00%3A00%2B00%3A00&title=a%26b%25&displayName=d&include_org_access=False"
    )
    assert build(text).wire_call(Req()).query == "include_org_access=False"


def test_a_v2_call_sends_no_body_without_body_entries_and_camel_case_keys_with_them() -> None:
    bare = build('v2: {method: "DELETE" path: "projects/{project_hash}"}').wire_call(Req(project_hash="p"))
    assert (bare.body, bare.query, bare.target) == (None, "", "/v2/public/projects/p")
    with_body = build('v2: {method: "PATCH" path: "projects" body_fields: ["display_name", "description", "note"]}')
    assert with_body.wire_call(Req(display_name="N")).body == b'{"displayName": "N"}'


# ---- answers -----------------------------------------------------------------------------------------------


def test_result_path_picks_a_member_of_the_answer_and_result_field_receives_it() -> None:
    call_plan = build(f'{GET} result_path: "data.items" result_field: "objects"')
    response = call_plan.response(Resp, {"data": {"items": [{"id": "1"}, {"id": "2", "name": "n"}]}}, Req())
    assert response == Resp(objects=[Obj(id="1"), Obj(id="2", name="n")])


def test_an_answer_without_the_result_path_member_is_malformed() -> None:
    with pytest.raises(MalformedUpstreamResult, match=r"the answer has no 'data\.items' member"):
        build(f'{GET} result_path: "data.items"').response(Resp, {"data": {}}, Req())


def test_echo_fields_copy_request_values_the_upstream_does_not_repeat() -> None:
    call_plan = build(f'{GET} echo_fields: ["project_hash", "objects", "object"]')
    request = Req(project_hash="p", objects=[Obj(id="1")], object=Obj(id="2"))
    assert call_plan.response(Resp, {"title": "T"}, request) == Resp(
        title="T", project_hash="p", objects=[Obj(id="1")], object=Obj(id="2")
    )
    assert call_plan.response(Resp, {"project_hash": "upstream"}, Req()) == Resp(project_hash="upstream")


def result_fields_plan(*entries: str) -> CallPlan:
    return build(f"""
        steps: {{name: "project" {GET}}}
        steps: {{name: "ontology" {GET}}}
        result_fields: {json.dumps(list(entries))}
    """)


ANSWERS = {"project": {"id": "p", "title": "T"}, "ontology": {"structure": {"name": "O"}, "items": [{"id": "i"}]}}


def respond(call_plan: CallPlan, request: Any) -> Any:
    scope = call_plan.scope(request)
    scope.results.update(ANSWERS)
    return call_plan.response(Resp, "the last answer: not what result_fields pick", request, scope)


def test_result_fields_fill_the_response_from_several_answers() -> None:
    call_plan = result_fields_plan("object=$project", "objects=$ontology.items")
    assert respond(call_plan, Req()) == Resp(object=Obj(id="p"), objects=[Obj(id="i")])


def test_result_fields_may_name_response_fields_the_request_does_not_have() -> None:
    call_plan = result_fields_plan("other=$ontology.structure")
    assert respond(call_plan, Req()) == Resp(other=Obj(name="O"))


def test_result_fields_read_the_answers_even_when_the_request_has_a_field_of_the_same_name() -> None:
    call_plan = result_fields_plan("title=$project.title")
    assert respond(call_plan, Req(title="the caller's title")) == Resp(title="T")


def test_an_empty_response_ignores_the_answer() -> None:
    call_plan = build(GET, response="google.protobuf.Empty")
    assert call_plan.response(empty_pb2.Empty, ["anything", {"at": "all"}], Req()) == empty_pb2.Empty()


# ---- start-up errors ---------------------------------------------------------------------------------------

V1 = 'v1: {query_type: "project" query_method: "GET"}'
STARTUP_ERRORS = [
    # entries and references
    ('v1: {query_type: "p" query_method: "GET" payload_fields: ["nope"]}', "Req", "entry 'nope' is neither a field nor a constant"),
    ('v1: {query_type: "p" query_method: "GET" payload_fields: ["x=abc"]}', "Req", "'abc' is neither a $reference nor a JSON literal"),
    ('v1: {query_type: "p" query_method: "GET" payload_fields: ["x=$request.nope"]}', "Req", "Req has no field 'nope'"),
    ('v1: {query_type: "p" query_method: "GET" payload_fields: ["x=$get.a"]}', "Req", "no earlier step named 'get'"),
    ('v1: {query_type: "p" query_method: "GET" payload_fields: ["x=$get..a"]}', "Req", "empty path segment"),
    ('v1: {query_type: "p" query_method: "GET" uid_field: "nope"}', "Req", "Req has no field 'nope'"),
    ('v1: {query_type: "p" query_method: "GET" payload_field: "nope"}', "Req", "Req has no field 'nope'"),
    # calls
    ('v1: {query_type: "p" query_method: "PATCH"}', "Req", "a v1 call needs a query_type and GET, POST, PUT or DELETE"),
    ('v1: {query_method: "GET"}', "Req", "a v1 call needs a query_type"),
    ('v2: {method: "FETCH" path: "x"}', "Req", "unsupported HTTP method 'FETCH'"),
    ('v2: {method: "GET" path: "x/{nope}"}', "Req", "Req has no path field nope"),
    ('v2: {method: "GET" path: "x/{$later.id}"}', "Req", "no earlier step named 'later'"),
    ('v2: {method: "GET" path: "x" query_fields: ["nope"]}', "Req", "entry 'nope' is neither a field nor a constant"),
    ('v2: {method: "POST" path: "x" body_field: "hashes" body_fields: ["title"]}', "Req", "a list body (hashes) cannot take body_fields too"),
    ("access: ACCESS_READ", "Req", "declares neither v1 nor v2"),
    # steps
    (f'{V1} steps: {{name: "a" {V1}}}', "Req", "declare either one call or steps, not both"),
    (f'steps: {{name: "a" {V1}}} steps: {{name: "a" {V1}}}', "Req", "step 'a': steps need unique names"),
    (f'steps: {{name: "request" {V1}}}', "Req", "step 'request': steps need unique names other than _, answer, each, item, request"),
    (f'steps: {{name: "_" {V1}}}', "Req", "step '_': steps need unique names"),
    (f"steps: {{{V1}}}", "Req", "step '': steps need unique names"),
    (f'steps: {{name: "a" v1: {{query_type: "p" query_method: "GET" payload_fields: ["x=$b.y"]}}}} steps: {{name: "b" {V1}}}', "Req", "$b.y: no earlier step named 'b'"),
    (f'steps: {{name: "a" {V1} when: ["$a.done"]}}', "Req", "$a.done: no earlier step named 'a'"),
    (f'steps: {{name: "a" {V1} when: ["$request.title in 3"]}}', "Req", "'in' needs a JSON list"),
    (f'steps: {{name: "a" {V1} repeat_until: "a.done"}}', "Req", "step 'a': 'a.done': a reference starts with '$'"),
    (f'steps: {{name: "a" {V1} require: "$b.x"}} steps: {{name: "b" {V1}}}', "Req", "$b.x: no earlier step named 'b'"),
    (f'steps: {{name: "a" {V1} emit_path: "$a["}}', "Req", "'$a[': malformed reference"),
    # chunking
    (f'{V1} chunking: {{fields: ["title"] size: 10}}', "Paged", "chunked fields must be repeated"),
    (f'{V1} chunking: {{fields: ["labels"] size: 10}}', "Paged", "chunked fields must be repeated"),
    (f'{V1} chunking: {{fields: ["hashes"]}}', "Req", "chunking needs fields, a size, and a single call"),
    (f"{V1} chunking: {{size: 3}}", "Req", "chunking needs fields, a size, and a single call"),
    (f'{V1} chunking: {{fields: ["nope"] size: 3}}', "Req", "Req has no chunked field nope"),
    (f'steps: {{name: "a" {V1}}} chunking: {{fields: ["hashes"] size: 3}}', "Req", "chunking needs fields, a size, and a single call"),
    # paging
    (f'{V1} paging: {{items: "results" items_field: "items"}}', "NoToken", "NoToken has no field page_token"),
    (f'{V1} paging: {{items: "results" items_field: "items"}}', "IntToken", "page_token must be a string and page_size an int32"),
    (f'{V1} paging: {{items_field: "items"}}', "Paged", "paging needs `items` and a single call"),
    (f'{V1} paging: {{items: "results" items_field: "nope"}}', "Paged", "Page has no items field nope"),
    (f'{V1} paging: {{items: "results" items_field: "one"}}', "Paged", "items must be repeated and next_page_token a string"),
    (f'{V1} paging: {{items: "results" items_field: "items"}} chunking: {{fields: ["datas"] size: 3}}', "Paged", "paging needs `items` and a single call"),
    (f'steps: {{name: "a" {V1}}} paging: {{items: "results" items_field: "items"}}', "Paged", "paging needs `items` and a single call"),
    # long poll and client stream
    (f'{V1} long_poll: {{field: "text_wait" max_seconds: 3}}', "Paged", "a long poll needs an integer field and max_seconds"),
    (f'{V1} long_poll: {{field: "wait"}}', "Paged", "a long poll needs an integer field and max_seconds"),
    (f'{V1} long_poll: {{field: "nope" max_seconds: 3}}', "Paged", "Paged has no long-poll field nope"),
    (f'{V1} client_stream: {{chunk_field: "title" max_bytes: 3}}', "Paged", "a client stream needs a singular bytes chunk field and max_bytes"),
    (f'{V1} client_stream: {{chunk_field: "data"}}', "Paged", "a client stream needs a singular bytes chunk field and max_bytes"),
    (f'{V1} client_stream: {{chunk_field: "datas" max_bytes: 3}}', "Paged", "a client stream needs a singular bytes chunk field"),
    (f'{V1} client_stream: {{chunk_field: "nope" max_bytes: 3}}', "Paged", "Paged has no chunk field nope"),
    # resources, results
    (f'{V1} result_field: "nope"', "Req", "Page has no result field nope"),
    (f'{V1} echo_fields: ["title"]', "Paged", "echo field title must exist in enginetest.plan.Paged and enginetest.plan.Page"),
    (f'{V1} resource_field: "nope"', "Req", "Req has no resource field nope"),
    (f'{V1} references: {{type: RESOURCE_TYPE_DATASET field: "nope"}}', "Req", "Req has no referenced field nope"),
    (f'{V1} resource_field: "project_hash"', "Req", "a v1 resource call needs a project, dataset or ontology type"),
    (f'{V1} resource_field: "project_hash" resource_type: RESOURCE_TYPE_STORAGE_FOLDER', "Req", "a v1 resource call needs a project"),
    (f'{V1} result_fields: ["one=1"]', "Req", "result_fields: entries must be `<enginetest.plan.Page field>=$ref`"),
    (f'{V1} result_fields: ["nope=$_"]', "Req", "result_fields: entries must be `<enginetest.plan.Page field>=$ref`"),
    (f'{V1} result_fields: ["one=$x"]', "Req", "$x: no earlier step named 'x'"),
    (f'{V1} result_path: "$x.a"', "Req", "$x.a: no earlier step named 'x'"),
    (f'{V1} result_path: "a..b"', "Req", "'$_.a..b': empty path segment"),
    (f'{V1} error_path: "a..b"', "Req", "'$_.a..b': empty path segment"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "request_name", "complaint"), STARTUP_ERRORS)
def test_a_declaration_that_cannot_work_fails_at_start_up_naming_the_problem(
    text: str, request_name: str, complaint: str
) -> None:
    with pytest.raises(PlanError) as caught:
        build(text, request_name, "Page")
    assert complaint in str(caught.value)


def test_a_unary_listing_needs_a_next_page_token_in_its_response_but_a_stream_does_not() -> None:
    text = f'{V1} paging: {{items: "results" items_field: "items"}}'
    with pytest.raises(PlanError, match="PageWithoutToken has no field next_page_token"):
        build(text, "Paged", "PageWithoutToken")
    streamed = build(f'{V1} paging: {{items: "results"}}', "Paged", "Obj", server_streaming=True)
    assert streamed.paging == plan.PagePlan("results", None, "", 0, False)


def test_a_step_may_name_its_own_answer_in_require_repeat_until_and_emit_path() -> None:
    text = f'steps: {{name: "a" {V1} require: "$a.id" repeat_until: "$a.done" emit: true emit_path: "$a.items"}}'
    (step,) = build(text).steps
    assert step.require is not None and step.repeat_until is not None and step.emit_path is not None
    assert step.require_message == "a: nothing matched"


@pytest.mark.parametrize(
    ("method", "complaint"),
    [
        ("StreamsNothing", "a server-streaming RPC pages or has steps that emit"),
        ("UndeclaredStream", "a client-streaming RPC declares client_stream, and only it"),
        ("StreamNotClient", "a client-streaming RPC declares client_stream, and only it"),
    ],
)
def test_a_streaming_rpc_must_declare_how_it_streams(method: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        D.spec(method)
