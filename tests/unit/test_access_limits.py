"""Per-caller limits refuse with a useful retry delay, recover, release slots, and forget idle callers."""

from __future__ import annotations

import asyncio

import pytest
from encord_gateway.access import CallerLimiter, LimitDefaults, LimitExceeded, Limits
from encord_gateway.access.limits import EffectiveLimits, effective_limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


TEN_PER_SECOND = Limits(requests_per_second=10, burst=5, max_concurrent=100)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> CallerLimiter:
    return CallerLimiter(LimitDefaults(), clock=clock)


def spend(limiter: CallerLimiter, caller: str, limits: Limits, count: int) -> None:
    for _ in range(count):
        with limiter.admit(caller, limits):
            pass


def test_burst_is_admitted_then_retry_after_is_the_time_to_the_next_token(limiter: CallerLimiter) -> None:
    spend(limiter, "svc", TEN_PER_SECOND, 5)
    with pytest.raises(LimitExceeded) as refused:
        limiter.admit("svc", TEN_PER_SECOND)
    assert refused.value.kind == "rate"
    assert refused.value.retry_after == pytest.approx(0.1)


def test_partial_refill_shortens_the_retry_delay(limiter: CallerLimiter, clock: FakeClock) -> None:
    spend(limiter, "svc", TEN_PER_SECOND, 5)
    clock.advance(0.04)
    with pytest.raises(LimitExceeded) as refused:
        limiter.admit("svc", TEN_PER_SECOND)
    assert refused.value.retry_after == pytest.approx(0.06)


def test_rate_limited_caller_recovers_after_waiting_the_retry_delay(limiter: CallerLimiter, clock: FakeClock) -> None:
    spend(limiter, "svc", TEN_PER_SECOND, 5)
    with pytest.raises(LimitExceeded) as refused:
        limiter.admit("svc", TEN_PER_SECOND)
    clock.advance(refused.value.retry_after)
    spend(limiter, "svc", TEN_PER_SECOND, 1)
    clock.advance(10)
    spend(limiter, "svc", TEN_PER_SECOND, 5)


def test_sustained_rate_is_the_configured_rate(limiter: CallerLimiter, clock: FakeClock) -> None:
    spend(limiter, "svc", TEN_PER_SECOND, 5)
    admitted = 0
    for _ in range(1000):  # ten seconds in 10 ms steps
        clock.advance(0.01)
        try:
            spend(limiter, "svc", TEN_PER_SECOND, 1)
            admitted += 1
        except LimitExceeded:
            pass
    assert 99 <= admitted <= 101


def test_concurrency_slot_is_released_when_the_call_raises(limiter: CallerLimiter) -> None:
    limits = Limits(requests_per_second=1000, burst=1000, max_concurrent=1)
    with pytest.raises(RuntimeError), limiter.admit("svc", limits):
        raise RuntimeError("upstream failed")
    with limiter.admit("svc", limits):
        pass


def test_concurrency_limit_refuses_without_spending_rate_tokens(limiter: CallerLimiter) -> None:
    limits = Limits(requests_per_second=1, burst=2, max_concurrent=1)
    held = limiter.admit("svc", limits)
    for _ in range(5):
        with pytest.raises(LimitExceeded) as refused:
            limiter.admit("svc", limits)
        assert refused.value.kind == "concurrency"
        assert refused.value.retry_after > 0
    held.release()
    spend(limiter, "svc", limits, 1)


def test_releasing_twice_frees_only_one_slot(limiter: CallerLimiter) -> None:
    limits = Limits(requests_per_second=1000, burst=1000, max_concurrent=2)
    first = limiter.admit("svc", limits)
    limiter.admit("svc", limits)
    first.release()
    first.release()
    limiter.admit("svc", limits)
    with pytest.raises(LimitExceeded):
        limiter.admit("svc", limits)


def test_callers_are_limited_independently(limiter: CallerLimiter) -> None:
    spend(limiter, "noisy", TEN_PER_SECOND, 5)
    with pytest.raises(LimitExceeded):
        limiter.admit("noisy", TEN_PER_SECOND)
    spend(limiter, "quiet", TEN_PER_SECOND, 5)


def test_gateway_defaults_apply_where_the_policy_sets_nothing(limiter: CallerLimiter) -> None:
    defaults = LimitDefaults()
    assert effective_limits(Limits(), defaults) == EffectiveLimits(200.0, 400, 64)
    spend(limiter, "svc", Limits(), defaults.burst)
    with pytest.raises(LimitExceeded) as refused:
        limiter.admit("svc", Limits())
    assert refused.value.retry_after == pytest.approx(1 / defaults.requests_per_second)


def test_a_slow_rate_without_a_burst_gets_a_small_burst_not_the_default() -> None:
    defaults = LimitDefaults()
    assert effective_limits(Limits(requests_per_second=1), defaults).burst == 2
    assert effective_limits(Limits(requests_per_second=0.01), defaults).burst == 1
    assert effective_limits(Limits(max_concurrent=3), defaults) == EffectiveLimits(200.0, 400, 3)


def test_a_lowered_limit_applies_at_once(limiter: CallerLimiter) -> None:
    spend(limiter, "svc", TEN_PER_SECOND, 1)
    lowered = Limits(requests_per_second=10, burst=1, max_concurrent=100)
    spend(limiter, "svc", lowered, 1)
    with pytest.raises(LimitExceeded):
        limiter.admit("svc", lowered)


def test_idle_callers_are_forgotten(limiter: CallerLimiter, clock: FakeClock) -> None:
    for index in range(1000):
        spend(limiter, f"caller-{index}", TEN_PER_SECOND, 1)
    assert limiter.tracked_callers() == 1000
    clock.advance(5)
    spend(limiter, "survivor", TEN_PER_SECOND, 1)
    assert limiter.tracked_callers() == 1


def test_a_forgotten_caller_gets_no_more_than_a_full_bucket(limiter: CallerLimiter, clock: FakeClock) -> None:
    spend(limiter, "svc", TEN_PER_SECOND, 5)
    clock.advance(60)
    spend(limiter, "svc", TEN_PER_SECOND, 5)
    with pytest.raises(LimitExceeded):
        limiter.admit("svc", TEN_PER_SECOND)


def test_callers_with_requests_in_flight_are_kept(limiter: CallerLimiter, clock: FakeClock) -> None:
    limits = Limits(requests_per_second=10, burst=5, max_concurrent=1)
    held = limiter.admit("svc", limits)
    clock.advance(60)
    spend(limiter, "other", limits, 1)
    assert limiter.tracked_callers() == 2
    with pytest.raises(LimitExceeded) as refused:
        limiter.admit("svc", limits)
    assert refused.value.kind == "concurrency"
    held.release()


async def test_admission_works_in_async_code_without_blocking(limiter: CallerLimiter) -> None:
    limits = Limits(requests_per_second=1000, burst=1000, max_concurrent=2)

    async def call() -> str:
        async with limiter.admit("svc", limits):
            await asyncio.sleep(0.01)
            return "ok"

    outcomes = await asyncio.gather(*(call() for _ in range(3)), return_exceptions=True)
    assert outcomes.count("ok") == 2
    assert [type(o) for o in outcomes if o != "ok"] == [LimitExceeded]
    assert await call() == "ok"
