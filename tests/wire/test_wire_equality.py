"""The gateway sends, per operation, the requests the official Encord SDK 0.1.211 sends for it.

Both sides sign with one Ed25519 key and talk to a recorder in front of the sandbox; each case's
requests are compared byte for byte (wire_compare), and the catalogue coverage test keeps a case
for every catalogue ID a public RPC names.
"""

from __future__ import annotations

import pytest
from wire_cases import CASES
from wire_compare import assert_same_wire
from wire_harness import WireCase, WireSides, catalog, record


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_gateway_sends_what_the_sdk_sends(wire: WireSides, case: WireCase) -> None:
    recorded = record(wire, case)

    assert_same_wire(recorded.sdk, recorded.gateway, wire.public_key_hex, case.masks, case.free_form)


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
