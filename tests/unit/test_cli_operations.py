"""`encord-gateway operations`: what a person sees from a shell, checked against the descriptors and the data file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from importlib import resources
from pathlib import Path

import pytest
from encord_gateway import cli
from encord_gateway.operations import catalog, overview
from encord_gateway.operations.catalog import PUBLIC_PACKAGE, load_catalog
from fake_operations import api_module

GET_PROJECT = "encord.gateway.v1.ProjectService.GetProject"
PREFIX_ORDER = ["U", "P", "L", "W", "D", "X", "S", "O", "M", "K", "J", "E"]


@cache
def run(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "encord_gateway.cli", "operations", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        timeout=60,
        check=False,
    )


def stdout(*args: str) -> str:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def columns(line: str) -> list[str]:
    return re.split(r" {2,}", line.rstrip("\n"))


# ---- expectations computed here, independently of the overview module --------------------------------


def public_specs() -> dict[str, catalog.OperationSpec]:
    return {
        name: spec
        for name, spec in load_catalog().items()
        if spec.operation is not None and spec.service.rpartition(".")[0] == PUBLIC_PACKAGE
    }


def catalogue_rows() -> list[list[str]]:
    """The data file's rows (id, status, access, name, note), read straight from the package."""
    text = resources.files("encord_gateway.operations").joinpath("catalogue.tsv").read_text(encoding="utf-8")
    lines = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == ["id", "status", "access", "name", "note"]
    return lines[1:]


def expected_totals() -> dict[str, tuple[int, int]]:
    covered = {row_id for spec in public_specs().values() for row_id in spec.operation.catalogue_ids}  # type: ignore[union-attr]
    rows = catalogue_rows()
    totals = {}
    for prefix in PREFIX_ORDER:
        ids = [row[0] for row in rows if row[0].split("-")[0] == prefix]
        totals[prefix] = (len([i for i in ids if i in covered]), len(ids))
    totals["all"] = (len([row for row in rows if row[0] in covered]), len(rows))
    return totals


# ---- the operation table -------------------------------------------------------------------------------


def test_one_sorted_line_per_public_rpc() -> None:
    lines = stdout().splitlines()
    names = [columns(line)[0] for line in lines]
    assert names == sorted(public_specs())
    assert all(len(columns(line)) == 6 for line in lines)


def test_get_project_line_shows_its_row_wire_call_access_cache_and_route() -> None:
    line = next(line for line in stdout().splitlines() if line.startswith(GET_PROJECT + " "))
    assert columns(line) == [
        GET_PROJECT,
        "P-01",
        "record: v1 project GET /public; dto: v2 GET projects/{project_hash}",
        "read",
        "60s",
        "GET /v1/projects/{project_hash}",
    ]


def test_create_project_goes_to_the_user_endpoint_and_is_not_cached() -> None:
    line = next(line for line in stdout().splitlines() if ".ProjectService.CreateProject " in line)
    assert columns(line)[1:] == ["U-01", "v1 project POST /public/user", "write", "-", "POST /v1/projects"]


def test_json_lists_the_same_operations() -> None:
    document = json.loads(stdout("--format", "json"))
    assert [entry["rpc"] for entry in document] == sorted(public_specs())
    by_name = {entry["rpc"]: entry for entry in document}
    assert by_name[GET_PROJECT] == {
        "rpc": GET_PROJECT,
        "catalogue_ids": ["P-01"],
        "wire_calls": ["record: v1 project GET /public", "dto: v2 GET projects/{project_hash}"],
        "access": "read",
        "cache_ttl_seconds": 60,
        "http_rule": "GET /v1/projects/{project_hash}",
    }
    get_ontology = by_name["encord.gateway.v1.OntologyService.GetOntology"]
    assert get_ontology["catalogue_ids"] == ["O-01", "P-03"]
    assert get_ontology["wire_calls"] == ["v2 GET ontologies/{ontology_hash}"]
    for name, spec in public_specs().items():
        assert by_name[name]["catalogue_ids"] == list(spec.operation.catalogue_ids)  # type: ignore[union-attr]
        assert by_name[name]["cache_ttl_seconds"] == spec.cache_ttl


