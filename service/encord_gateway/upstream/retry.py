"""The one retry decision for calls to Encord: which failures are repeated, how often, and after how long.

Only reads are repeated (a write is never retried blindly; a caller makes it safe with a request id),
only after a transient failure (upstream/errors.py's table says which), at most MAX_ATTEMPTS times in
all, after Encord's Retry-After when it gives one and a jittered exponential backoff otherwise, and
never past the caller's deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import GatewayError
from .errors import is_transient


@dataclass(frozen=True)
class RetryPolicy:
    """How a read that met a transient failure is repeated."""

    max_attempts: int = 3
    """Attempts in all, the first included."""
    base_backoff: float = 0.05
    """Seconds; doubled per attempt, with full jitter (the wait is uniform in [0, base * 2^attempt])."""

    def delay(
        self,
        retryable: bool,
        error: GatewayError,
        attempt: int,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1` of a call that failed with `error`, or None: give up."""
        if not retryable or attempt >= self.max_attempts or not is_transient(error):
            return None
        if error.retry_after is not None:
            wait = error.retry_after
        else:
            wait = random.uniform(0, self.base_backoff * 2**attempt)
        if clock() + wait >= deadline:
            return None  # the answer would come after the caller stopped waiting for it
        return wait


DEFAULT_RETRY_POLICY = RetryPolicy()
