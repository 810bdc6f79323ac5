"""The audit log: hash-chained JSON lines with identifiers HMAC'd, written with a bounded wait."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from encord_gateway.vault.errors import AuditError, InvalidArgumentError, VaultError
from encord_gateway.vault.files import check_private_file, ensure_private_directory, write_private_file_once

ENV_AUDIT_FILE = "ENCORD_GATEWAY_AUDIT_FILE"
ENV_AUDIT_FAILURE_MODE = "ENCORD_GATEWAY_AUDIT_FAILURE_MODE"
ENV_AUDIT_TIMEOUT = "ENCORD_GATEWAY_AUDIT_TIMEOUT"

AUDIT_SUBDIR = "audit"
AUDIT_FILE = "audit.log"

FAILURE_BLOCK = "block"
"""A write that does not complete in time fails the audited call (`AuditError`)."""
FAILURE_CONTINUE = "continue"
"""A write that does not complete in time is counted (`failures`) and the call goes on."""

GENESIS = "0" * 64
"""The `prev` of the first entry: a log whose first line was removed no longer starts from it."""

CLEAR_FIELDS = frozenset(
    {"type", "operation", "method", "outcome", "code", "reason", "kind", "scope", "resource_type", "state"}
)
"""Event fields kept readable. Every other string is HMAC'd (like Vault's audit devices): an
identifier can be searched for with `audit hash VALUE`, and anything secret that slipped into an
event (which it must not) would still not be readable."""

_QUEUE_LIMIT = 10_000
_BATCH_LIMIT = 512

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditConfig:
    """Where the audit log goes and what happens when it cannot be written in time."""

    path: Path
    """The JSON-lines file (0600); its salt lives beside it as `<name>.salt`.
    Env: ENCORD_GATEWAY_AUDIT_FILE (default `<data dir>/audit/audit.log`)."""

    failure_mode: str = FAILURE_BLOCK
    """"block" (fail the call) or "continue" (count the failure). Env: ENCORD_GATEWAY_AUDIT_FAILURE_MODE."""

    timeout: float = 2.0
    """Seconds an append may wait for the write, so a stuck sink cannot hang the gateway.
    Env: ENCORD_GATEWAY_AUDIT_TIMEOUT."""

    @classmethod
    def from_env(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> AuditConfig:
        env = os.environ if environ is None else environ
        path = env.get(ENV_AUDIT_FILE) or str(data_dir / AUDIT_SUBDIR / AUDIT_FILE)
        mode = env.get(ENV_AUDIT_FAILURE_MODE) or FAILURE_BLOCK
        raw_timeout = env.get(ENV_AUDIT_TIMEOUT) or "2.0"
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise VaultError(f"{ENV_AUDIT_TIMEOUT} must be a number of seconds, not {raw_timeout!r}") from None
        return cls(Path(path), mode, timeout)


def salt_path(path: Path) -> Path:
    """The per-installation salt that keys identifier hashes and the chain: `<audit file>.salt`."""
    return path.with_name(path.name + ".salt")


def load_salt(path: Path, *, create: bool = False) -> bytes:
    """The salt of the audit log at `path` (created 0600 on first use when `create`)."""
    location = salt_path(path)
    if create:
        ensure_private_directory(location.parent)
        write_private_file_once(location, os.urandom(32))
    if not location.exists():
        raise VaultError(f"audit salt {location} is missing; it is created with the audit log")
    check_private_file(location, "audit salt file")
    salt = location.read_bytes()
    if len(salt) < 16:
        raise VaultError(f"audit salt {location} is too short; restore the original file")
    return salt


def _subkey(salt: bytes, purpose: bytes) -> bytes:
    # One salt, two independent keys: knowing identifier hashes helps nothing against the chain.
    return hmac.new(salt, b"encord-gateway/audit/" + purpose, hashlib.sha256).digest()


def hash_identifier(salt: bytes, value: str) -> str:
    """`hmac-sha256:<hex>` of a value, as it appears in the log (what `audit hash VALUE` prints)."""
    digest = hmac.new(_subkey(salt, b"identifier"), value.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest}"


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _chain_hash(chain_key: bytes, entry: Mapping[str, Any]) -> str:
    # Keyed, not a bare SHA-256: without the salt nobody can recompute the chain after an edit.
    return hmac.new(chain_key, _canonical(entry), hashlib.sha256).hexdigest()


@dataclass
class _Pending:
    event: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: str = ""
    notify: Callable[[], object] | None = None  # called from the writer thread once done (async waiters)

    def finish(self, error: str = "") -> None:
        self.error = error
        self.done.set()
        if self.notify is not None:
            self.notify()


class AuditLog:
    """Appends audit events to a hash-chained JSON-lines file from one writer thread.

    Each line is `{"seq", "time", "event", "prev", "hash"}`; `hash` is an HMAC over the rest and
    `prev` is the previous line's hash, so an edited, removed or reordered line breaks the chain
    (`verify`). Writers queue events and wait at most `timeout` for the writer thread to have
    written and fsynced them (group commit: one fsync covers every queued event).
    """

    def __init__(self, path: Path, *, failure_mode: str = FAILURE_BLOCK, timeout: float = 2.0) -> None:
        if failure_mode not in (FAILURE_BLOCK, FAILURE_CONTINUE):
            raise InvalidArgumentError(f"audit failure mode must be {FAILURE_BLOCK!r} or {FAILURE_CONTINUE!r}")
        if not timeout > 0:
            raise InvalidArgumentError("the audit write timeout must be a positive number of seconds")
        self.path = Path(path)
        ensure_private_directory(self.path.parent)
        if self.path.exists():
            check_private_file(self.path, "audit log")
        salt = load_salt(self.path, create=True)
        self._identifier_salt = salt
        self._chain_key = _subkey(salt, b"chain")
        self.failure_mode = failure_mode
        self.timeout = timeout
        self._failures = 0
        self._failures_lock = threading.Lock()
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=_QUEUE_LIMIT)
        self._closed = False
        self._fd: int | None = None
        self._seq = 0
        self._prev = GENESIS
        self._size = -2  # the log's size after our last write; another size means another writer
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    @classmethod
    def from_config(cls, config: AuditConfig) -> AuditLog:
        return cls(config.path, failure_mode=config.failure_mode, timeout=config.timeout)

    @property
    def failures(self) -> int:
        """Events not confirmed written in time ("continue" mode); a metric for the gateway to export."""
        return self._failures

    def hash_value(self, value: str) -> str:
        return hash_identifier(self._identifier_salt, value)

    def append(self, event: Mapping[str, Any]) -> None:
        """Write one event (identifiers hashed); waits at most `timeout` seconds for it to be durable."""
        if self._closed:
            self._fail("the audit log is closed")
            return
        pending = _Pending(self._hash_fields(event))
        try:
            self._queue.put(pending, timeout=self.timeout)
        except queue.Full:
            self._fail(f"the audit queue is full: {self.path} is not being written")
            return
        if not pending.done.wait(self.timeout):
            self._fail(f"writing to {self.path} did not complete within {self.timeout:g} s")
        elif pending.error:
            self._fail(pending.error)

    async def append_async(self, event: Mapping[str, Any]) -> None:
        """`append` for the event loop: waits for durability without holding a worker thread.

        Concurrent calls share the writer thread's batched fsync, so a busy gateway pays one fsync
        per batch rather than one blocked thread per call.
        """
        if self._closed:
            self._fail("the audit log is closed")
            return
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not written.done():
                written.set_result(None)

        pending = _Pending(self._hash_fields(event), notify=lambda: loop.call_soon_threadsafe(wake))
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            self._fail(f"the audit queue is full: {self.path} is not being written")
            return
        try:
            await asyncio.wait_for(written, self.timeout)
        except TimeoutError:
            self._fail(f"writing to {self.path} did not complete within {self.timeout:g} s")
            return
        if pending.error:
            self._fail(pending.error)

    def close(self, timeout: float | None = None) -> None:
        """Flush what is queued (waiting at most `timeout`, default the append timeout) and stop."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(None, timeout=self.timeout if timeout is None else timeout)
        except queue.Full:
            pass
        self._thread.join(self.timeout if timeout is None else timeout)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog(path={str(self.path)!r}, failure_mode={self.failure_mode!r})"

    # --- internals -------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        if self.failure_mode == FAILURE_BLOCK:
            raise AuditError(f"audit event not recorded: {message}")
        with self._failures_lock:
            self._failures += 1
        logger.warning("audit event not recorded (continuing): %s", message)

    def _hash_fields(self, value: Any, key: str = "") -> Any:
        if isinstance(value, Mapping):
            return {str(k): self._hash_fields(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._hash_fields(v, key) for v in value]
        if isinstance(value, str) and key not in CLEAR_FIELDS:
            return self.hash_value(value)
        if value is None or isinstance(value, bool | int | float | str):
            return value
        return self.hash_value(str(value))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while item is not None and len(batch) < _BATCH_LIMIT:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            pending = [p for p in batch if p is not None]
            if pending:
                self._write(pending)
            if any(p is None for p in batch):
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                return

    def _write(self, batch: list[_Pending]) -> None:
        try:
            fd = self._open()
            with _exclusive(fd):
                self._catch_up(fd)
                self._append(fd, batch)
        except OSError as exc:
            # Re-read the file's tail on the next attempt: a partial write may have happened.
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            for pending in batch:
                pending.finish(f"cannot write {self.path}: {exc.strerror}")
            return
        for pending in batch:
            pending.finish()

    def _catch_up(self, fd: int) -> None:
        """Another process (the CLI beside a running gateway) may have appended: chain onto its last line."""
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size != self._size:
            self._seq, self._prev, torn = _tail_state(self.path)
            if torn:
                os.write(fd, b"\n")

    def _append(self, fd: int, batch: list[_Pending]) -> None:
        lines, seq, prev = [], self._seq, self._prev
        for pending in batch:
            seq += 1
            entry = {"seq": seq, "time": datetime.now(UTC).isoformat(), "event": pending.event, "prev": prev}
            prev = _chain_hash(self._chain_key, entry)
            lines.append(_canonical({**entry, "hash": prev}) + b"\n")
        data = b"".join(lines)
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
        self._seq, self._prev = seq, prev
        info = os.fstat(fd)
        self._size = info.st_size if stat.S_ISREG(info.st_mode) else -1

    def _open(self) -> int:
        if self._fd is not None:
            return self._fd
        # Opening happens here, in the writer thread: a sink that blocks on open (a FIFO nobody
        # reads, a hung network mount) stalls this thread only, and appends time out.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = -2  # unknown: the first write under the lock reads the tail (and ends a torn line)
        self._fd = fd
        return fd


@contextlib.contextmanager
def _exclusive(fd: int) -> Iterator[None]:
    """An advisory lock on the log, so that processes appending to one file keep one chain."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # FIFOs and some network mounts do not lock; a lone writer needs no lock
        yield
        return
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _tail_state(path: Path) -> tuple[int, str, bool]:
    """(seq, hash) of the last complete line, and whether the file ends in a torn line."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return 0, GENESIS, False
        chunk = 64 * 1024
        while True:
            start = max(0, size - chunk)
            handle.seek(start)
            data = handle.read(size - start)
            torn = not data.endswith(b"\n")
            lines = data.split(b"\n")
            complete = lines[:-1]  # the last element is b"" or a torn line
            if start > 0:
                complete = complete[1:]  # may begin mid-line
            for line in reversed(complete):
                if line.strip():
                    try:
                        entry = json.loads(line)
                        return int(entry["seq"]), str(entry["hash"]), torn
                    except (ValueError, KeyError, TypeError):
                        # A damaged last line: continue the chain from it anyway; verify reports it.
                        return 0, GENESIS, torn
            if start == 0:
                return 0, GENESIS, torn
            chunk *= 4


def verify(path: Path, salt: bytes | None = None) -> tuple[bool, int | None]:
    """Check the chain of an audit log: (True, None), or (False, number of the first bad line).

    Detects an edited, removed, inserted or reordered line (and a torn last line). Removing lines
    from the end leaves a valid shorter chain: compare `seq` with what was last seen to catch that.
    """
    chain_key = _subkey(load_salt(Path(path)) if salt is None else salt, b"chain")
    prev, seq = GENESIS, 0
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                entry = json.loads(raw)
                claimed = entry.pop("hash")
                ok = (
                    raw.endswith(b"\n")
                    and entry.get("prev") == prev
                    and entry.get("seq") == seq + 1
                    and hmac.compare_digest(str(claimed), _chain_hash(chain_key, entry))
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                ok = False
            if not ok:
                return False, number
            prev, seq = str(claimed), seq + 1
    return True, None
