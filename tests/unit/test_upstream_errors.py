"""What Encord says in an error is relayed short and printable; what the gateway saw itself carries its domain."""

from __future__ import annotations

import grpc
from encord_gateway.errors import GATEWAY_DOMAIN, UPSTREAM_DOMAIN
from encord_gateway.upstream import errors


def test_a_v1_code_that_is_not_an_identifier_is_an_unrecognised_error_with_a_clean_message() -> None:
    error = errors.from_v1_code("BAD\x00CODE\x1b[2J", "pay\x07load", label="project GET")
    assert (error.code, error.reason, error.domain) == (
        grpc.StatusCode.UNKNOWN,
        errors.UNREADABLE_CODE,
        UPSTREAM_DOMAIN,
    )
    assert error.message.isprintable() and "BAD CODE" in error.message and "pay load" in error.message


def test_a_known_v1_code_keeps_its_reason_and_a_long_payload_is_cut() -> None:
    error = errors.from_v1_code("INVALID_ARGUMENTS_ERROR", "x" * 1_000_000, label="project GET")
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENTS_ERROR")
    assert len(error.message) < 400 and error.message.endswith("…")


def test_payload_facts_keep_only_identifier_keys_short_values_and_a_few_of_them() -> None:
    payload = {"maximum_labels_allowed": 3, "Bad Key\n": 1, "note": "a\x00b", **{f"k{i}": i for i in range(20)}}
    error = errors.from_v1_code("MULTI_LABEL_LIMIT_ERROR", payload, label="label_row POST")
    facts = {k: v for k, v in error.metadata.items() if k != "operation"}
    assert facts["maximum_labels_allowed"] == "3" and facts["note"] == "a b"
    assert "Bad Key\n" not in facts and len(facts) == errors.MAX_PAYLOAD_FACTS


def test_a_v2_message_is_cut_and_stripped_of_control_characters() -> None:
    error = errors.from_http_status(400, "m\x00\x1b[2J\r\nX-Injected: 1" + "y" * 1_000_000, label="projects GET")
    assert error.message.isprintable() and "\r" not in error.message and len(error.message) < 400


def test_what_the_gateway_observed_itself_carries_the_gateways_domain() -> None:
    error = errors.gateway_observed(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNREACHABLE", "cannot reach", label="x")
    assert error.domain == GATEWAY_DOMAIN
    assert errors.malformed("bad", label="x").domain == UPSTREAM_DOMAIN
    too_large = errors.too_large(1024, label="x", http_status=200)
    assert (too_large.code, too_large.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "UPSTREAM_RESPONSE_TOO_LARGE")
    assert too_large.metadata["limit_bytes"] == "1024"
