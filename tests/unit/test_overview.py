"""The overview shows the wire calls the engine really makes, and the README's table is the one the code generates."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from encord_gateway.operations import overview
from encord_gateway.operations.catalog import PUBLIC_PACKAGE, load_catalog
from encord_gateway.operations.catalogue import load_catalogue

SPECS = load_catalog()
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    ("rpc", "expected"),
    [
        ("ProjectService.ListProjects", "v2 GET projects"),
        ("ProjectService.CreateProject", "v1 project POST /public/user"),
        ("ProjectService.CreateProjectApiKey", "v1 projectapikey POST /public/user"),
        ("DatasetService.GetDataset", "v1 dataset GET /public"),
        ("DatasetService.ListDatasets", "v2 GET datasets/list"),
        ("OntologyService.GetOntology", "v2 GET ontologies/{ontology_hash}"),
    ],
)
def test_wire_call_of_known_rpcs(rpc: str, expected: str) -> None:
    assert overview.wire_calls(SPECS[f"{PUBLIC_PACKAGE}.{rpc}"]) == (expected,)


def test_wire_calls_of_a_composite_name_their_steps() -> None:
    assert overview.wire_calls(SPECS[f"{PUBLIC_PACKAGE}.ProjectService.GetProject"]) == (
        "record: v1 project GET /public",
        "dto: v2 GET projects/{project_hash}",
    )


def test_the_v1_endpoint_shown_is_the_one_a_real_request_goes_to() -> None:
    """The overview asks the engine with an empty request; a request naming its resource must go to the same place."""
    v1_specs = [s for s in SPECS.values() if s.operation is not None and s.operation.WhichOneof("call") == "v1"]
    assert v1_specs
    for spec in v1_specs:
        request = spec.request_class()
        for field in request.DESCRIPTOR.fields:
            if field.type == field.TYPE_STRING and not field.is_repeated and field.name.endswith("_hash"):
                setattr(request, field.name, str(uuid.uuid4()))
        assert spec.plan is not None
        sent = spec.plan.wire_call(request)
        assert overview.wire_calls(spec)[0].split()[-1] == sent.path, spec.full_name


def test_v2_calls_show_the_declared_method_and_path_template() -> None:
    for spec in SPECS.values():
        if spec.operation is not None and spec.operation.WhichOneof("call") == "v2":
            v2 = spec.operation.v2
            assert overview.wire_calls(spec) == (f"v2 {v2.method} {v2.path}",)


def test_only_the_public_api_is_listed_and_in_order() -> None:
    names = [op.rpc for op in overview.public_operations(SPECS)]
    assert names == sorted(names)
    assert set(names) == {
        name for name, spec in SPECS.items() if spec.operation is not None and name.startswith(f"{PUBLIC_PACKAGE}.")
    }
    assert not any(name.startswith("encord.gateway.admin.") for name in names)


def test_the_readme_table_is_the_one_the_code_generates() -> None:
    expected = overview.generated_section(SPECS, load_catalogue())
    found = overview.readme_section(README.read_text(encoding="utf-8"))
    assert found == expected, (
        f"README.md's operations table differs from what the protos and the catalogue give; "
        f"regenerate it with `{overview.REGENERATE_COMMAND}`"
    )


def test_replacing_the_readme_section_keeps_everything_around_it() -> None:
    readme = f"# Title\n\nbefore\n\n{overview.README_BEGIN}\nold table\n{overview.README_END}\n\nafter\n"
    updated = overview.replace_readme_section(readme, "| new | table |\n")
    assert updated == f"# Title\n\nbefore\n\n{overview.README_BEGIN}\n| new | table |\n{overview.README_END}\n\nafter\n"
    assert overview.readme_section(updated) == "| new | table |\n"


def test_a_readme_without_markers_is_an_error_that_names_them() -> None:
    with pytest.raises(ValueError, match="BEGIN generated operations table"):
        overview.replace_readme_section("# no markers here\n", "table\n")
