"""The catalogue data file matches the protocol reference, and start-up refuses RPCs that name rows it lacks."""

from __future__ import annotations

import collections
import itertools
import re
import types

import pytest
from encord_gateway._generated.encord.gateway.v1 import options_pb2
from encord_gateway.operations import catalogue
from encord_gateway.operations.catalog import PUBLIC_PACKAGE, load_catalog
from fake_operations import api_module

CATALOGUE = catalogue.load_catalogue()

# §10 of the wire-protocol reference: "187 numbered rows: U 26, P 27, L 15, W 8, D 21, X 11, S 28, O 9, M 14, K 7,
# J 11, E 10".
REFERENCE_COUNTS = {
    "U": 26,
    "P": 27,
    "L": 15,
    "W": 8,
    "D": 21,
    "X": 11,
    "S": 28,
    "O": 9,
    "M": 14,
    "K": 7,
    "J": 11,
    "E": 10,
}
# Rows a gateway deliberately offers no RPC of its own for: no wire call, or pure cross-references.
UNEXPOSED = {
    "U-23": "no wire call",
    "P-24": "no wire call",
    "P-25": "no wire call",
    "D-13": "no wire call",
    "W-07": "see L-08, L-09, L-10",
    "J-07": "see D-16",
    "J-08": "see D-14, D-15, S-27",
    "J-09": "see P-11",
    "U-08": "not exposed: an Encord bearer token is a credential, which no caller is handed",
}


def test_rows_per_prefix_are_the_counts_of_the_reference() -> None:
    counts = collections.Counter(row.prefix for row in CATALOGUE.values())
    assert dict(counts) == REFERENCE_COUNTS
    assert len(CATALOGUE) == sum(REFERENCE_COUNTS.values()) == 187


def test_the_legacy_variants_are_the_nine_the_reference_lists() -> None:
    suffixed = sorted(row_id for row_id in CATALOGUE if row_id.endswith("L"))
    assert suffixed == ["J-03L", "J-06L", "O-01L", "O-02L", "O-03L", "O-04L", "U-05L", "U-06L", "U-07L"]
    assert all(CATALOGUE[row_id].status == "legacy" for row_id in suffixed)


def test_only_the_deliberately_unexposed_rows_carry_a_note() -> None:
    assert {row.id: row.note for row in CATALOGUE.values() if row.note} == UNEXPOSED


def test_cross_references_point_at_rows_that_exist() -> None:
    for row_id, note in UNEXPOSED.items():
        for target in re.findall(r"[A-Z]-\d\dL?", note):
            assert target in CATALOGUE, f"{row_id} points at {target}"


@pytest.mark.parametrize(
    ("row_id", "status", "access", "name"),
    [
        ("U-01", "current", "W", "Create a project"),
        ("U-03", "deprecated", "R", "List projects (old)"),
        ("P-01", "current", "R", "Fetch project information / ontology / label rows"),
        ("P-10", "current", "R/W/W", "Project groups"),
        ("P-14", "current", "C", "Object interpolation"),
        ("P-24", "legacy", "-", "Websocket URL"),
        ("S-24", "current", "W/R", "Cloud-synced folder sync"),
        ("S-25", "current", "R/W", "Folder config"),
        ("W-08", "current", "R/W", "Task issues"),
        ("D-16", "legacy", "C", "OCR"),
        ("X-01", "legacy", "-", "Video: get URL"),  # §5.7.2: the seed-era uploads, no R/W column
        ("D-20", "current", "W", "Add private data (start)"),  # §5.7.3
        ("M-01", "legacy", "R", "List models"),  # the legacy v1 model table
        ("M-12", "current", "-", "List models"),  # the v2 ML table has no R/W column
        ("K-01", "legacy", "W", "Create project API key"),  # §5.12: removed from the SDK in 0.1.147
        ("O-04L", "legacy", "W", "Save ontology (old)"),
        ("E-10", "current", "-", "Scenes (beta)"),
    ],
)
def test_rows_read_as_the_reference_gives_them(row_id: str, status: str, access: str, name: str) -> None:
    row = CATALOGUE[row_id]
    assert (row.status, row.access, row.name) == (status, access, name)


def test_names_are_operations_not_sdk_method_lists() -> None:
    for row in CATALOGUE.values():
        assert "`" not in row.name and " — " not in row.name, row