# ---- coverage -----------------------------------------------------------------------------------------


def test_coverage_lists_every_row_once_in_catalogue_order() -> None:
    lines = stdout("--coverage").splitlines()
    table = [line for line in lines if re.match(r"[A-Z]-\d\d", line)]
    assert [columns(line)[0] for line in table] == [row[0] for row in catalogue_rows()]
    by_id = {columns(line)[0]: columns(line) for line in table}
    assert by_id["P-01"] == ["P-01", "current", "Fetch project information / ontology / label rows", GET_PROJECT]
    # A row carried out by several RPCs lists them all.
    assert by_id["K-07"][-1] == (
        "encord.gateway.v1.DatasetService.DescribeDatasetApiKey, encord.gateway.v1.ProjectService.DescribeProjectApiKey"
    )
    assert by_id["P-03"][-1] == "encord.gateway.v1.OntologyService.GetOntology"
    assert by_id["U-23"][-1] == "no wire call"
    assert by_id["W-07"][-1] == "see L-08, L-09, L-10"
    assert by_id["P-26"][-1] == (
        "encord.gateway.v1.LabelExportService.ExportCocoLabels, encord.gateway.v1.LabelExportService.StreamCocoLabels"
    )
    assert by_id["U-08"][-1].startswith("not exposed: ")
    # Every row is carried out, cross-referenced or explained; none is silently missing.
    assert [row_id for row_id, line in by_id.items() if line[-1] == "-"] == []


def test_coverage_names_every_rpc_that_covers_a_row() -> None:
    by_id = {columns(line)[0]: columns(line)[-1] for line in stdout("--coverage").splitlines() if line[:1].isupper()}
    for name, spec in public_specs().items():
        for row_id in spec.operation.catalogue_ids:  # type: ignore[union-attr]
            assert name in by_id[row_id].split(", ")


def test_coverage_totals_are_the_counts_of_the_catalog() -> None:
    totals_line = stdout("--coverage").splitlines()[-1]
    assert totals_line.startswith("covered: ")
    shown = {
        prefix: (int(covered), int(rows)) for prefix, covered, rows in re.findall(r"(\w+) (\d+)/(\d+)", totals_line)
    }
    assert list(shown) == [*PREFIX_ORDER, "all"]
    assert shown == expected_totals()


def test_coverage_as_json() -> None:
    document = json.loads(stdout("--coverage", "--format", "json"))
    assert [row["id"] for row in document["rows"]] == [row[0] for row in catalogue_rows()]
    p01 = next(row for row in document["rows"] if row["id"] == "P-01")
    assert p01 == {
        "id": "P-01",
        "status": "current",
        "access": "R",
        "name": "Fetch project information / ontology / label rows",
        "note": None,
        "rpcs": [GET_PROJECT],
    }
    expected = expected_totals()
    assert [t["prefix"] for t in document["totals"]] == PREFIX_ORDER
    assert {t["prefix"]: (t["covered"], t["rows"]) for t in document["totals"]} == {
        p: expected[p] for p in PREFIX_ORDER
    }
    assert (document["overall"]["covered"], document["overall"]["rows"]) == expected["all"]


# ---- markdown, and bad input -------------------------------------------------------------------------------


def test_markdown_is_the_readmes_generated_section() -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert stdout("--format", "markdown") == overview.readme_section(readme.read_text(encoding="utf-8"))


def test_an_unknown_format_is_a_usage_error_not_a_traceback() -> None:
    result = run("--format", "xml")
    assert result.returncode == 2
    assert "invalid choice: 'xml'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_proto_naming_an_unknown_row_makes_the_command_fail_with_the_rpc_and_the_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    modules = [*catalog.api_modules(), api_module("CliUnknownRow", ["P-01", "P-99"])]
    monkeypatch.setattr(catalog, "load_catalog", lambda: load_catalog(modules))
    assert cli.main(["operations"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "encord.gateway.v1.CliUnknownRowService.Fetch names catalogue ID 'P-99'" in captured.err
