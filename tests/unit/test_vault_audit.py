"""The audit log: chained lines that expose tampering, hashed identifiers, bounded waits, private files."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from encord_gateway.vault import AuditError, InsecureFileError
from encord_gateway.vault.audit import AuditLog, hash_identifier, load_salt, verify


def event(n: int) -> dict[str, object]:
    return {
        "type": "credential_use",
        "operation": "GetProject",
        "caller": f"service-{n}",
        "credential_id": f"sshkey_{n:04d}",
        "outcome": "ok",
        "attempt": n,
    }


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "audit.log"
    with AuditLog(path) as log:
        for n in range(6):
            log.append(event(n))
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_intact_chain_verifies(log_path: Path) -> None:
    assert verify(log_path) == (True, None)
    assert len(lines(log_path)) == 6


def test_audit_chain_detects_tampering_edit(log_path: Path) -> None:
    content = lines(log_path)
    entry = json.loads(content[2])
    entry["event"]["outcome"] = "denied"
    content[2] = json.dumps(entry).encode() + b"\n"
    log_path.write_bytes(b"".join(content))
    assert verify(log_path) == (False, 3)


def test_audit_chain_detects_tampering_delete(log_path: Path) -> None:
    content = lines(log_path)
    del content[3]
    log_path.write_bytes(b"".join(content))
    assert verify(log_path) == (False, 4)


def test_audit_chain_detects_tampering_delete_first_line(log_path: Path) -> None:
    log_path.write_bytes(b"".join(lines(log_path)[1:]))
    assert verify(log_path) == (False, 1)


def test_audit_chain_detects_tampering_reorder(log_path: Path) -> None:
    content = lines(log_path)
    content[1], content[4] = content[4], content[1]
    log_path.write_bytes(b"".join(content))
    assert verify(log_path) == (False, 2)


def test_audit_chain_detects_tampering_torn_last_line(log_path: Path) -> None:
    log_path.write_bytes(log_path.read_bytes()[:-20])
    assert verify(log_path) == (False, 6)


def test_audit_chain_cannot_be_recomputed_without_the_salt(log_path: Path, tmp_path: Path) -> None:
    # An attacker who edits a line and re-chains with a salt of their own still fails verification.
    forged = tmp_path / "forged" / "audit.log"
    with AuditLog(forged) as log:
        for n in range(6):
            log.append(event(n))
    assert verify(forged, salt=load_salt(log_path)) == (False, 1)


def test_chain_continues_across_reopen(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        log.append(event(99))
    assert verify(log_path) == (True, None)
    assert json.loads(lines(log_path)[-1])["seq"] == 7


def test_identifiers_are_hmacd_and_searchable(log_path: Path) -> None:
    text = log_path.read_text()
    assert "service-1" not in text
    assert "sshkey_0001" not in text
    assert "GetProject" in text  # operation names stay readable
    salt = load_salt(log_path)
    assert hash_identifier(salt, "sshkey_0001") in text
    with AuditLog(log_path) as log:
        assert log.hash_value("sshkey_0001") == hash_identifier(salt, "sshkey_0001")


def test_two_installations_hash_the_same_identifier_differently(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a" / "audit.log") as a, AuditLog(tmp_path / "b" / "audit.log") as b:
        assert a.hash_value("acme") != b.hash_value("acme")


def test_concurrent_appends_keep_one_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with AuditLog(path) as log:
        threads = [threading.Thread(target=lambda n=n: [log.append(event(n)) for _ in range(25)]) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert verify(path) == (True, None)
    assert len(lines(path)) == 200


def stuck_sink(tmp_path: Path) -> Path:
    """A FIFO nobody reads: opening it for writing blocks, like a hung disk or network mount."""
    path = tmp_path / "stuck" / "audit.log"
    path.parent.mkdir(mode=0o700)
    os.mkfifo(path, 0o600)
    return path


def unblock(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    time.sleep(0.2)
    os.close(fd)


def test_stuck_sink_blocks_for_at_most_the_timeout_then_raises(tmp_path: Path) -> None:
    path = stuck_sink(tmp_path)
    log = AuditLog(path, failure_mode="block", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(AuditError, match="did not complete within"):
        log.append(event(1))
    assert time.monotonic() - started < 10.0  # bounded by the timeout, not stuck with the sink
    unblock(path)
    log.close(timeout=1.0)


def test_stuck_sink_in_continue_mode_counts_failures_and_goes_on(tmp_path: Path) -> None:
    path = stuck_sink(tmp_path)
    log = AuditLog(path, failure_mode="continue", timeout=0.2)
    started = time.monotonic()
    log.append(event(1))
    log.append(event(2))
    assert time.monotonic() - started < 10.0  # bounded by the timeout, not stuck with the sink
    assert log.failures == 2
    unblock(path)
    log.close(timeout=1.0)


def test_audit_files_are_private(log_path: Path) -> None:
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_path.with_name("audit.log.salt").stat().st_mode) == 0o600
    assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("name", ["audit.log", "audit.log.salt"])
def test_refuses_a_readable_audit_file_naming_it_and_the_fix(log_path: Path, name: str) -> None:
    path = log_path.with_name(name)
    path.chmod(0o644)
    with pytest.raises(InsecureFileError) as caught:
        AuditLog(log_path)
    assert str(path) in str(caught.value)
    assert f"chmod 600 {path}" in str(caught.value)


def test_bad_failure_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="failure mode"):
        AuditLog(tmp_path / "audit.log", failure_mode="maybe")


def _append_many(path: str, count: int) -> None:
    with AuditLog(Path(path)) as log:
        for index in range(count):
            log.append({"type": "admin", "operation": f"op{index}"})


def test_several_processes_appending_to_one_log_keep_one_intact_chain(tmp_path: Path) -> None:
    """A CLI command beside a running gateway must not fork the chain."""
    import multiprocessing

    directory = tmp_path / "audit"
    directory.mkdir(mode=0o700)
    path = directory / "audit.log"
    writers = [multiprocessing.Process(target=_append_many, args=(str(path), 50)) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
        assert writer.exitcode == 0
    assert verify(path) == (True, None)
    assert len(path.read_text().splitlines()) == 200


async def test_async_appends_from_many_concurrent_calls_are_all_durable_and_chained(tmp_path: Path) -> None:
    import asyncio

    directory = tmp_path / "audit"
    directory.mkdir(mode=0o700)
    path = directory / "audit.log"
    with AuditLog(path) as log:
        await asyncio.gather(*(log.append_async({"type": "credential_use", "operation": f"op{i}"}) for i in range(300)))
        assert len(path.read_text().splitlines()) == 300  # acknowledged means written
    assert verify(path) == (True, None)


async def test_an_async_append_to_a_stuck_sink_fails_within_its_timeout_in_block_mode(tmp_path: Path) -> None:
    path = stuck_sink(tmp_path)
    log = AuditLog(path, failure_mode="block", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(AuditError, match="did not complete within"):
        await log.append_async(event(1))
    assert time.monotonic() - started < 10.0  # bounded by the timeout, not stuck with the sink
    unblock(path)
    log.close(timeout=1.0)