def test_the_data_file_keeps_the_reference_order() -> None:
    """Areas come in the reference's order, except §5.7.2's X rows between D-16 and D-20, as in the document."""
    areas = [prefix for prefix, _ in itertools.groupby(row.prefix for row in CATALOGUE.values())]
    assert areas == ["U", "P", "L", "W", "D", "X", "D", "S", "O", "M", "K", "J", "E"]


def test_the_data_file_says_where_it_came_from() -> None:
    from importlib import resources

    text = resources.files(catalogue.__package__).joinpath(catalogue.CATALOGUE_FILE).read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert "encord-wire-protocol.md" in header and "§5" in header


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "id\tstatus\taccess\tname\tnote\nU-01\tcurrent\tW\tCreate\t\nU-01\tcurrent\tW\tAgain\t\n",
            "catalogue.tsv:3: U-01 appears twice",
        ),
        (
            "id\tstatus\taccess\tname\tnote\nU-01\tcurrent\tW\tCreate\n",
            "catalogue.tsv:2: expected 5 tab-separated fields",
        ),
        ("id\tstatus\taccess\tname\tnote\nU-01\tretired\tW\tCreate\t\n", "U-01 has status 'retired'"),
        ("id\tstatus\taccess\tname\tnote\nU-01\tcurrent\tRW\tCreate\t\n", "U-01 has access 'RW'"),
        ("id\tstatus\taccess\tname\tnote\nQ-01\tcurrent\tW\tCreate\t\n", "'Q-01' is not a catalogue ID"),
        ("# only a comment\n", "no header line"),
    ],
)
def test_a_malformed_catalogue_is_an_error_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        catalogue.parse_catalogue(text, "catalogue.tsv")


# ---- the start-up check, on descriptors built here -------------------------------------------------


def test_an_rpc_naming_a_known_row_loads() -> None:
    specs = load_catalog([api_module("KnownRow", ["U-02", "O-01L"])])
    assert list(specs["encord.gateway.v1.KnownRowService.Fetch"].operation.catalogue_ids) == ["U-02", "O-01L"]


def test_an_unknown_catalogue_id_is_refused_naming_the_rpc_and_the_id() -> None:
    with pytest.raises(ValueError) as refused:
        load_catalog([api_module("UnknownRow", ["U-02", "U-99"])])
    message = str(refused.value)
    assert "encord.gateway.v1.UnknownRowService.Fetch" in message and "'U-99'" in message
    assert "'U-02'" not in message


def test_a_near_miss_spelling_of_a_row_is_refused() -> None:
    with pytest.raises(ValueError, match=r"NearMissService\.Fetch names catalogue ID 'u-02'"):
        load_catalog([api_module("NearMiss", ["u-02"])])


def test_a_public_rpc_naming_no_row_is_refused() -> None:
    with pytest.raises(ValueError, match=r"encord\.gateway\.v1\.NoRowService\.Fetch .* names no catalogue_ids"):
        load_catalog([api_module("NoRow", [])])


def test_outside_the_public_api_an_rpc_may_name_no_row_but_not_an_unknown_one() -> None:
    assert "catalogue.test.InternalService.Fetch" in load_catalog([api_module("Internal", [], "catalogue.test")])
    with pytest.raises(ValueError, match=r"catalogue\.test\.InternalBadService\.Fetch names catalogue ID 'Z-01'"):
        load_catalog([api_module("InternalBad", ["Z-01"], "catalogue.test")])


def test_every_problem_is_reported_at_once() -> None:
    fake = [
        types.SimpleNamespace(
            full_name=f"{PUBLIC_PACKAGE}.S.{method}",
            service=f"{PUBLIC_PACKAGE}.S",
            operation=options_pb2.Operation(catalogue_ids=ids),
        )
        for method, ids in (("A", ["P-01"]), ("B", ["P-98"]), ("C", []), ("D", ["P-01", "P-97"]))
    ]
    tiny = {"P-01": catalogue.Row("P-01", "current", "R", "Fetch project", "")}
    with pytest.raises(ValueError) as refused:
        catalogue.check_catalogue_ids(fake, PUBLIC_PACKAGE, tiny)  # type: ignore[arg-type]
    problems = str(refused.value).split("; ")
    assert len(problems) == 3
    assert "S.B names catalogue ID 'P-98'" in problems[0]
    assert "S.C declares" in problems[1]
    assert "S.D names catalogue ID 'P-97'" in problems[2]
