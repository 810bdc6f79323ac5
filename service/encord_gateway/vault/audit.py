"""The audit log: hash-chained JSON lines with identifiers HMAC'd, anchored by a MACed head, bounded waits."""

from __future__ import annotations

import asyncio
import collections
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
from typing import Any, Protocol

from encord_gateway.vault.errors import AuditError, InvalidArgumentError, VaultError
from encord_gateway.vault.files import check_private_file, ensure_private_directory, write_private_file_once

ENV_AUDIT_FILE = "ENCORD_GATEWAY_AUDIT_FILE"
ENV_AUDIT_FAILURE_MODE = "ENCORD_GATEWAY_AUDIT_FAILURE_MODE"
ENV_AUDIT_TIMEOUT = "ENCORD_GATEWAY_AUDIT_TIMEOUT"
ENV_AUDIT_BACKEND = "ENCORD_GATEWAY_AUDIT_BACKEND"
ENV_AUDIT_KEY = "ENCORD_GATEWAY_AUDIT_KEY"
ENV_POSTGRES_DSN = "ENCORD_GATEWAY_POSTGRES_DSN"

AUDIT_BACKENDS = ("file", "postgres")

AUDIT_SUBDIR = "audit"
AUDIT_FILE = "audit.log"

FAILURE_BLOCK = "block"
"""A write that does not complete in time fails the audited call (`AuditError`)."""
FAILURE_CONTINUE = "continue"
"""A write that does not complete in time is counted (`failures`) and the call goes on."""

GENESIS = "0" * 64
"""The `prev` of the first entry: a log whose first line was removed no longer starts from it."""

