"""Where the gateway stands: its public operations and the catalogue rows they cover, as text, JSON and Markdown.

Everything here is derived from the operation specs (`load_catalog()`, i.e. the proto descriptors) and the
catalogue data file; `encord-gateway operations` and the README's generated section both render through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._generated.encord.gateway.v1 import options_pb2
from .catalog import PUBLIC_PACKAGE, OperationSpec
from .catalogue import PREFIXES, Row

NONE = "-"

README_BEGIN = "<!-- BEGIN generated operations table (make docs); do not edit by hand -->"
README_END = "<!-- END generated operations table -->"
REGENERATE_COMMAND = "make docs"


# ---- the operations --------------------------------------------------------------------------


def wire_calls(spec: OperationSpec) -> tuple[str, ...]:
    """The Encord call(s) one RPC makes, in order: `v1 <query_type> <query_method> <endpoint>` or `v2 <METHOD> <path>`.

    A composite contributes one entry per step (conditional steps included), prefixed with the step's name.
    """
    assert spec.operation is not None and spec.plan is not None
    calls = []
    for step in spec.plan.steps:
        call = step.call
        if call is None:  # a local step: Python between the wire calls, no call of its own
            text = f"local {step.local}"
        elif call.api == "v1":
            # The same decision the engine makes: /public with ResourceID when the call names a resource.
            resource = bool(spec.operation.resource_field) and not call.user_endpoint
            text = f"v1 {call.target} {call.method} {'/public' if resource else '/public/user'}"
        else:
            text = f"v2 {call.method} {call.target}"
        calls.append(f"{step.name}: {text}" if step.name else text)
    return tuple(calls)


def access_name(access: int) -> str:
    """`read`, `write` or `compute`, from the Access enum's value names."""
    return options_pb2.Access.Name(access).removeprefix("ACCESS_").lower()


@dataclass(frozen=True)
class PublicRpc:
    """One RPC of the public API as the overview shows it."""

    rpc: str  # full name, e.g. encord.gateway.v1.ProjectService.GetProject
    catalogue_ids: tuple[str, ...]
    wire_calls: tuple[str, ...]
    access: str  # read, write or compute
    cache_ttl_seconds: int
    http_rule: str | None  # e.g. "GET /v1/projects/{project_hash}"

    @property
    def short_name(self) -> str:
        """`ProjectService/GetProject`: the gRPC path without the package every public RPC shares."""
        service, _, method = self.rpc.rpartition(".")
        return f"{service.rpartition('.')[2]}/{method}"

    def as_json(self) -> dict[str, Any]:
        return {
            "rpc": self.rpc,
            "catalogue_ids": list(self.catalogue_ids),
            "wire_calls": list(self.wire_calls),
            "access": self.access,
            "cache_ttl_seconds": self.cache_ttl_seconds,
            "http_rule": self.http_rule,
        }


def public_operations(specs: Mapping[str, OperationSpec]) -> list[PublicRpc]:
    """Every upstream RPC of the public API, sorted by full name."""
    operations = []
    for name in sorted(specs):
        spec = specs[name]
        if spec.operation is None or spec.service.rpartition(".")[0] != PUBLIC_PACKAGE:
            continue
        operations.append(
            PublicRpc(
                rpc=spec.full_name,
                catalogue_ids=tuple(spec.operation.catalogue_ids),
                wire_calls=wire_calls(spec),
                access=access_name(spec.access),
                cache_ttl_seconds=int(spec.cache_ttl),
                http_rule=f"{spec.http.verb} {spec.http.template}" if spec.http is not None else None,
            )
        )
    return operations


def _cache_text(seconds: int) -> str:
    return f"{seconds}s" if seconds else NONE


def operations_text(operations: Sequence[PublicRpc]) -> str:
    return _columns(
        [
            [
                op.rpc,
                ",".join(op.catalogue_ids),
                "; ".join(op.wire_calls),
                op.access,
                _cache_text(op.cache_ttl_seconds),
                op.http_rule or NONE,
            ]
            for op in operations
        ]
    )


def operations_json(operations: Sequence[PublicRpc]) -> str:
    return json.dumps([op.as_json() for op in operations], indent=2) + "\n"


