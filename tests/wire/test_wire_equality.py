"""The gateway sends, per operation, the requests the official Encord SDK 0.1.211 sends for it.

Both sides sign with one Ed25519 key and talk to a recorder in front of the sandbox; each case's
requests are compared byte for byte (wire_compare), and the coverage tests keep a case for every
catalogue ID a public RPC names and for every such RPC.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from wire_cases import CASES
from wire_compare import assert_same_wire
from wire_harness import WireCase, WireSides, call_gateway, catalog, record


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_gateway_sends_what_the_sdk_sends(wire: WireSides, case: WireCase) -> None:
    recorded = record(wire, case)

    assert_same_wire(recorded.sdk, recorded.gateway, wire.public_key_hex, case.masks, case.free_form)


# Free-form cases whose request can be sent twice with the same bytes expected (the others append to,
# or stamp, what they read), and the dotted path of the Struct-carried member in their body.
REPEATABLE_FREE_FORM = {
    "CreateOntology with a structure": "editor",
    "SaveOntology as Ontology.save() after a new title, description and object": "editor",
    "CreateOntologyLegacy with an awkward description and a structure": "values.payload.editor",
}


def keys_in_order(body: bytes) -> Any:
    """`body` parsed with every object as its list of (key, value) pairs, in the order sent."""
    return json.loads(body, object_pairs_hook=lambda pairs: pairs)


def unsorted_objects(node: Any, path: str = "") -> list[str]:
    """Paths of the objects (as key/value pair lists) inside `node` whose keys are not in sorted order."""
    found: list[str] = []
    if isinstance(node, list) and all(isinstance(item, tuple) and len(item) == 2 for item in node) and node:
        keys = [key for key, _ in node]
        if keys != sorted(keys):
            found.append(path or "(top)")
        for key, value in node:
            found += unsorted_objects(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += unsorted_objects(item, f"{path}.{index}")
    return found


def member_at(pairs: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        pairs = dict(pairs)[key]
    return pairs


def test_the_key_order_check_finds_an_unsorted_object_at_any_depth() -> None:
    body = b'{"editor": {"objects": [{"id": "1", "color": "#D33115"}], "classifications": []}}'

    assert unsorted_objects(member_at(keys_in_order(body), "editor")) == ["(top)", "objects.0"]


@pytest.mark.parametrize("name", REPEATABLE_FREE_FORM)
def test_a_free_form_member_is_sent_with_the_same_bytes_every_time(wire: WireSides, name: str) -> None:
    """Compared as parsed JSON against the SDK, the gateway's own bytes must still be one fixed choice:
    keys sorted at every level, identical on every call (a signature over them is then reproducible)."""
    case = next(case for case in CASES if case.name == name)
    given = case.setup(wire)
    wire.recorder.clear()

    call_gateway(wire, case, given)
    first = wire.recorder.take()
    call_gateway(wire, case, given)
    second = wire.recorder.take()

    assert [request.body for request in first] == [request.body for request in second]
    member = member_at(keys_in_order(first[-1].body), REPEATABLE_FREE_FORM[name])
    assert member, "the case sends no free-form member to check"
    assert unsorted_objects(member) == []


def public_catalogue_ids() -> dict[str, set[str]]:
    """Catalogue ID → the public RPCs that name it."""
    named: dict[str, set[str]] = {}
    for spec in catalog().values():
        if spec.operation is not None:
            for catalogue_id in spec.operation.catalogue_ids:
                named.setdefault(catalogue_id, set()).add(spec.full_name)
    return named


def test_every_catalogue_id_of_a_public_rpc_has_a_wire_case() -> None:
    proven = {catalogue_id for case in CASES for catalogue_id in case.proves}

    missing = sorted(set(public_catalogue_ids()) - proven)

    assert not missing, f"catalogue IDs named by a public RPC but proven by no wire case: {missing}"


def test_every_public_rpc_is_driven_by_a_wire_case() -> None:
    """Two RPCs may carry one catalogue row (ListProjects and StreamProjects both do U-02) by different paths."""
    driven = {case.full_name for case in CASES}
    named = {rpc for rpcs in public_catalogue_ids().values() for rpc in rpcs}

    missing = sorted(named - driven)

    assert not missing, f"public RPCs no wire case drives: {missing}"


def test_each_case_proves_only_ids_of_the_rpc_it_drives() -> None:
    wrong = []
    for case in CASES:
        spec = catalog().get(case.full_name)
        if spec is None or spec.operation is None:
            wrong.append(f"{case.name}: {case.rpc} is not a public RPC")
            continue
        extra = set(case.proves) - set(spec.operation.catalogue_ids)
        if extra or not case.proves:
            wrong.append(
                f"{case.name}: proves {sorted(case.proves)}, {case.rpc} names {list(spec.operation.catalogue_ids)}"
            )

    assert not wrong, "\n".join(wrong)


def test_case_names_are_unique() -> None:
    names = [case.name for case in CASES]

    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)
