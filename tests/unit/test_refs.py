"""References (`$step.a.0.b`, `$request.field`, `[key=$ref]` filters) and conditions of composite operations."""

from __future__ import annotations

from typing import Any

import pytest
from declared import declare, message
from encord_gateway.operations import refs, wiremap
from encord_gateway.operations.refs import MISSING, ReferenceError, parse_condition, parse_reference

D = declare(
    "refs",
    message("Inner", "string display_name"),
    message("Req", "string stage_uuid", "optional int32 count", "repeated string tags", "Inner inner"),
)
Req = D["Req"]

STAGES = {
    "workflow": {
        "stages": [
            {"uuid": "s-1", "stageType": "ANNOTATION", "title": "first"},
            {"uuid": "s-2", "stageType": "REVIEW", "title": "second"},
            {"uuid": "s-2", "stageType": "DUPLICATE", "title": "later"},
        ]
    }
}


def scope(request: Any = None, camel: bool = False, **results: Any) -> refs.Scope:
    return refs.Scope(request if request is not None else Req(), wiremap.encode_request_field, dict(results), camel)


def resolve(text: str, context: refs.Scope) -> Any:
    return parse_reference(text).resolve(context)


# ---- parsing ---------------------------------------------------------------------------------------------


def test_a_reference_is_a_root_and_segments_of_keys_indices_and_filters() -> None:
    parsed = parse_reference('$stages.workflow.stages[uuid=$request.stage_uuid].stageType.-1[kind="x"]')
    assert parsed.root == "stages"
    workflow, stages, by_ref, stage_type, last, by_literal = parsed.segments
    assert (workflow, stages, stage_type, last) == ("workflow", "stages", "stageType", -1)
    assert isinstance(by_ref, refs.Filter) and by_ref.key == "uuid" and by_ref.value is not None
    assert (by_ref.value.root, by_ref.value.segments) == ("request", ("stage_uuid",))
    assert by_literal == refs.Filter("kind", None, "x")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("step.a", "starts with '$'"),
        ("$", "starts with '$'"),
        ("$a..b", "empty path segment"),
        ("$a.", "malformed reference"),
        ("$a[k=$b", "malformed reference"),
        ("$a]b", "unbalanced brackets"),
        ("$1step.a", "is not a step name or 'request'"),
        ("$a.b c", "bad path segment 'b c'"),
        ("$a[k=plain words]", "is neither a $reference nor a JSON literal"),
    ],
)
def test_a_malformed_reference_is_refused_with_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ReferenceError) as caught:
        parse_reference(text)
    assert complaint in str(caught.value)


def test_check_names_a_request_field_that_does_not_exist() -> None:
    with pytest.raises(ReferenceError, match=r"enginetest\.refs\.Req has no field 'stage'"):
        parse_reference("$request.stage").check(Req.DESCRIPTOR, set())


def test_check_names_a_step_that_has_not_run_yet() -> None:
    with pytest.raises(ReferenceError, match="no earlier step named 'later'"):
        parse_reference("$later.x").check(Req.DESCRIPTOR, {"first"})
    parse_reference("$first.x").check(Req.DESCRIPTOR, {"first"})  # an earlier step is fine


def test_check_looks_inside_filters_too() -> None:
    with pytest.raises(ReferenceError, match="has no field 'nope'"):
        parse_reference("$first.items[id=$request.nope]").check(Req.DESCRIPTOR, {"first"})


# ---- resolving -------------------------------------------------------------------------------------------


def test_keys_and_indices_walk_an_earlier_answer() -> None:
    context = scope(stages=STAGES)
    assert resolve("$stages.workflow.stages.1.title", context) == "second"
    assert resolve("$stages.workflow.stages.-1.title", context) == "later"
    assert resolve("$stages", context) is STAGES


@pytest.mark.parametrize(
    "text",
    [
        "$stages.workflow.nope",  # absent key
        "$stages.workflow.stages.3",  # index past the end
        "$stages.workflow.stages.-4",  # index before the start
        "$stages.workflow.0",  # index into an object
        "$stages.workflow.stages.title",  # key into a list
        "$skipped.anything",  # a step that did not run
    ],
)
def test_what_is_not_there_resolves_to_missing(text: str) -> None:
    assert resolve(text, scope(stages=STAGES)) is MISSING


