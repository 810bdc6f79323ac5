"""The comparison itself: it passes equal conversations, catches every compared difference, and never prints a secret.

These run on hand-built requests (no servers), so that a comparison that silently passes everything
cannot make the wire-equality suite green.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from wire_compare import COLUMN_WIDTH, assert_same_wire, signature_base, signature_problems, wire_differences
from wire_recorder import RecordedRequest

PROJECT = "00000000-0000-0000-0000-000000000001"
V1_BODY = b'{"query_type": "project", "query_method": "GET", "values": {"uid": null, "payload": {"include_labels_metadata": true}}}'
V2_BODY = b'{"title": "Cars", "description": "", "createBackingFolder": true, "legacyCall": false}'


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def v1_request(key: Ed25519PrivateKey, body: bytes = V1_BODY, user_agent: str = "encord-sdk-python") -> RecordedRequest:
    """A v1 resource call as §2.2 lays it out, signed over SHA-256 of `body`."""
    authorization = f"{public_hex(key)}:{key.sign(hashlib.sha256(body).digest()).hex()}"
    headers = (
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("Accept-Encoding", "gzip"),
        ("ResourceType", "project"),
        ("ResourceID", PROJECT),
        ("Authorization", authorization),
        ("User-Agent", user_agent),
        ("X-Cloud-Trace-Context", f"{'ab' * 16}/1;o=1"),
    )
    return RecordedRequest("POST", "/public", headers, body)


def v2_request(
    key: Ed25519PrivateKey,
    method: str = "POST",
    target: str = "/v2/public/datasets",
    body: bytes = V2_BODY,
    created: int = 1_700_000_000,
) -> RecordedRequest:
    """A v2 call as §3.3/§3.4 lay it out."""
    digest = f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"
    params = f'("@method" "@request-target" "content-digest");created={created};keyid="{public_hex(key)}";alg="ed25519"'
    signature = key.sign(signature_base(RecordedRequest(method, target, (), body), digest, params))
    headers = [("User-Agent", "encord-sdk-python"), ("X-Cloud-Trace-Context", f"{'cd' * 16}/1;o=1")]
    if body:
        headers.append(("Content-Type", "application/json"))
    headers += [
        ("Content-Digest", digest),
        ("Signature-Input", f"encord-sig={params}"),
        ("Signature", f"encord-sig=:{base64.b64encode(signature).decode()}:"),
    ]
    return RecordedRequest(method, target, tuple(headers), body)


API_KEY_BODY = b'{"query_type": "apikeymeta", "query_method": "GET", "values": {"uid": null, "payload": null}}'


def api_key_request(api_key: str = "k3y-of-the-project", body: bytes = API_KEY_BODY) -> RecordedRequest:
    """A v1 call with a resource API key as §2.2 lays it out: the raw key, ResourceID only."""
    headers = (
        ("Accept", "application/json"),
        ("Accept-Encoding", "gzip"),
        ("Content-Type", "application/json"),
        ("ResourceID", PROJECT),
        ("Authorization", api_key),
        ("User-Agent", "encord-sdk-python"),
        ("X-Cloud-Trace-Context", f"{'ab' * 16}/1;o=1"),
    )
    return RecordedRequest("POST", "/public", headers, body)


def with_header(request: RecordedRequest, name: str, value: str | None) -> RecordedRequest:
    """`request` with header `name` replaced (or removed, for None)."""
    headers = [(k, v) for k, v in request.headers if k.lower() != name.lower()]
    if value is not None:
        headers.append((name, value))
    return replace(request, headers=tuple(headers))


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# ---- the independent verifier, against the wire document's worked examples --------------------

# Public halves only: the RFC 8032 §7.1 test-vector key that the wire document's examples are signed with.
EXAMPLE_KEY_HEX = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def test_the_v1_worked_example_verifies_and_a_changed_byte_does_not() -> None:
    signature = (
        "8d142ce3733c58b7cf3fbb853b298485368fc84c71de90fabfed2363ae0e2fa2"
        "0d22ea39249c5274cb0f7cbe3756d25a28220dd4105605c8d46fe67416a6890b"
    )
    example = RecordedRequest("POST", "/public", (("Authorization", f"{EXAMPLE_KEY_HEX}:{signature}"),), V1_BODY)

    assert signature_problems(example, EXAMPLE_KEY_HEX) == []
    assert signature_problems(replace(example, body=V1_BODY.replace(b"true", b"false")), EXAMPLE_KEY_HEX)


def test_the_v2_worked_example_verifies_and_another_target_does_not() -> None:
    params = (
        f'("@method" "@request-target" "content-digest");created=1700000000;keyid="{EXAMPLE_KEY_HEX}";alg="ed25519"'
    )
    signature = "Dufxp5gTMQc/68ljNUSMZ1QOL1gnI8Ie3fLfsVU/9M0Lec/kcVBesbJ8GxYSwfuVhwhfhcTTp2wzSbyAH6XwBQ=="
    example = RecordedRequest(
        "GET",
        f"/v2/public/projects/{PROJECT}",
        (
            ("Content-Digest", "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"),
            ("Signature-Input", f"encord-sig={params}"),
            ("Signature", f"encord-sig=:{signature}:"),
        ),
        b"",
    )

    assert signature_problems(example, EXAMPLE_KEY_HEX) == []
    assert signature_problems(replace(example, target=example.target + "?x=1"), EXAMPLE_KEY_HEX)


def test_a_signature_by_another_key_is_reported(key: Ed25519PrivateKey) -> None:
    stranger = Ed25519PrivateKey.generate()

    assert signature_problems(v1_request(stranger), public_hex(key))
    assert signature_problems(v2_request(stranger), public_hex(key))


def test_an_api_key_call_is_unsigned_and_passes_whoever_the_organisation_is(key: Ed25519PrivateKey) -> None:
    assert signature_problems(api_key_request(), public_hex(key)) == []
    assert signature_problems(
        with_header(api_key_request(), "Authorization", f"{'0' * 64}:{'0' * 128}"), public_hex(key)
    )
    assert signature_problems(with_header(api_key_request(), "Authorization", None), public_hex(key))


def test_equal_api_key_calls_pass_and_the_key_is_never_shown(key: Ed25519PrivateKey) -> None:
    assert wire_differences([api_key_request()], [api_key_request()], public_hex(key))[0] == []

    with pytest.raises(AssertionError) as failure:
        assert_same_wire([api_key_request()], [api_key_request("another-k3y")], public_hex(key))

    assert "k3y" not in str(failure.value)


def test_api_keys_are_compared_even_when_bodies_are_compared_as_parsed_json(key: Ed25519PrivateKey) -> None:
    compact = API_KEY_BODY.replace(b", ", b",").replace(b": ", b":")

    same_key, _ = wire_differences([api_key_request()], [api_key_request(body=compact)], public_hex(key), parsed=True)
    other_key, rows = wire_differences(
        [api_key_request()], [api_key_request("another-k3y", compact)], public_hex(key), parsed=True
    )

    assert same_key == []
    assert other_key and "authorization" in rows[0]


# ---- equal conversations pass ---------------------------------------------------------------


def test_equal_conversations_pass_whatever_their_user_agents_trace_ids_and_clocks(key: Ed25519PrivateKey) -> None:
    sdk = [v1_request(key), v2_request(key, created=1_700_000_000)]
    gateway = [
        with_header(v1_request(key, user_agent="encord-gateway"), "X-Cloud-Trace-Context", f"{'ef' * 16}/1;o=1"),
        v2_request(key, created=1_700_000_007),
    ]

    problems, _ = wire_differences(sdk, gateway, public_hex(key))

    assert problems == []


# ---- each compared part is caught -----------------------------------------------------------

Mutation = Callable[[Ed25519PrivateKey], tuple[RecordedRequest, RecordedRequest, str]]

MUTATIONS: dict[str, Mutation] = {
    "method": lambda k: (v2_request(k), v2_request(k, method="PUT"), "method"),
    "path": lambda k: (v2_request(k), v2_request(k, target="/v2/public/datasets/"), "path"),
    "query string bytes": lambda k: (
        v2_request(k, "GET", "/v2/public/projects?titleLike=a+b", b""),
        v2_request(k, "GET", "/v2/public/projects?titleLike=a%20b", b""),
        "query",
    ),
    "body bytes with equal JSON": lambda k: (v1_request(k), v1_request(k, V1_BODY.replace(b", ", b",")), "body"),
    "ResourceID": lambda k: (v1_request(k), with_header(v1_request(k), "ResourceID", ""), "resourceid"),
    "ResourceType": lambda k: (v1_request(k), with_header(v1_request(k), "ResourceType", "dataset"), "resourcetype"),
    "v1 Content-Type": lambda k: (v1_request(k), with_header(v1_request(k), "Content-Type", None), "content-type"),
    "v2 Content-Type": lambda k: (
        v2_request(k),
        with_header(v2_request(k), "Content-Type", "application/json; charset=utf-8"),
        "content-type",
    ),
    "v2 Signature-Input parameters": lambda k: (
        v2_request(k),
        with_header(
            v2_request(k),
            "Signature-Input",
            (v2_request(k).header("Signature-Input") or "").replace('alg="ed25519"', 'alg="ed25519";nonce="1"'),
        ),
        "signature-input",
    ),
    "v2 Authorization": lambda k: (
        v2_request(k),
        with_header(v2_request(k), "Authorization", "Bearer x"),
        "authorization",
    ),
    "v1 API key": lambda k: (api_key_request(), api_key_request("another-k3y"), "authorization"),
    "v1 API key where the SDK signed": lambda k: (v1_request(k, API_KEY_BODY), api_key_request(), "authorization"),
    "v1 signature where the SDK sent an API key": lambda k: (
        api_key_request(),
        v1_request(k, API_KEY_BODY),
        "authorization",
    ),
    "v1 API key with a ResourceType": lambda k: (
        api_key_request(),
        with_header(api_key_request(), "ResourceType", "project"),
        "resourcetype",
    ),
    "v1 Authorization over equal bodies": lambda k: (
        v1_request(k),
        with_header(v1_request(k), "Authorization", f"{public_hex(k)}:{'00' * 64}"),
        "authorization",
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_difference_in_a_compared_part_fails(key: Ed25519PrivateKey, mutation: Mutation) -> None:
    sdk, gateway, row = mutation(key)

    problems, rows = wire_differences([sdk], [gateway], public_hex(key))

    assert problems
    assert row in rows[0]


def test_a_different_number_of_requests_fails(key: Ed25519PrivateKey) -> None:
    problems, _ = wire_differences([v1_request(key)], [v1_request(key), v2_request(key)], public_hex(key))

    assert "the SDK sent 1 request(s), the gateway 2" in problems


def test_an_empty_reference_fails_rather_than_proving_nothing(key: Ed25519PrivateKey) -> None:
    problems, _ = wire_differences([], [], public_hex(key))

    assert problems


# ---- masks ----------------------------------------------------------------------------------


def interpolation(key: Ed25519PrivateKey, uid: str, frames: int = 3) -> RecordedRequest:
    envelope = {
        "query_type": "labelingalgorithm",
        "query_method": "POST",
        "values": {"uid": uid, "payload": {"frames": frames}},
    }
    return v1_request(key, json.dumps(envelope).encode())


def test_a_mask_hides_a_randomised_value_and_nothing_else(key: Ed25519PrivateKey) -> None:
    masks = ("values.uid",)

    equal, _ = wire_differences([interpolation(key, "a")], [interpolation(key, "b")], public_hex(key), masks)
    different, _ = wire_differences([interpolation(key, "a")], [interpolation(key, "b", 4)], public_hex(key), masks)

    assert equal == []
    assert any("body differs after masking" in problem for problem in different)


def test_a_mask_keeps_the_key_order_compared_unless_the_body_is_free_form(key: Ed25519PrivateKey) -> None:
    reordered = v1_request(
        key,
        b'{"query_type": "labelingalgorithm", "query_method": "POST", "values": {"payload": {"frames": 3}, "uid": "b"}}',
    )

    ordered, rows = wire_differences([interpolation(key, "a")], [reordered], public_hex(key), ("values.uid",))
    free_form, _ = wire_differences(
        [interpolation(key, "a")], [reordered], public_hex(key), ("values.uid",), parsed=True
    )

    assert any("(in key order)" in problem for problem in ordered) and "body" in rows[0]
    assert free_form == []


def test_a_mask_that_matches_nothing_fails(key: Ed25519PrivateKey) -> None:
    problems, _ = wire_differences(
        [interpolation(key, "a")], [interpolation(key, "a")], public_hex(key), ("values.nope",)
    )

    assert problems


def test_a_masked_comparison_needs_json_bodies(key: Ed25519PrivateKey) -> None:
    problems, _ = wire_differences(
        [interpolation(key, "a")], [v1_request(key, b"not json")], public_hex(key), ("values.uid",)
    )

    assert any("needs both bodies to be JSON" in problem for problem in problems)


# ---- the failure message --------------------------------------------------------------------


def columns(message: str, label: str, marked: bool) -> tuple[str, str]:
    """The SDK and gateway texts of the first row `label` in a side-by-side rendering (wrapped lines joined)."""
    lines = message.splitlines()
    start = next(n for n, line in enumerate(lines) if line[2:].startswith(f"{label} "))
    assert lines[start].startswith("!" if marked else " "), lines[start]
    left, right = [], []
    for line in [lines[start], *itertools.takewhile(lambda line: line[:27].strip() == "", lines[start + 1 :])]:
        text, _, other = line[27:].partition(" | ")
        left.append(text[:COLUMN_WIDTH])
        right.append(other)
    return "".join(left).rstrip(), "".join(right).rstrip()


def test_the_failure_shows_both_requests_side_by_side_without_signatures(key: Ed25519PrivateKey) -> None:
    sdk = [v1_request(key), v2_request(key)]
    gateway = [v1_request(key, V1_BODY.replace(b"true", b"false")), v2_request(key, created=1_700_000_009)]

    with pytest.raises(AssertionError) as failure:
        assert_same_wire(sdk, gateway, public_hex(key))

    message = str(failure.value)
    assert columns(message, "body", marked=True) == (V1_BODY.decode(), gateway[0].body.decode())
    assert columns(message, "Authorization", marked=False) == ("<redacted: differs>", "<redacted: differs>")
    for request in [*sdk, *gateway]:
        for name in ("Authorization", "Signature"):
            value = request.header(name)
            if value is not None:
                signature = max(value.split(":"), key=len)  # the hex or base64 part
                assert signature not in message
