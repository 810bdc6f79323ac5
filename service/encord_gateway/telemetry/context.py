"""The call being served, as the layers below the pipeline see it: its request id and what they did for it.

The pipeline sets it for the duration of a call (a context variable, so concurrent calls never mix);
the upstream client counts its attempts here, log lines and audit events read the request id from it.
A coalesced cache fetch runs in a task that inherits the context of the call that started it, so its
attempts count for that call, and for none of the calls that merely waited for its answer.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(slots=True)
class CallRecord:
    """What is known about the current call below the pipeline."""

    request_id: str = ""
    upstream_attempts: int = 0
    """HTTP requests sent to Encord for this call (retries included)."""


_CURRENT: ContextVar[CallRecord | None] = ContextVar("encord_gateway_call", default=None)


def current() -> CallRecord | None:
    """The record of the call this code runs for, or None outside any call."""
    return _CURRENT.get()


def enter(record: CallRecord) -> Token[CallRecord | None]:
    return _CURRENT.set(record)


def leave(token: Token[CallRecord | None]) -> None:
    _CURRENT.reset(token)