def test_json_null_is_a_value_but_nothing_can_be_read_below_it() -> None:
    context = scope(get={"editor": None})
    assert resolve("$get.editor", context) is None
    assert resolve("$get.editor.objects", context) is MISSING


def test_a_filter_picks_the_first_element_whose_key_equals_the_request_value() -> None:
    context = scope(Req(stage_uuid="s-2"), stages=STAGES)
    assert resolve("$stages.workflow.stages[uuid=$request.stage_uuid].stageType", context) == "REVIEW"
    assert resolve('$stages.workflow.stages[stageType="ANNOTATION"].uuid', context) == "s-1"


def test_a_filter_that_matches_nothing_or_has_no_value_resolves_to_missing() -> None:
    text = "$stages.workflow.stages[uuid=$request.stage_uuid].stageType"
    assert resolve(text, scope(Req(stage_uuid="s-9"), stages=STAGES)) is MISSING
    assert resolve(text, scope(Req(), stages=STAGES)) is MISSING  # unset: no element with uuid == MISSING


def test_request_references_give_the_wire_value_or_missing_when_unset() -> None:
    request = Req(count=0, tags=["a", "b"], inner={"display_name": "n"})
    assert resolve("$request.count", scope(request)) == 0  # optional and set to 0: present
    assert resolve("$request.count", scope(Req())) is MISSING
    assert resolve("$request.stage_uuid", scope(request)) is MISSING  # no presence, default value
    assert resolve("$request.tags.1", scope(request)) == "b"
    assert resolve("$request.inner", scope(request)) == {"display_name": "n"}
    assert resolve("$request.inner", scope(request, camel=True)) == {"displayName": "n"}
    assert resolve("$request.inner.displayName", scope(request, camel=True)) == "n"


# ---- conditions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "holds"),
    [
        ("$job.done", {"done": True}, True),
        ("$job.done", {"done": False}, False),
        ("$job.done", {}, False),
        ("!$job.done", {}, True),
        ("!$job.done", {"done": "yes"}, False),
        ('$job.status == "DONE"', {"status": "DONE"}, True),
        ('$job.status == "DONE"', {"status": "RUNNING"}, False),
        ("$job.status == null", {"status": None}, True),
        ("$job.status == null", {}, False),  # absent is not null
        ('$job.status != "DONE"', {"status": "RUNNING"}, True),
        ('$job.status != "DONE"', {}, True),  # absent differs from anything
        ('$job.status != "DONE"', {"status": "DONE"}, False),
        ('$job.status in ["DONE", "FAILED"]', {"status": "FAILED"}, True),
        ('$job.status in ["DONE", "FAILED"]', {"status": "RUNNING"}, False),
        ('$job.status in ["DONE", null]', {}, False),
        ("$job.count == 3", {"count": 3}, True),
    ],
)
def test_conditions_hold_as_documented(text: str, answer: Any, holds: bool) -> None:
    assert parse_condition(text).holds(scope(job=answer)) is holds


@pytest.mark.parametrize("falsy", [None, False, 0, "", [], {}])
def test_empty_values_are_not_truthy(falsy: Any) -> None:
    assert not parse_condition("$job.value").holds(scope(job={"value": falsy}))
    assert parse_condition("!$job.value").holds(scope(job={"value": falsy}))


def test_a_condition_on_a_request_field_reads_its_wire_value() -> None:
    assert parse_condition("$request.tags").holds(scope(Req(tags=["x"])))
    assert not parse_condition("$request.tags").holds(scope(Req()))


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('$job.status in "DONE"', "'in' needs a JSON list"),
        ("$job.status == DONE", "is neither a $reference nor a JSON literal"),
        ("job.status", "starts with '$'"),
    ],
)
def test_a_malformed_condition_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(ReferenceError) as caught:
        parse_condition(text)
    assert complaint in str(caught.value)


@pytest.mark.parametrize("text", ['$job.status != "a==b"', '$job.items[name="a==b"]'])
def test_an_operator_inside_a_json_literal_is_part_of_the_literal(text: str) -> None:
    context = scope(job={"status": "x", "items": [{"name": "a==b"}]})
    assert parse_condition(text).holds(context)
