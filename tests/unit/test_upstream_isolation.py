"""Keeping upstream trouble where it starts, and deciding it in one place: the circuit breaker's states on a
fake clock, the organisation lanes, the one table from Encord's HTTP status to the caller's status, retry
and HTTP answer, and the credential resolver's single flight and bounded memory."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.edge.status import http_status
from encord_gateway.errors import GatewayError
from encord_gateway.upstream import errors
from encord_gateway.upstream.credentials import CredentialResolver, ResolverSettings
from encord_gateway.upstream.isolation import (
    BreakerSettings,
    CircuitBreaker,
    CircuitState,
    OrganisationLanes,
    Verdict,
    verdict_of,
)
from encord_gateway.upstream.retry import RetryPolicy
from encord_gateway.upstream.signing import Signer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(breaker: CircuitBreaker) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        breaker.admit()
    return caught.value


def test_a_circuit_opens_after_consecutive_failures_probes_once_then_closes_on_success() -> None:
    clock, changes = Clock(), []
    breaker = CircuitBreaker("api.encord.com", BreakerSettings(3, 10.0), lambda h, s: changes.append(s), clock)
    for _ in range(2):
        breaker.admit()
        breaker.record(Verdict.FAILING)
    breaker.admit()
    breaker.record(Verdict.HEALTHY)  # an answer in between: the run of failures starts again
    for _ in range(3):
        breaker.admit()
        breaker.record(Verdict.FAILING)
    assert breaker.state == CircuitState.OPEN

    clock.now += 4
    error = refused(breaker)
    assert (error.code, error.reason, error.retry_after) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CIRCUIT_OPEN", 6)

    clock.now += 6
    breaker.admit()  # the probe
    assert breaker.state == CircuitState.HALF_OPEN
    assert refused(breaker).reason == "UPSTREAM_CIRCUIT_OPEN"  # one probe at a time
    breaker.record(Verdict.HEALTHY)
    assert breaker.state == CircuitState.CLOSED
    breaker.admit()
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


def test_a_failed_probe_opens_the_circuit_again_and_an_abandoned_one_lets_the_next_call_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker("eu.encord.com", BreakerSettings(1, 5.0), clock=clock)
    breaker.admit()
    breaker.record(Verdict.FAILING)
    clock.now += 5
    breaker.admit()
    breaker.record(Verdict.UNKNOWN)  # the caller went away: nothing learned, the next call probes
    breaker.admit()
    breaker.record(Verdict.FAILING)
    assert breaker.state == CircuitState.OPEN
    assert refused(breaker).retry_after == 5


def test_what_an_attempt_says_about_the_host() -> None:
    settings = BreakerSettings(timeout_floor=1.0)

    def verdict(status: int | None = None, reason: str = "X") -> Verdict:
        metadata = {"http_status": str(status)} if status is not None else {}
        return verdict_of(GatewayError(grpc.StatusCode.UNKNOWN, "", reason=reason, metadata=metadata), 5.0, settings)

    assert [verdict(503), verdict(500), verdict(504), verdict(429), verdict(404)] == [
        Verdict.FAILING, Verdict.FAILING, Verdict.FAILING, Verdict.HEALTHY, Verdict.HEALTHY,
    ]  # fmt: skip
    assert verdict(reason="UPSTREAM_UNREACHABLE") == Verdict.FAILING
    timeout = GatewayError(grpc.StatusCode.DEADLINE_EXCEEDED, "", reason="UPSTREAM_TIMEOUT")
    assert verdict_of(timeout, 5.0, settings) == Verdict.FAILING
    assert verdict_of(timeout, 0.2, settings) == Verdict.UNKNOWN  # the caller's short deadline, not the host


async def test_an_organisations_lane_holds_its_limit_and_a_wait_ends_at_the_deadline() -> None:
    lanes = OrganisationLanes(2)
    await lanes.acquire("noisy", time.monotonic() + 5)
    await lanes.acquire("noisy", time.monotonic() + 5)
    await lanes.acquire("quiet", time.monotonic() + 5)  # another organisation's lane is its own
    with pytest.raises(GatewayError) as full:
        await lanes.acquire("noisy", time.monotonic() + 0.01)
    assert (full.value.code, full.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "UPSTREAM_CONCURRENCY_LIMITED")
    lanes.release("noisy")
    await lanes.acquire("noisy", time.monotonic() + 5)
    assert (lanes.in_flight("noisy"), lanes.in_flight("quiet")) == (2, 1)


@pytest.mark.parametrize("status", sorted(errors.HTTP_STATUSES))
def test_one_table_decides_an_encord_status_its_retry_and_its_http_answer(status: int) -> None:
    """The caller's code, whether a read is retried, and the REST status all follow from one row."""
    row = errors.HTTP_STATUSES[status]
    error = errors.from_http_status(status, None, label="project GET")
    assert (error.code, error.reason) == (row.code, row.reason)
    delay = RetryPolicy().delay(True, error, 1, time.monotonic() + 60)
    assert (delay is not None) == row.transient
    assert RetryPolicy().delay(False, error, 1, time.monotonic() + 60) is None  # never a write
    if row.transient and status != 429:
        assert (error.code, http_status(error.code)) == (grpc.StatusCode.UNAVAILABLE, 503)  # "retry later"


def test_500_is_transient_everywhere() -> None:
    """Encord's SDK retries a 500 (wire reference §4.2); so does the gateway, and it tells the caller so."""
    error = errors.from_http_status(500, None, label="project GET")
    assert errors.is_transient(error) and error.code == grpc.StatusCode.UNAVAILABLE and http_status(error.code) == 503


class SlowSource:
    """A vault whose lookups block (in the resolver's worker thread) until released; counts them."""

    def __init__(self) -> None:
        self.signer = Signer(Ed25519PrivateKey.generate())
        self.lookups: list[str] = []
        self.release = threading.Event()

    def signing_key_for_org(self, organisation: str) -> tuple[str, Signer]:
        self.lookups.append(organisation)
        assert self.release.wait(10)
        return f"sshkey_{organisation}", self.signer

    def api_key_for(self, organisation: str, resource_type: str, resource_hash: str, scope: str) -> None:
        return None

    def record_use(self, credential_id: str) -> None:
        """Not what these tests look at."""


async def test_concurrent_misses_share_one_lookup_and_the_memory_of_them_is_bounded() -> None:
    source = SlowSource()
    resolver = CredentialResolver(source, ResolverSettings(max_entries=2))
    try:
        waiting = [asyncio.ensure_future(resolver.resolve("acme")) for _ in range(5)]
        await asyncio.sleep(0)  # let them all reach the lookup
        first = waiting.pop()
        first.cancel()  # one caller gives up: the others' lookup goes on
        source.release.set()
        credentials = await asyncio.gather(*waiting)
        assert {c.credential_id for c in credentials} == {"sshkey_acme"} and source.lookups == ["acme"]

        for organisation in ("b", "c"):  # two more: "acme" is the least recently used, and goes
            await resolver.resolve(organisation)
        await resolver.resolve("c")
        await resolver.resolve("acme")
        assert source.lookups == ["acme", "b", "c", "acme"]
    finally:
        await resolver.close()
