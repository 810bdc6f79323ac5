"""One access-store contract, run against the embedded SQLite store and a real PostgreSQL.

What a caller or an administrator notices: tokens authenticate their caller and nobody else, revocation,
expiry and policy changes hold from the next call (also when made through another replica's connection),
explicit tokens, listings that never show a token, paging, and certificate identities.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from encord_gateway.access.errors import AccessError, AlreadyExistsError, NotFoundError
from encord_gateway.access.policy import Policy, parse_policy
from encord_gateway.access.postgres import PostgresAccessStore
from encord_gateway.access.store import AccessStore, EmbeddedAccessStore
from encord_gateway.cluster.engines import Engine
from encord_gateway.vault.errors import InvalidNameError
from engines import fresh_database

READ_ACME = parse_policy({"grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read"]}]})
WRITE_ACME = parse_policy({"grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read", "write"]}],
                           "limits": {"requests_per_second": 5}})  # fmt: skip


class Clock:
    """The wall clock expiries are judged by, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


Opener = Callable[[], Awaitable[AccessStore]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[Opener]:
    """Opens the same store again each call (a second replica's connection, or a second process)."""
    opened: list[AccessStore] = []
    if request.param == "sqlite":

        async def opener() -> AccessStore:
            opened.append(EmbeddedAccessStore.open(tmp_path / "access", now=clock))
            return opened[-1]
    else:
        server: Engine = request.getfixturevalue("postgres_engine")
        dsn = fresh_database(server)

        async def opener() -> AccessStore:
            opened.append(await PostgresAccessStore.open(dsn, now=clock))
            return opened[-1]

    yield opener
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: Opener) -> AccessStore:
    return await open_store()


async def test_an_issued_token_authenticates_its_caller_with_its_policy(store: AccessStore) -> None:
    await store.create_caller("team-a", WRITE_ACME)
    issued = await store.issue("team-a")
    assert issued.token.startswith("egw_") and issued.token_id.startswith("tok_")
    caller = await store.authenticate(issued.token)
    assert caller is not None and caller.name == "team-a"
    assert caller.policy == WRITE_ACME
    assert issued.token not in repr(issued)


@pytest.mark.parametrize("garbage", ["", "egw_unknown", "x" * 5000, "é" * 20, None, 42, b"egw_bytes"])
async def test_wrong_or_malformed_tokens_authenticate_nobody(store: AccessStore, garbage: Any) -> None:
    await store.create_caller("team-a", WRITE_ACME)
    await store.issue("team-a")
    assert await store.authenticate(garbage) is None


