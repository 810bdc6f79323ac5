"""The record of API calls the sandbox received, so tests can prove what a gateway did (or did not) send."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

# Enough for any test run; the bound keeps a long-lived sandbox from growing without limit.
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class LoggedCall:
    """One v1/v2 call. Deliberately no headers, bodies or signatures: the log must be safe to print."""

    api: str
    method: str
    path: str
    query_type: str | None
    query_method: str | None
    resource_id: str | None
    resource_type: str | None
    user: str | None
    status: int
    outcome: str


class RequestLog:
    def __init__(self) -> None:
        self._entries: deque[LoggedCall] = deque(maxlen=MAX_ENTRIES)

    def record(self, entry: LoggedCall) -> None:
        self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self._entries]

    def clear(self) -> None:
        self._entries.clear()
