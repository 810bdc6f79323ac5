"""Request validation: the bounds every value keeps (UUIDs whole, times in range, declared enum values,
finite numbers in documents), in nested messages too, and a bounded list of violations."""

from __future__ import annotations

import math
import uuid

import pytest
from encord_gateway._generated.encord.gateway.admin.v1 import callers_pb2
from encord_gateway._generated.encord.gateway.v1 import ontologies_pb2, projects_pb2
from encord_gateway.errors import GatewayError
from encord_gateway.operations import validate
from google.protobuf import message
from google.rpc import error_details_pb2


def violations(request: message.Message) -> list[tuple[str, str]]:
    with pytest.raises(GatewayError) as raised:
        validate.validate(request)
    return raised.value.field_violations


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\x00", "x"])
def test_a_uuid_with_anything_after_it_is_refused(suffix: str) -> None:
    request = projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4()) + suffix)
    assert [field for field, _ in violations(request)] == ["project_hash"]


def test_each_bad_element_of_a_repeated_uuid_field_is_named() -> None:
    request = projects_pb2.CreateProjectRequest(title="t", dataset_hashes=[str(uuid.uuid4()), "nope\n"])
    assert [field for field, _ in violations(request)] == ["dataset_hashes[1]"]


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(10**12, 0), (-62_135_596_801, 0), (253_402_300_800, 0), (0, -1), (0, 10**9)]
)
def test_a_timestamp_outside_years_1_to_9999_is_refused(seconds: int, nanos: int) -> None:
    request = projects_pb2.ListProjectsRequest()
    request.created_before.seconds, request.created_before.nanos = seconds, nanos
    assert violations(request) == [("created_before", validate.TIMESTAMP_RANGE)]


def test_the_extreme_valid_timestamps_pass() -> None:
    for seconds in (validate.MIN_TIMESTAMP_SECONDS, validate.MAX_TIMESTAMP_SECONDS):
        request = projects_pb2.ListProjectsRequest()
        request.created_before.seconds = seconds
        validate.validate(request)


@pytest.mark.parametrize(("seconds", "nanos"), [(315_576_000_001, 0), (5, -1), (-5, 1), (0, 10**9)])
def test_a_duration_out_of_range_or_of_mixed_sign_is_refused(seconds: int, nanos: int) -> None:
    request = callers_pb2.IssueTokenRequest(caller="c")
    request.ttl.seconds, request.ttl.nanos = seconds, nanos
    assert violations(request) == [("ttl", validate.DURATION_RANGE)]


def test_an_enum_number_the_proto_does_not_declare_is_refused() -> None:
    request = projects_pb2.CreateProjectRequest(title="t")
    request.workflow_type = 77  # type: ignore[assignment]  # open enums keep unknown numbers
    [(field, description)] = violations(request)
    assert field == "workflow_type" and "QA_WORKFLOW_TYPE_MANUAL" in description


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_document_with_nan_or_infinity_is_refused_however_deep(number: float) -> None:
    request = ontologies_pb2.CreateOntologyRequest(title="t")
    inner = request.structure.get_or_create_struct("objects")
    inner.get_or_create_list("items").append(1)
    inner["items"].add_struct()["value"] = number
    assert violations(request) == [("structure", "holds NaN or Infinity, which JSON cannot carry")]


def test_nested_messages_are_checked_and_named_by_path() -> None:
    request = callers_pb2.CreateCallerRequest(name="c")
    grant = request.policy.grants.add(organisation="x" * (validate.MAX_STRING_LENGTH + 1))
    grant.rights.append("read")
    assert [field for field, _ in violations(request)] == ["policy.grants[0].organisation"]


def test_violations_are_capped_with_a_count_of_the_rest() -> None:
    request = projects_pb2.CreateProjectRequest(title="t", dataset_hashes=["bad"] * 100)
    with pytest.raises(GatewayError) as raised:
        validate.validate(request)
    listed = raised.value.to_status()
    bad_request = error_details_pb2.BadRequest()
    assert listed.details[1].Unpack(bad_request)
    found = [(v.field, v.description) for v in bad_request.field_violations]
    assert found[: validate.MAX_VIOLATIONS] == [
        (f"dataset_hashes[{n}]", found[0][1]) for n in range(validate.MAX_VIOLATIONS)
    ]
    assert found[validate.MAX_VIOLATIONS :] == [
        ("(request)", f"{100 - validate.MAX_VIOLATIONS} more fields are invalid")
    ]