async def test_a_revocation_through_one_connection_holds_on_the_others_next_call(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    await first.create_caller("team-a", WRITE_ACME)
    issued = await first.issue("team-a")
    assert await second.authenticate(issued.token) is not None
    assert await first.revoke_token(issued.token_id)
    assert await second.authenticate(issued.token) is None
    assert not await second.revoke_token(issued.token_id)  # already revoked


async def test_a_policy_change_reaches_live_tokens_at_once(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    await first.create_caller("team-a", WRITE_ACME)
    issued = await first.issue("team-a")
    await second.set_policy("team-a", READ_ACME)
    caller = await first.authenticate(issued.token)
    assert caller is not None and caller.policy == READ_ACME


async def test_a_token_stops_working_the_moment_it_expires(store: AccessStore, clock: Clock) -> None:
    await store.create_caller("team-a", WRITE_ACME)
    issued = await store.issue("team-a", expires_at=clock.now + timedelta(hours=1))
    assert await store.authenticate(issued.token) is not None
    clock.now += timedelta(hours=1)
    assert await store.authenticate(issued.token) is None


async def test_an_expiry_without_a_time_zone_is_refused(store: AccessStore) -> None:
    await store.create_caller("team-a", WRITE_ACME)
    with pytest.raises(AccessError, match="time zone"):
        await store.issue("team-a", expires_at=datetime(2031, 1, 1))


async def test_caller_names_are_unique_and_unknown_ones_are_not_found(store: AccessStore) -> None:
    await store.create_caller("team-a", WRITE_ACME)
    with pytest.raises(AlreadyExistsError):
        await store.create_caller("team-a", READ_ACME)
    assert await store.get_caller("nobody") is None
    with pytest.raises(NotFoundError):
        await store.set_policy("nobody", READ_ACME)
    with pytest.raises(NotFoundError):
        await store.delete_caller("nobody")
    with pytest.raises(NotFoundError):
        await store.issue("nobody")
    with pytest.raises(InvalidNameError):
        await store.create_caller("bad\nname", READ_ACME)


async def test_issuing_by_organisation_creates_a_one_organisation_caller_and_never_widens_one(
    store: AccessStore,
) -> None:
    issued = await store.issue("pipeline", organisation="acme")
    caller = await store.authenticate(issued.token)
    assert caller is not None and caller.organisations == ("acme",)
    with pytest.raises(AccessError, match="no grant"):
        await store.issue("pipeline", organisation="globex")
    with pytest.raises(AccessError):
        await store.issue("everything", organisation="*")


async def test_explicit_tokens_are_idempotent_and_never_change_hands_or_come_back(store: AccessStore) -> None:
    await store.create_caller("team-a", WRITE_ACME)
    await store.create_caller("team-b", WRITE_ACME)
    token = "explicit-demo-token-0001"
    first = await store.issue("team-a", token)
    assert (await store.issue("team-a", token)).token_id == first.token_id
    with pytest.raises(AlreadyExistsError, match="another caller"):
        await store.issue("team-b", token)
    with pytest.raises(AlreadyExistsError, match="another expiry"):
        await store.issue("team-a", token, datetime(2031, 1, 1, tzinfo=UTC))
    with pytest.raises(AccessError, match="at least"):
        await store.issue("team-a", "short")
    await store.revoke_token(first.token_id)
    with pytest.raises(AlreadyExistsError, match="revoked"):
        await store.issue("team-a", token)


async def test_a_deleted_callers_tokens_stay_revoked_when_its_name_is_reused(store: AccessStore) -> None:
    await store.create_caller("team-a", WRITE_ACME)
    old = await store.issue("team-a")
    await store.delete_caller("team-a")
    await store.create_caller("team-a", WRITE_ACME)
    assert await store.authenticate(old.token) is None
    assert [t.revoked_at is not None for t in await store.list_tokens("team-a")] == [True]


async def test_revoking_a_callers_tokens_counts_live_ones_and_listings_show_no_secret(
    store: AccessStore, clock: Clock
) -> None:
    await store.create_caller("team-a", WRITE_ACME)
    issued = []
    for _ in range(3):
        issued.append(await store.issue("team-a"))
        clock.now += timedelta(seconds=1)
    await store.revoke_token(issued[0].token_id)
    assert await store.revoke_caller_tokens("team-a") == 2
    listed = await store.list_tokens("team-a")
    assert [t.token_id for t in listed] == [i.token_id for i in issued]  # oldest first
    text = repr(listed)
    assert not any(i.token in text for i in issued)
    assert await store.list_tokens("nobody") == []


async def test_listing_callers_pages_through_every_caller_once_in_name_order(store: AccessStore) -> None:
    names = [f"caller-{n:02d}" for n in range(7)] + ["Zed", "alpha"]
    for name in names:
        await store.create_caller(name, READ_ACME)
    seen: list[str] = []
    token = ""
    for _ in itertools.count():
        page, token = await store.list_callers(3, token)
        seen.extend(info.name for info in page)
        if not token:
            break
    assert seen == sorted(names)  # byte order, both backends
    with pytest.raises(AccessError):
        await store.list_callers(3, "not-a-token-we-gave")


async def test_certificate_identities_map_to_one_caller_and_sans_come_first(store: AccessStore) -> None:
    await store.create_caller("svc-a", WRITE_ACME)
    await store.create_caller("svc-b", READ_ACME)
    await store.map_certificate_identity("DNS:a.internal", "svc-a")
    await store.map_certificate_identity("CN=svc-b,O=Acme", "svc-b")
    await store.map_certificate_identity("DNS:b.internal", "svc-b")

    by_san = await store.caller_for_certificate("CN=svc-b,O=Acme", ["DNS:a.internal"])
    assert by_san is not None and by_san.name == "svc-a"
    by_subject = await store.caller_for_certificate("CN=svc-b,O=Acme", ["DNS:unmapped"])
    assert by_subject is not None and by_subject.name == "svc-b"
    assert await store.caller_for_certificate("CN=x", ["DNS:a.internal", "DNS:b.internal"]) is None  # ambiguous
    assert await store.caller_for_certificate("DNS:a.internal", []) is None  # a subject spelled like a SAN
    assert await store.caller_for_certificate(None, [None, 3]) is None  # type: ignore[arg-type]

    with pytest.raises(AlreadyExistsError):
        await store.map_certificate_identity("DNS:a.internal", "svc-b")
    with pytest.raises(NotFoundError):
        await store.map_certificate_identity("DNS:c.internal", "nobody")
    with pytest.raises(AccessError):
        await store.map_certificate_identity("not an identity", "svc-a")
    info = await store.get_caller("svc-b")
    assert info is not None and info.certificate_identities == ("CN=svc-b,O=Acme", "DNS:b.internal")
    assert await store.unmap_certificate_identity("DNS:a.internal")
    assert not await store.unmap_certificate_identity("DNS:a.internal")
    assert await store.caller_for_certificate("CN=none", ["DNS:a.internal"]) is None


async def test_state_survives_reopening(open_store: Opener) -> None:
    first = await open_store()
    await first.create_caller("team-a", WRITE_ACME)
    issued = await first.issue("team-a")
    await first.close()
    again = await open_store()
    caller = await again.authenticate(issued.token)
    assert caller is not None and caller.name == "team-a"


def test_policies_compare_by_value() -> None:
    # The contract compares policies read back with those written; that needs value equality.
    assert parse_policy(WRITE_ACME.to_json()) == WRITE_ACME
    assert isinstance(WRITE_ACME, Policy)


async def test_the_command_line_administers_the_shared_store_when_the_environment_names_it(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    dsn = fresh_database(postgres_engine)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    environment["ENCORD_GATEWAY_POSTGRES_DSN"] = dsn
    policy = tmp_path / "policy.json"
    policy.write_text('{"grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read"]}]}')

    def cli(*args: str) -> str:
        done = await_process([sys.executable, "-m", "encord_gateway.cli", *args], environment)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def await_process(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)

    await asyncio.to_thread(cli, "caller", "create", "--name", "from-cli", "--policy-file", str(policy))
    token = (await asyncio.to_thread(cli, "token", "issue", "--caller", "from-cli")).splitlines()[0].strip()
    store = await PostgresAccessStore.open(dsn)
    try:
        caller = await store.authenticate(token)
        assert caller is not None and caller.name == "from-cli" and caller.policy == READ_ACME
    finally:
        await store.close()
