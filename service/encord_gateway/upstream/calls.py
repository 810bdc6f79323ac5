"""A prepared Encord wire call: what to send, before credentials and transport are applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WireCall:
    """One HTTP request to Encord, fully determined by an RPC and its request message."""

    api: str  # "v1" or "v2"
    http_method: str  # always POST for v1
    path: str  # "/public", "/public/user" or "/v2/public/..."
    query: str  # already encoded, without "?"
    body: bytes | None
    resource_type: str  # v1 ResourceType header ("" for user-level calls)
    resource_id: str  # v1 ResourceID header ("" for user-level calls)
    query_type: str  # v1 query_type, or the v2 path template ("projects/{project_hash}")
    query_method: str  # v1 query_method, or the v2 HTTP verb
    retryable: bool  # safe to repeat: reads only

    @property
    def label(self) -> str:
        """Names the call in metrics and errors without any identifier in it."""
        return f"{self.query_type} {self.query_method}"

    @property
    def target(self) -> str:
        """The origin-form request target that the v2 signature covers."""
        return f"{self.path}?{self.query}" if self.query else self.path


def empty_result(value: Any) -> bool:
    """The SDK's reading of a v1 single-object result: any falsy value means "not found"."""
    return value is None or value is False or value in ({}, [], "", 0)
