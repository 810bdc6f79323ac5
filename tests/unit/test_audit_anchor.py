"""The audit chain's anchor: a log cut short at its end, or emptied, no longer verifies as intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from encord_gateway.vault.audit import AuditLog, check_chain, head_path, verify


def write(path: Path, count: int) -> None:
    with AuditLog(path) as log:
        for n in range(count):
            log.append({"type": "admin", "operation": f"op-{n}", "caller": f"ops-{n}", "outcome": "OK"})


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "audit.log"
    write(path, 6)
    return path


def test_an_intact_log_verifies(log_path: Path) -> None:
    assert check_chain(log_path).ok
    assert json.loads(head_path(log_path).read_text())["seq"] == 6


@pytest.mark.parametrize("kept", [5, 3, 1])
def test_removing_lines_from_the_end_is_detected(log_path: Path, kept: int) -> None:
    lines = log_path.read_bytes().splitlines(keepends=True)
    log_path.write_bytes(b"".join(lines[:kept]))
    result = check_chain(log_path)
    assert (result.ok, result.line) == (False, kept + 1)
    assert f"ends at entry {kept} but its head records entry 6" in result.problem


def test_an_emptied_log_is_detected(log_path: Path) -> None:
    log_path.write_bytes(b"")
    assert verify(log_path) == (False, 1)


def test_a_removed_head_is_detected(log_path: Path) -> None:
    head_path(log_path).unlink()
    result = check_chain(log_path)
    assert not result.ok and "head" in result.problem and "missing" in result.problem


def test_an_edited_head_is_detected(log_path: Path) -> None:
    head = json.loads(head_path(log_path).read_text())
    head["seq"] = 2  # pretend the log ended earlier, to hide what was cut off after entry 2
    head_path(log_path).write_text(json.dumps(head))
    result = check_chain(log_path)
    assert not result.ok and "valid MAC" in result.problem


def test_a_log_replaced_by_another_chain_of_the_same_length_is_detected(log_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / "audit.log"
    other.parent.mkdir()
    (other.parent / "audit.log.salt").write_bytes((log_path.parent / "audit.log.salt").read_bytes())
    (other.parent / "audit.log.salt").chmod(0o600)
    write(other, 6)  # same salt, same length, different entries (their times differ)
    log_path.write_bytes(other.read_bytes())
    result = check_chain(log_path)
    assert not result.ok and "entry 6 is not the one its head records" in result.problem


def test_appending_after_a_cut_keeps_the_cut_detectable(log_path: Path) -> None:
    lines = log_path.read_bytes().splitlines(keepends=True)
    log_path.write_bytes(b"".join(lines[:2]))
    write(log_path, 3)  # the gateway goes on writing: it must not re-anchor the shortened chain
    result = check_chain(log_path)
    assert (result.ok, result.line) == (False, 3)
    assert json.loads(head_path(log_path).read_text())["seq"] == 9


def test_a_log_written_before_heads_existed_is_anchored_where_it_ends_when_opened(log_path: Path) -> None:
    head_path(log_path).unlink()
    with AuditLog(log_path):
        pass
    assert check_chain(log_path).ok
    log_path.write_bytes(b"".join(log_path.read_bytes().splitlines(keepends=True)[:4]))
    assert verify(log_path) == (False, 5)
