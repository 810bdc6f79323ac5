"""Encord's operation catalogue (the rows U-01 ... E-10), read from package data, and the start-up check against it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import OperationSpec

CATALOGUE_FILE = "catalogue.tsv"
COLUMNS = ("id", "status", "access", "name", "note")
# The catalogue's areas in the order the protocol reference presents them (and its totals count them).
PREFIXES = ("U", "P", "L", "W", "D", "X", "S", "O", "M", "K", "J", "E")
STATUSES = frozenset({"current", "deprecated", "legacy"})
ACCESS_VALUES = frozenset({"R", "W", "C", "R/W", "W/R", "R/W/W", "-"})
ROW_ID = re.compile(r"(?P<prefix>[A-Z])-\d\dL?")


@dataclass(frozen=True)
class Row:
    """One row of the catalogue: an operation Encord offers, whether or not the gateway exposes it."""

    id: str
    status: str
    access: str
    name: str
    note: str  # why no RPC of its own is expected ("no wire call", "see L-08, ..."); empty for most rows

    @property
    def prefix(self) -> str:
        return self.id.partition("-")[0]


def parse_catalogue(text: str, source: str = CATALOGUE_FILE) -> dict[str, Row]:
    """The rows of a catalogue file, keyed by ID, in file order; a malformed line is an error naming it."""
    rows: dict[str, Row] = {}
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        where = f"{source}:{number}"
        if len(fields) != len(COLUMNS):
            raise ValueError(f"{where}: expected {len(COLUMNS)} tab-separated fields, found {len(fields)}")
        if not header_seen:
            if tuple(fields) != COLUMNS:
                raise ValueError(f"{where}: expected the header {' '.join(COLUMNS)}")
            header_seen = True
            continue
        row = Row(*fields)
        match = ROW_ID.fullmatch(row.id)
        if match is None or match["prefix"] not in PREFIXES:
            raise ValueError(f"{where}: {row.id!r} is not a catalogue ID")
        if row.id in rows:
            raise ValueError(f"{where}: {row.id} appears twice")
        if row.status not in STATUSES:
            raise ValueError(f"{where}: {row.id} has status {row.status!r}, not one of {', '.join(sorted(STATUSES))}")
        if row.access not in ACCESS_VALUES:
            raise ValueError(f"{where}: {row.id} has access {row.access!r}")
        if not row.name:
            raise ValueError(f"{where}: {row.id} has no name")
        rows[row.id] = row
    if not header_seen:
        raise ValueError(f"{source}: no header line")
    return rows


@cache
def load_catalogue() -> Mapping[str, Row]:
    """The catalogue shipped in this package (read once; read-only)."""
    text = resources.files(__package__).joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")
    return MappingProxyType(parse_catalogue(text))


def check_catalogue_ids(
    specs: Iterable[OperationSpec], public_package: str, catalogue: Mapping[str, Row] | None = None
) -> None:
    """Every ID an RPC names must be a catalogue row, and every upstream RPC of the public API must name one.

    A typo in `catalogue_ids` would otherwise show as a row nobody covers; an RPC naming none would be
    invisible to `encord-gateway operations --coverage`.
    """
    rows = catalogue if catalogue is not None else load_catalogue()
    problems: list[str] = []
    for spec in specs:
        if spec.operation is None:
            continue
        ids = list(spec.operation.catalogue_ids)
        if not ids and spec.service.rpartition(".")[0] == public_package:
            problems.append(
                f"{spec.full_name} declares an ({public_package}.operation) option that names no catalogue_ids"
            )
        for row_id in ids:
            if row_id not in rows:
                problems.append(
                    f"{spec.full_name} names catalogue ID {row_id!r}, which is not a row of {CATALOGUE_FILE}"
                )
    if problems:
        raise ValueError("; ".join(problems))
