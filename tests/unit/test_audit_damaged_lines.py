"""Reading an audit log back: a damaged line is reported where it is, and the lines after it still read."""

from __future__ import annotations

from pathlib import Path

import pytest
from encord_gateway.vault.audit import AuditLog, read_recent

DAMAGE = {
    "garbage": (b"this is not json\n", "not valid JSON"),
    "array": (b"[1, 2, 3]\n", "not an audit entry (a JSON list, not an object)"),
    "number": (b"179\n", "not an audit entry (a JSON int, not an object)"),
    "nul bytes": (b'{"seq": 1,\x00\x00 "event": {}}\n', "contains NUL bytes"),
    "invalid utf-8": (b'{"seq": 1, "event": {"caller": "\xff\xfe"}}\n', "not valid UTF-8"),
    "object without seq": (b'{"event": {}}\n', "not an audit entry (no integer seq or no event object)"),
}


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "audit.log"
    with AuditLog(path) as log:
        for n in range(3):
            log.append({"type": "admin", "operation": f"op-{n}", "outcome": "OK"})
    return path


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_line_is_reported_and_the_lines_around_it_still_read(log_path: Path, kind: str) -> None:
    raw, damage = DAMAGE[kind]
    lines = log_path.read_bytes().splitlines(keepends=True)
    log_path.write_bytes(lines[0] + raw + b"".join(lines[1:]))

    read = read_recent(log_path, 10)

    assert [(line.number, line.damage) for line in read] == [(1, ""), (2, damage), (3, ""), (4, "")]
    assert [line.entry["seq"] for line in read if line.entry is not None] == [1, 2, 3]


def test_a_torn_last_line_is_reported(log_path: Path) -> None:
    with log_path.open("ab") as handle:
        handle.write(b'{"seq": 4, "event": {"type": "adm')
    read = read_recent(log_path, 2)
    assert [(line.number, line.damage) for line in read] == [
        (3, ""),
        (4, "torn: the line has no end (an interrupted write)"),
    ]


def test_only_the_most_recent_lines_are_read_and_their_seq_is_an_integer(log_path: Path) -> None:
    read = read_recent(log_path, 2)
    assert [line.number for line in read] == [2, 3]
    assert all(type(line.entry["seq"]) is int for line in read if line.entry is not None)


def test_a_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert read_recent(tmp_path / "nowhere.log", 10) == []
