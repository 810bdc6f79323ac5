"""Where idempotent writes are remembered: a small store interface, and the in-process store.

The store keys on (caller, request id) and keeps, for each key, the request's fingerprint and, once
the first call succeeded, its answer. A second call under the same key waits while the first is in
flight, then gets its answer (same fingerprint) or a conflict (another fingerprint). A shared store
(Redis) implements the same three methods, so that replicas agree.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Claim:
    """The store's word on a request id: run the call (`first`), answer with `response`, or a `conflict`."""

    first: bool = False
    response: bytes | None = None
    conflict: bool = False


class IdempotencyStore(Protocol):
    async def claim(self, key: str, fingerprint: str, window: float) -> Claim:
        """Claim `key` for a call with `fingerprint`, waiting while another call under it is in flight.

        First claim (or the earlier one expired, after `window` seconds, or failed): `Claim(first=True)`,
        and the caller must `complete` or `abandon` it. Same fingerprint, answered: `Claim(response=...)`.
        Another fingerprint: `Claim(conflict=True)`.
        """

    async def complete(self, key: str, fingerprint: str, response: bytes, window: float) -> None:
        """The claimed call succeeded: remember its answer for `window` seconds."""

    async def abandon(self, key: str, fingerprint: str) -> None:
        """The claimed call failed: forget the claim, so that a retry under the same id runs again."""


@dataclass
class _Entry:
    fingerprint: str
    expires: float
    response: bytes | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)


DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Answers kept at most, in bytes: clients send a request id with every write, so the store must stay
bounded by what it holds, not only by how many ids."""


class MemoryIdempotencyStore:
    """The in-process store: at most `max_entries` answered ids holding at most `max_bytes` of answers
    (least recently claimed go first)."""

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0

    async def claim(self, key: str, fingerprint: str, window: float) -> Claim:
        while True:
            entry = self._entries.get(key)
            now = self._clock()
            if entry is None or (entry.response is not None and entry.expires <= now):
                if entry is not None and entry.response is not None:
                    self._bytes -= len(entry.response)
                self._entries[key] = _Entry(fingerprint, now + window)
                self._entries.move_to_end(key)
                self._evict()
                return Claim(first=True)
            if entry.fingerprint != fingerprint:
                return Claim(conflict=True)
            if entry.response is not None:
                return Claim(response=entry.response)
            await entry.settled.wait()  # the first call is in flight: its outcome decides what this one gets

    async def complete(self, key: str, fingerprint: str, response: bytes, window: float) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry.fingerprint == fingerprint and entry.response is None:
            entry.response, entry.expires = response, self._clock() + window
            self._bytes += len(response)
            entry.settled.set()
            self._evict(spare=key)  # its waiters are about to read it

    async def abandon(self, key: str, fingerprint: str) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry.fingerprint == fingerprint and entry.response is None:
            del self._entries[key]
            entry.settled.set()

    def _evict(self, spare: str | None = None) -> None:
        # Oldest answered entries first; a claim in flight stays (its waiters need it), and so does the answer
        # just given (`spare`), so the bounds can be exceeded by those at most.
        for key in list(self._entries):
            if len(self._entries) <= self._max_entries and self._bytes <= self._max_bytes:
                return
            response = self._entries[key].response
            if response is not None and key != spare:
                del self._entries[key]
                self._bytes -= len(response)

    @property
    def bytes_held(self) -> int:
        """Bytes of answers the store holds."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
