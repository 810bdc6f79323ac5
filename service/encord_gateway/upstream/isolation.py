"""Keeping trouble where it starts: a share of the upstream connections per organisation, a breaker per host.

- **Lanes.** Every organisation may have at most `limit` requests to Encord in flight; its next one waits
  (within the caller's deadline) for one of its own to finish. One team's flood queues behind itself
  and leaves the rest of the connection pool to everyone else.
- **Circuit breakers.** After `failure_threshold` failing attempts in a row on one host (no answer in
  time, a broken connection, a 5xx), calls to it fail at once for `open_seconds`
  instead of each waiting out its deadline; then one probe call is let through (half-open): its success
  closes the circuit, its failure opens it again. A failing Encord region costs its callers a fast
  UNAVAILABLE, and costs nobody else anything.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from ..errors import GatewayError
from . import errors

MAX_TRACKED_ORGANISATIONS = 10_000
"""Idle lanes beyond this many are forgotten (an idle lane is the same as a new one)."""
CONCURRENCY_RETRY_AFTER = 0.1
"""The retry delay suggested to a caller whose organisation's lane stayed full until its deadline."""


class CircuitState(enum.IntEnum):
    """A host's circuit, as exported in the `encord_upstream_circuit_state` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Verdict(enum.Enum):
    """What one attempt says about the host's health."""

    HEALTHY = "healthy"  # it answered (an error the host chose to give counts too: 4xx, a v1 error envelope)
    FAILING = "failing"  # no answer, or a transient 5xx
    UNKNOWN = "unknown"  # nothing learned: the caller went away, or its own deadline was too short to tell


@dataclass(frozen=True)
class BreakerSettings:
    """When a host's circuit opens and for how long."""

    failure_threshold: int = 5
    """Consecutive failing attempts that open the circuit."""
    open_seconds: float = 5.0
    """How long an open circuit refuses calls before letting one probe through."""
    timeout_floor: float = 1.0
    """A timed-out attempt counts as a failure only when it had at least this many seconds: a caller's
    short deadline says nothing about the host."""


def verdict_of(error: GatewayError, attempt_budget: float, settings: BreakerSettings) -> Verdict:
    """The host's health as one failed attempt shows it: no answer or a 5xx is failing; any other answer
    (a 4xx, a 429 rate limit, which is about one caller's volume, a v1 error envelope) is the host working."""
    status = error.metadata.get("http_status", "")
    if status.isdigit():
        return Verdict.FAILING if int(status) >= 500 else Verdict.HEALTHY
    if error.reason == errors.UNREACHABLE:
        return Verdict.FAILING
    if error.reason == "UPSTREAM_TIMEOUT":  # our own clock ran out waiting for the answer
        return Verdict.FAILING if attempt_budget >= settings.timeout_floor else Verdict.UNKNOWN
    return Verdict.HEALTHY


class CircuitBreaker:
    """One host's circuit. Not thread-safe: used from the event loop only."""

    def __init__(
        self,
        host: str,
        settings: BreakerSettings,
        on_change: Callable[[str, CircuitState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self._settings = settings
        self._on_change = on_change
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> CircuitState:
        return self._state

    def admit(self) -> None:
        """Let an attempt through, or raise UNAVAILABLE (UPSTREAM_CIRCUIT_OPEN) at once."""
        if self._state == CircuitState.CLOSED:
            return
        now = self._clock()
        if self._state == CircuitState.OPEN:
            remaining = self._opened_at + self._settings.open_seconds - now
            if remaining > 0:
                raise self._refusal(remaining)
            self._set(CircuitState.HALF_OPEN)
        if self._probing:  # half-open: one probe at a time; the others fail fast until it has answered
            raise self._refusal(self._settings.open_seconds)
        self._probing = True

    def record(self, verdict: Verdict) -> None:
        """The outcome of an attempt that `admit` let through."""
        probe, self._probing = self._probing, False
        if verdict == Verdict.UNKNOWN:
            return
        if verdict == Verdict.HEALTHY:
            self._failures = 0
            if self._state != CircuitState.CLOSED:
                self._set(CircuitState.CLOSED)
            return
        self._failures += 1
        if probe or self._failures >= self._settings.failure_threshold:
            self._opened_at = self._clock()
            if self._state != CircuitState.OPEN:
                self._set(CircuitState.OPEN)

    def _set(self, state: CircuitState) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(self.host, state)

    def _refusal(self, retry_after: float) -> GatewayError:
        return GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            f"Encord at {self.host} is failing; calls to it are paused for a few seconds (circuit open)",
            reason="UPSTREAM_CIRCUIT_OPEN",
            metadata={"host": self.host},
            retry_after=max(0.0, retry_after),
        )


class _Lane:
    __slots__ = ("in_use", "slots")

    def __init__(self, limit: int) -> None:
        self.slots = asyncio.Semaphore(limit)
        self.in_use = 0


class OrganisationLanes:
    """At most `limit` upstream requests in flight per organisation; more wait for their own lane."""

    def __init__(self, limit: int, on_wait: Callable[[], None] | None = None) -> None:
        if limit < 1:
            raise ValueError("an organisation's upstream concurrency must be at least 1")
        self.limit = limit
        self.on_wait = on_wait
        """Called each time a request finds its lane full and waits (the gateway counts these in metrics)."""
        self._lanes: dict[str, _Lane] = {}

    async def acquire(self, organisation: str, deadline: float) -> None:
        """Take a slot in `organisation`'s lane, waiting until `deadline` (monotonic) at most."""
        lane = self._lanes.get(organisation)
        if lane is None:
            lane = self._lanes[organisation] = _Lane(self.limit)
        lane.in_use += 1  # counted while waiting too, so that a waited-for lane is never forgotten
        if not lane.slots.locked():
            await lane.slots.acquire()  # a free slot: taken at once, without arming a timer
            return
        if self.on_wait is not None:
            self.on_wait()
        try:
            async with asyncio.timeout_at(deadline):
                await lane.slots.acquire()
        except TimeoutError:
            self._done(organisation, lane)
            raise GatewayError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"organisation {organisation!r} has {self.limit} calls to Encord in flight already; "
                "none finished before the deadline",
                reason="UPSTREAM_CONCURRENCY_LIMITED",
                metadata={"limit": str(self.limit)},
                retry_after=CONCURRENCY_RETRY_AFTER,
            ) from None
        except BaseException:
            self._done(organisation, lane)
            raise

    def release(self, organisation: str) -> None:
        lane = self._lanes[organisation]
        lane.slots.release()
        self._done(organisation, lane)

    def _done(self, organisation: str, lane: _Lane) -> None:
        lane.in_use -= 1
        if lane.in_use == 0 and len(self._lanes) > MAX_TRACKED_ORGANISATIONS:
            del self._lanes[organisation]

    def in_flight(self, organisation: str) -> int:
        """Requests of `organisation` in flight or waiting for its lane (for tests and diagnostics)."""
        lane = self._lanes.get(organisation)
        return 0 if lane is None else lane.in_use
