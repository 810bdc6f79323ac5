"""Log output: readable text (the default, for `make run`) or one JSON object per line, at a chosen level.

Every line written while a call is served carries that call's request id. Lines never carry a secret:
the access log names the caller and organisation, never a token, a key or a request body.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from . import context

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FLUSH_INTERVAL_SECONDS = 1.0
"""Most time a line below WARNING waits in the buffer (Envoy's access log flushes on the same interval):
one write per burst of calls rather than one per call. Warnings and errors are written at once."""
BUFFER_BYTES = 64 * 1024


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the call it was logged for ("" outside a call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            current = context.current()
            record.request_id = current.request_id if current is not None else ""
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, plus `request_id=...` for lines logged inside a call."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", "")
        if request_id and "request_id=" not in text:
            text += f" request_id={request_id}"
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            document["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


class BufferedStreamHandler(logging.StreamHandler):
    """Lines go into a block buffer; it is written out at once for WARNING and above, and within
    FLUSH_INTERVAL_SECONDS otherwise (by one background thread), and at exit (logging.shutdown)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.pending = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.flush()
            else:
                self.pending = True
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.pending = False
        super().flush()


_current: BufferedStreamHandler | None = None
_flusher: threading.Thread | None = None


def _flush_quietly(handler: BufferedStreamHandler) -> None:
    with contextlib.suppress(ValueError, OSError):  # its stream was closed under it (at exit, in a test)
        handler.flush()


def _flush_periodically() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL_SECONDS)
        handler = _current
        if handler is not None and handler.pending:
            _flush_quietly(handler)


def _buffered_stderr() -> TextIO:
    """Standard error with a block buffer of its own (sys.stderr writes every line as it comes)."""
    try:
        raw = io.FileIO(sys.stderr.fileno(), "w", closefd=False)
    except (AttributeError, OSError, ValueError):  # no descriptor behind it (a test's capture): as it is
        return sys.stderr
    return io.TextIOWrapper(io.BufferedWriter(raw, BUFFER_BYTES), encoding="utf-8", errors="backslashreplace")


def configure(log_format: str = "text", level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log line to `stream` (standard error) in `log_format`, from `level` up."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    # What no line prints is not collected: the caller's file and line (a walk up the stack for every record)
    # and the thread and process names. The logging HOWTO's "Optimization" section lists these switches.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    global _current, _flusher
    handler = BufferedStreamHandler(stream or _buffered_stderr())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    if _current is not None:  # ours from an earlier call; handlers someone else installed stay
        root.removeHandler(_current)
        _flush_quietly(_current)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _current = handler
    if _flusher is None:
        _flusher = threading.Thread(target=_flush_periodically, name="log-flush", daemon=True)
        _flusher.start()
