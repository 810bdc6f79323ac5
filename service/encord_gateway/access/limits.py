"""Per-caller admission: a token bucket for request rate and a cap on concurrent requests."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol

from encord_gateway.access.policy import Limits

LimitKind = Literal["rate", "concurrency"]


@dataclass(frozen=True)
class LimitDefaults:
    """What a caller gets where its policy sets no limit."""

    requests_per_second: float = 200.0
    """Sustained requests per second per caller."""

    burst: int = 400
    """Requests a caller may make at once after being idle. A policy that sets requests_per_second
    but not burst gets `burst_seconds` worth of its own rate instead, so a slow caller is not
    handed this large default burst."""

    burst_seconds: float = 2.0
    """Burst, in seconds of rate, for policies that set a rate but no burst."""

    max_concurrent: int = 64
    """Requests of one caller in flight at the same time."""

    concurrency_retry_after: float = 0.1
    """The retry delay suggested when the concurrency cap is hit; no one knows when a slot frees up."""

    sweep_interval: float = 1.0
    """How often (seconds) idle buckets are looked for and forgotten."""


@dataclass(frozen=True)
class EffectiveLimits:
    """A caller's limits after defaults are applied."""

    requests_per_second: float
    burst: int
    max_concurrent: int


def effective_limits(limits: Limits, defaults: LimitDefaults) -> EffectiveLimits:
    """Fill what a policy leaves unset from the gateway's defaults."""
    rate = limits.requests_per_second if limits.requests_per_second is not None else defaults.requests_per_second
    if limits.burst is not None:
        burst = limits.burst
    elif limits.requests_per_second is not None:
        burst = max(1, math.ceil(rate * defaults.burst_seconds))
    else:
        burst = defaults.burst
    concurrent = limits.max_concurrent if limits.max_concurrent is not None else defaults.max_concurrent
    return EffectiveLimits(rate, burst, concurrent)


class LimitExceeded(Exception):
    """A caller is over its rate or concurrency limit; retry after `retry_after` seconds."""

    def __init__(self, kind: LimitKind, retry_after: float) -> None:
        super().__init__(f"{kind} limit exceeded; retry after {retry_after:.3f} s")
        self.kind: LimitKind = kind
        self.retry_after = retry_after


class _Bucket:
    __slots__ = ("burst", "in_flight", "rate", "tokens", "updated")

    def __init__(self, limits: EffectiveLimits, now: float) -> None:
        self.rate = limits.requests_per_second
        self.burst = float(limits.burst)
        self.tokens = self.burst
        self.updated = now
        self.in_flight = 0

    def refill(self, limits: EffectiveLimits, now: float) -> None:
        # The limits in force now apply from now on (a policy change takes effect at once); the
        # tokens already earned stay, capped by the new burst.
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.rate = limits.requests_per_second
        self.burst = float(limits.burst)
        self.tokens = min(self.burst, self.tokens)
        self.updated = now

    def forgettable(self, now: float) -> bool:
        """Refilled to its burst with nothing in flight: the same as a new bucket, so dropping it loses nothing."""
        return self.in_flight == 0 and self.tokens + (now - self.updated) * self.rate >= self.burst


class Ticket(Protocol):
    """An admitted request's hold on its caller's concurrency slot, given back on exit (or by `release`)."""

    def release(self) -> None: ...
    async def __aenter__(self) -> Ticket: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Limiter(Protocol):
    """What the pipeline's Limits interceptor asks before running a call: this process's `CallerLimiter`,
    or the shared one."""

    async def acquire(self, caller: str, limits: Limits) -> Ticket:
        """A ticket for one call of `caller`, or LimitExceeded; never waits for capacity."""
        ...


class Admission:
    """One admitted request: holds a concurrency slot until closed (`with`, `async with` or `release`)."""

    __slots__ = ("_bucket", "_lock", "_released")

    def __init__(self, bucket: _Bucket, lock: threading.Lock) -> None:
        self._bucket = bucket
        self._lock = lock
        self._released = False

    def release(self) -> None:
        """Give the slot back; later calls do nothing, so a double exit never frees someone else's slot."""
        with self._lock:
            if not self._released:
                self._released = True
                self._bucket.in_flight -= 1

    def __enter__(self) -> Admission:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    async def __aenter__(self) -> Admission:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class CallerLimiter:
    """Admits or refuses each request of each caller, without ever waiting.

    Buckets live only while they matter: one that has refilled to its burst and has nothing in
    flight is indistinguishable from a new one, so it is forgotten. Memory is bounded by the callers
    active in the last few seconds, not by every caller ever seen.
    """

    def __init__(self, defaults: LimitDefaults | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._defaults = defaults or LimitDefaults()
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        # Admission runs on the event loop, but releases may come from executor threads; the lock
        # is uncontended in the common case and never held across a wait.
        self._lock = threading.Lock()
        self._next_sweep = clock() + self._defaults.sweep_interval

    @property
    def defaults(self) -> LimitDefaults:
        return self._defaults

    def admit(self, caller: str, limits: Limits) -> Admission:
        """Take a rate token and a concurrency slot for `caller`, or raise LimitExceeded."""
        effective = effective_limits(limits, self._defaults)
        now = self._clock()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = self._buckets[caller] = _Bucket(effective, now)
            else:
                bucket.refill(effective, now)
            # Concurrency first: a request refused for want of a slot must not also spend a rate token.
            if bucket.in_flight >= effective.max_concurrent:
                raise LimitExceeded("concurrency", self._defaults.concurrency_retry_after)
            if bucket.tokens < 1.0:
                raise LimitExceeded("rate", (1.0 - bucket.tokens) / effective.requests_per_second)
            bucket.tokens -= 1.0
            bucket.in_flight += 1
            return Admission(bucket, self._lock)

    async def acquire(self, caller: str, limits: Limits) -> Admission:
        """`admit`, as the `Limiter` interface spells it (nothing here waits)."""
        return self.admit(caller, limits)

    def tracked_callers(self) -> int:
        """How many callers currently hold a bucket (for tests and a gauge)."""
        with self._lock:
            return len(self._buckets)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._defaults.sweep_interval
        for name in [name for name, bucket in self._buckets.items() if bucket.forgettable(now)]:
            del self._buckets[name]