def operations_markdown(operations: Sequence[PublicRpc], coverage: Coverage) -> str:
    """The README's generated section: the table of operations, then the coverage totals."""
    lines = [
        "| RPC | Catalogue | Encord call | Access | HTTP rule |",
        "| --- | --- | --- | --- | --- |",
    ]
    for op in operations:
        access = f"{op.access}, cached {op.cache_ttl_seconds} s" if op.cache_ttl_seconds else op.access
        cells = [
            f"`{op.short_name}`",
            ", ".join(op.catalogue_ids),
            "<br>".join(f"`{call}`" for call in op.wire_calls),
            access,
            f"`{op.http_rule}`" if op.http_rule else NONE,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Catalogue rows covered: {totals_line(coverage)}."]
    return "\n".join(lines) + "\n"


# ---- coverage of the catalogue -------------------------------------------------------------------


@dataclass(frozen=True)
class CoveredRow:
    row: Row
    rpcs: tuple[str, ...]  # full names of the RPCs that carry it out; empty when none does

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.row.id,
            "status": self.row.status,
            "access": self.row.access,
            "name": self.row.name,
            "note": self.row.note or None,
            "rpcs": list(self.rpcs),
        }


@dataclass(frozen=True)
class Total:
    prefix: str  # a catalogue prefix, or "all"
    covered: int
    rows: int

    def as_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "covered": self.covered, "rows": self.rows}


@dataclass(frozen=True)
class Coverage:
    rows: tuple[CoveredRow, ...]  # in catalogue order
    totals: tuple[Total, ...]  # one per prefix, in PREFIXES order
    overall: Total


def coverage(operations: Sequence[PublicRpc], catalogue: Mapping[str, Row]) -> Coverage:
    rpcs_by_row: dict[str, list[str]] = {}
    for op in operations:
        for row_id in op.catalogue_ids:
            rpcs_by_row.setdefault(row_id, []).append(op.rpc)
    rows = tuple(CoveredRow(row, tuple(rpcs_by_row.get(row.id, ()))) for row in catalogue.values())
    totals = tuple(_total(prefix, [r for r in rows if r.row.prefix == prefix]) for prefix in PREFIXES)
    return Coverage(rows, totals, _total("all", rows))


def _total(label: str, rows: Sequence[CoveredRow]) -> Total:
    return Total(label, sum(1 for r in rows if r.rpcs), len(rows))


def totals_line(result: Coverage) -> str:
    """`U 3/26, P 1/27, ..., all 11/187`: rows covered by an RPC / rows, per prefix and overall."""
    return ", ".join(f"{t.prefix} {t.covered}/{t.rows}" for t in (*result.totals, result.overall))


def _covered_by(row: CoveredRow) -> str:
    if row.rpcs:
        return ", ".join(row.rpcs)
    return row.row.note or NONE


def coverage_text(result: Coverage) -> str:
    table = _columns([[r.row.id, r.row.status, r.row.name, _covered_by(r)] for r in result.rows])
    return f"{table}\ncovered: {totals_line(result)}\n"


def coverage_json(result: Coverage) -> str:
    document = {
        "rows": [r.as_json() for r in result.rows],
        "totals": [t.as_json() for t in result.totals],
        "overall": result.overall.as_json(),
    }
    return json.dumps(document, indent=2) + "\n"


def coverage_markdown(result: Coverage) -> str:
    lines = ["| ID | Status | Operation | Covered by |", "| --- | --- | --- | --- |"]
    for r in result.rows:
        covered = ", ".join(f"`{rpc}`" for rpc in r.rpcs) if r.rpcs else (r.row.note or NONE)
        lines.append(f"| {r.row.id} | {r.row.status} | {r.row.name} | {covered} |")
    lines += ["", f"Catalogue rows covered: {totals_line(result)}."]
    return "\n".join(lines) + "\n"


def _columns(rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart (the last column unpadded), one line per row."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]) + "\n"
        for row in rows
    )


# ---- the README's generated section ---------------------------------------------------------------


def generated_section(specs: Mapping[str, OperationSpec], catalogue: Mapping[str, Row]) -> str:
    """What `make docs` puts between the README's markers (and `encord-gateway operations --format markdown` prints)."""
    operations = public_operations(specs)
    return operations_markdown(operations, coverage(operations, catalogue))


def readme_section(readme: str) -> str:
    """The text between the README's markers; an error naming the markers when they are missing."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(f"README has no {README_BEGIN!r} ... {README_END!r} section")
    return readme[begin + len(README_BEGIN) : end].strip("\n") + "\n"


def replace_readme_section(readme: str, section: str) -> str:
    readme_section(readme)  # the markers must be there
    head, _, rest = readme.partition(README_BEGIN)
    _, _, tail = rest.partition(README_END)
    body = section.strip("\n")
    return f"{head}{README_BEGIN}\n{body}\n{README_END}{tail}"
