"""The record of API calls the sandbox received, so tests can prove what a gateway did (or did not) send."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

# Outcomes besides the error codes. NOT_MODELLED: a table entry kept for what runs before its handler (API-key
# scopes, resource checks) whose handler is a stand-in; NO_ROUTE: a v2 path that no route matches, or a v1
# call (context, query_type, query_method) that no table has (answered METHOD_NOT_ALLOWED_ERROR on the wire).
OK = "ok"
FAULT = "fault"
NOT_MODELLED = "NOT_MODELLED"
NO_ROUTE = "NO_ROUTE"

# Enough for any test run; the bound keeps a long-lived sandbox from growing without limit.
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class LoggedCall:
    """One v1/v2 call. Deliberately no headers, bodies, signatures or API keys: the log must be safe to print."""

    api: str
    method: str
    path: str
    query_type: str | None
    query_method: str | None
    resource_id: str | None
    resource_type: str | None
    user: str | None
    status: int | None
    """The HTTP status answered; None when an injected fault closed the connection without an answer."""
    outcome: str
    """`ok`, the error code, `fault` (an injected fault answered), NOT_MODELLED or NO_ROUTE (see above)."""
    auth: str | None = None
    """How the caller authenticated: `ssh`, `bearer` or `api_key`; None when authentication failed or never ran."""
    key_hash: str | None = None
    """The public id (K-04 `key_hash`) of the API key used, never the key itself."""
    fault: str | None = None
    """The id of the injected fault applied to this call (a delay-only fault lets the call run normally)."""


class RequestLog:
    def __init__(self) -> None:
        self._entries: deque[LoggedCall] = deque(maxlen=MAX_ENTRIES)

    def record(self, entry: LoggedCall) -> None:
        self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self._entries]

    def clear(self) -> None:
        self._entries.clear()