CLEAR_FIELDS = frozenset(
    {
        "type",
        "phase",
        "operation",
        "method",
        "outcome",
        "code",
        "reason",
        "kind",
        "scope",
        "resource_type",
        "state",
        "request_id",
    }
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

    backend: str = "file"
    """"file" (this JSON-lines log, one per data directory) or "postgres" (one chain shared by every
    replica, vault/audit_postgres.py). Env: ENCORD_GATEWAY_AUDIT_BACKEND."""

    postgres_dsn: str = field(default="", repr=False)
    """The database of the "postgres" backend. Env: ENCORD_GATEWAY_POSTGRES_DSN."""

    key: str = field(default="", repr=False)
    """Base64 key of the "postgres" backend's identifier hashes and chain, kept outside the database.
    Env: ENCORD_GATEWAY_AUDIT_KEY."""

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
        dsn, key = env.get(ENV_POSTGRES_DSN, ""), env.get(ENV_AUDIT_KEY, "")
        backend = env.get(ENV_AUDIT_BACKEND) or ("postgres" if dsn and key else "file")
        if backend not in AUDIT_BACKENDS:
            raise VaultError(f"{ENV_AUDIT_BACKEND} must be one of {', '.join(AUDIT_BACKENDS)}, not {backend!r}")
        if backend == "postgres" and not (dsn and key):
            raise VaultError(f"the postgres audit backend needs {ENV_POSTGRES_DSN} and {ENV_AUDIT_KEY}")
        return cls(Path(path), mode, timeout, backend, dsn, key)


def salt_path(path: Path) -> Path:
    """The per-installation salt that keys identifier hashes and the chain: `<audit file>.salt`."""
    return path.with_name(path.name + ".salt")


def head_path(path: Path) -> Path:
    """The chain's anchor: `<audit file>.head`, the last entry's seq and hash, MACed with the chain key.

    A hash chain alone cannot tell a log whose last lines were cut off (or that was emptied) from a
    shorter one; the head remembers how far the chain went. It is rewritten (atomically, after the
    lines are durable) by every append, so it is never ahead of the log; after a crash it may be behind.
    """
    return path.with_name(path.name + ".head")


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


def hash_fields(salt: bytes, value: Any, key: str = "") -> Any:
    """An event as it is logged: every string outside CLEAR_FIELDS (and anything not JSON) HMAC'd."""
    if isinstance(value, Mapping):
        return {str(k): hash_fields(salt, v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [hash_fields(salt, v, key) for v in value]
    if isinstance(value, str) and key not in CLEAR_FIELDS:
        return hash_identifier(salt, value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return hash_identifier(salt, str(value))


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _chain_hash(chain_key: bytes, entry: Mapping[str, Any]) -> str:
    # Keyed, not a bare SHA-256: without the salt nobody can recompute the chain after an edit.
    return hmac.new(chain_key, _canonical(entry), hashlib.sha256).hexdigest()


def _head_mac(head_key: bytes, seq: int, digest: str) -> str:
    return hmac.new(head_key, f"{seq}:{digest}".encode(), hashlib.sha256).hexdigest()


def _write_head(path: Path, head_key: bytes, seq: int, digest: str) -> None:
    """Replace the head atomically (temporary file, fsync, rename): a crash leaves the old or the new one."""
    location = head_path(path)
    data = json.dumps({"seq": seq, "hash": digest, "mac": _head_mac(head_key, seq, digest)}).encode() + b"\n"
    tmp = location.with_name(f".{location.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, location)  # no directory fsync: losing the rename leaves an older head, which is fine


class AuditTrail(Protocol):
    """What the gateway needs of an audit trail, wherever it is kept (this file log, or PostgreSQL)."""

    async def append_async(self, event: Mapping[str, Any]) -> None: ...
    async def recent(self, limit: int) -> list[AuditLine]: ...
    async def verify(self) -> ChainCheck: ...


class HeadError(Exception):
    """The head is missing or does not carry a valid MAC."""


def _read_head(path: Path, head_key: bytes) -> tuple[int, str]:
    location = head_path(path)
    try:
        head = json.loads(location.read_bytes())
        seq, digest, mac = int(head["seq"]), str(head["hash"]), str(head["mac"])
    except FileNotFoundError:
        raise HeadError(f"its head {location} is missing (the log may have been replaced)") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise HeadError(f"its head {location} is unreadable") from None
    if not hmac.compare_digest(mac, _head_mac(head_key, seq, digest)):
        raise HeadError(f"its head {location} does not carry a valid MAC (edited or from another log)")
    return seq, digest


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        return True  # it will be created as a regular file


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
        self._head_key = _subkey(salt, b"head")
        # Only a regular file is anchored: a FIFO or device sink has no tail to cut.
        self._anchored = _is_regular(self.path)
        if self._anchored and not head_path(self.path).exists():
            self._anchor_existing_log()
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

    def _anchor_existing_log(self) -> None:
        """A new log, or one written before heads existed: anchor it where it ends now (under the lock)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            with _exclusive(fd):
                if not head_path(self.path).exists():
                    seq, prev, _ = _tail_state(self.path)
                    if seq:
                        logger.warning("audit log %s had no head; anchoring it at entry %d", self.path, seq)
                    _write_head(self.path, self._head_key, seq, prev)
        finally:
            os.close(fd)

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

    def _hash_fields(self, value: Any) -> Any:
        return hash_fields(self._identifier_salt, value)

    async def recent(self, limit: int) -> list[AuditLine]:
        """The last `limit` lines, oldest first (`read_recent`, off the event loop)."""
        return await asyncio.to_thread(read_recent, self.path, limit)

    async def verify(self) -> ChainCheck:
        """`check_chain` of this log, off the event loop."""
        return await asyncio.to_thread(check_chain, self.path, self._identifier_salt)

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
            if self._anchored:
                with contextlib.suppress(HeadError):
                    head_seq, head_hash = _read_head(self.path, self._head_key)
                    if head_seq > self._seq:
                        # Lines were cut from the end: go on from the anchor, so the gap stays detectable
                        # and the new lines do not re-anchor a shortened chain.
                        self._seq, self._prev = head_seq, head_hash

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
        if self._anchored:
            _write_head(self.path, self._head_key, seq, prev)
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


@dataclass(frozen=True)
class ChainCheck:
    """What `check_chain` found: intact, or the first bad line (None when no line is to blame) and why."""

    ok: bool
    line: int | None = None
    problem: str = ""


def check_chain(path: Path, salt: bytes | None = None) -> ChainCheck:
    """Check an audit log: every line chains onto the one before, and the chain reaches its MACed head.

    Detects an edited, removed, inserted or reordered line, a torn last line, and (through the head)
    lines removed from the end or an emptied log.
    """
    key = load_salt(Path(path)) if salt is None else salt
    chain_key = _subkey(key, b"chain")
    prev, seq, count = GENESIS, 0, 0
    seen: dict[int, str] = {}
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            count = number
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
                return ChainCheck(False, number, "edited, removed, reordered or torn entry")
            prev, seq = str(claimed), seq + 1
            seen[seq] = prev
    try:
        head_seq, head_hash = _read_head(Path(path), _subkey(key, b"head"))
    except HeadError as exc:
        return ChainCheck(False, None, str(exc))
    if head_seq > seq:
        return ChainCheck(
            False,
            count + 1,
            f"the log ends at entry {seq} but its head records entry {head_seq}: lines were removed from its end",
        )
    if head_seq and seen.get(head_seq) != head_hash:
        return ChainCheck(False, None, f"entry {head_seq} is not the one its head records (the log was replaced)")
    return ChainCheck(True)


def verify(path: Path, salt: bytes | None = None) -> tuple[bool, int | None]:
    """`check_chain` as (intact, first bad line or None)."""
    result = check_chain(path, salt)
    return result.ok, result.line


# ---- reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditLine:
    """One line of the log as read back: its entry, or what is wrong with it (`damage`)."""

    number: int
    entry: dict[str, Any] | None
    damage: str = ""


def _parse_line(number: int, raw: bytes) -> AuditLine:
    if not raw.endswith(b"\n"):
        return AuditLine(number, None, "torn: the line has no end (an interrupted write)")
    if b"\x00" in raw:
        return AuditLine(number, None, "contains NUL bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return AuditLine(number, None, "not valid UTF-8")
    try:
        entry = json.loads(text)
    except ValueError:
        return AuditLine(number, None, "not valid JSON")
    if not isinstance(entry, dict):
        return AuditLine(number, None, f"not an audit entry (a JSON {type(entry).__name__}, not an object)")
    seq, event = entry.get("seq"), entry.get("event")
    if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(event, dict):
        return AuditLine(number, None, "not an audit entry (no integer seq or no event object)")
    return AuditLine(number, entry)


def read_recent(path: Path, limit: int) -> list[AuditLine]:
    """The last `limit` non-blank lines, oldest first; a damaged line is reported, never fatal."""
    recent: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=limit)
    try:
        with Path(path).open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    recent.append((number, raw))
    except FileNotFoundError:
        return []
    return [_parse_line(number, raw) for number, raw in recent]
