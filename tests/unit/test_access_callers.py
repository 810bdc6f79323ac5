"""Callers hold exactly their policy; tokens and certificates reach only live callers; old databases keep working."""

from __future__ import annotations

import hashlib
import hmac
import random
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from encord_gateway.access import (
    AccessError,
    AlreadyExistsError,
    Caller,
    NotFoundError,
    Policy,
    TokenStore,
    parse_policy,
)
from encord_gateway.access.tokens import organisation_policy

READ_ONLY = parse_policy(
    {
        "grants": [{"organisation": "acme", "resources": ["project:p1"], "rights": ["read"]}],
        "limits": {"requests_per_second": 5, "burst": 10, "max_concurrent": 2},
    }
)
TWO_ORGS = parse_policy(
    {
        "grants": [
            {"organisation": "acme", "resources": ["*"], "rights": ["read", "write"]},
            {"organisation": "globex", "resources": ["dataset:*"], "rights": ["read", "ProjectService.GetProject"]},
        ]
    }
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TokenStore]:
    opened = TokenStore.open(tmp_path / "access")
    yield opened
    opened.close()


def write_schema_1(directory: Path, rows: list[tuple[str, str, str]]) -> None:
    """A tokens.db exactly as the schema-1 gateway left it: (token, organisation, caller) rows."""
    directory.mkdir(mode=0o700, parents=True)
    path = directory / "tokens.db"
    path.touch(mode=0o600)
    salt = bytes(range(32))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tokens ("
        " token_hash BLOB PRIMARY KEY,"
        " organisation TEXT NOT NULL,"
        " caller TEXT NOT NULL,"
        " created_at TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO settings (name, value) VALUES ('salt', ?)", (salt,))
    for index, (token, organisation, caller) in enumerate(rows):
        digest = hmac.new(salt, token.encode("ascii"), hashlib.sha256).digest()
        created = datetime(2025, 1, 1, 0, 0, index, tzinfo=UTC).isoformat()
        conn.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)", (digest, organisation, caller, created))
    conn.execute("PRAGMA user_version = 1")
    conn.close()


# Migration


def test_schema_1_tokens_keep_authenticating_with_a_one_organisation_policy(tmp_path: Path) -> None:
    directory = tmp_path / "access"
    write_schema_1(directory, [("acme-token-0123456789", "acme", "svc"), ("globex-token-012345678", "globex", "etl")])
    with TokenStore.open(directory) as store:
        assert store.authenticate("acme-token-0123456789") == Caller("svc", organisation_policy("acme"))
        assert store.authenticate("globex-token-012345678") == Caller("etl", organisation_policy("globex"))
        info = store.get_caller("svc")
        assert info is not None
        assert info.policy.to_json() == {
            "grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read", "write"]}]
        }
        tokens = store.list_tokens()
        assert [t.caller for t in tokens] == ["svc", "etl"]
        assert all(t.token_id.startswith("tok_") and t.revoked_at is None and t.expires_at is None for t in tokens)
    conn = sqlite3.connect(directory / "tokens.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()


def test_schema_1_caller_of_two_organisations_is_split_so_no_token_gains_an_organisation(tmp_path: Path) -> None:
    directory = tmp_path / "access"
    write_schema_1(
        directory, [("shared-acme-0123456789", "acme", "shared"), ("shared-globex-012345678", "globex", "shared")]
    )
    with TokenStore.open(directory) as store:
        first = store.authenticate("shared-acme-0123456789")
        second = store.authenticate("shared-globex-012345678")
    assert first is not None and second is not None
    assert first.organisations == ("acme",)
    assert second.organisations == ("globex",)
    assert first.name != second.name


def test_migration_runs_once_and_keeps_token_ids(tmp_path: Path) -> None:
    directory = tmp_path / "access"
    write_schema_1(directory, [("acme-token-0123456789", "acme", "svc")])
    with TokenStore.open(directory) as store:
        before = store.list_tokens()
    with TokenStore.open(directory) as store:
        assert store.list_tokens() == before
        assert store.authenticate("acme-token-0123456789") is not None


def test_database_from_a_newer_gateway_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "access"
    TokenStore.open(directory).close()
    conn = sqlite3.connect(directory / "tokens.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(AccessError, match="newer"):
        TokenStore.open(directory)


# Callers and policies


def test_policy_round_trips_through_the_store(store: TokenStore) -> None:
    created = store.create_caller("reader", READ_ONLY)
    assert created.policy == READ_ONLY
    assert created.created_at == created.updated_at
    fetched = store.get_caller("reader")
    assert fetched == created
    updated = store.set_policy("reader", TWO_ORGS)
    assert updated.policy == TWO_ORGS
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at
    assert parse_policy(updated.policy.to_json()) == TWO_ORGS


def test_policy_change_reaches_live_tokens_at_once(store: TokenStore) -> None:
    store.create_caller("reader", READ_ONLY)
    token = store.issue("reader").token
    assert cast(Caller, store.authenticate(token)).organisations == ("acme",)
    store.set_policy("reader", TWO_ORGS)
    assert cast(Caller, store.authenticate(token)).policy == TWO_ORGS


def test_caller_names_are_unique(store: TokenStore) -> None:
    store.create_caller("reader", READ_ONLY)
    with pytest.raises(AlreadyExistsError):
        store.create_caller("reader", TWO_ORGS)
    assert cast(Any, store.get_caller("reader")).policy == READ_ONLY


def test_unknown_callers_are_not_found(store: TokenStore) -> None:
    assert store.get_caller("ghost") is None
    with pytest.raises(NotFoundError):
        store.set_policy("ghost", READ_ONLY)
    with pytest.raises(NotFoundError):
        store.delete_caller("ghost")
    with pytest.raises(NotFoundError):
        store.map_certificate_identity("DNS:ghost.internal", "ghost")


def test_a_caller_without_a_policy_cannot_get_a_token(store: TokenStore) -> None:
    with pytest.raises(NotFoundError, match="policy"):
        store.issue("nobody")
    assert store.get_caller("nobody") is None
    assert store.list_tokens() == []


def test_issuing_never_widens_a_policy(store: TokenStore) -> None:
    store.create_caller("reader", READ_ONLY)
    with pytest.raises(AccessError, match="globex"):
        store.issue("reader", organisation="globex")
    assert cast(Any, store.get_caller("reader")).policy == READ_ONLY
    assert store.issue("reader", organisation="acme").caller == "reader"


def test_issuing_cannot_create_an_all_organisations_caller(store: TokenStore) -> None:
    with pytest.raises(AccessError):
        store.issue("everything", organisation="*")
    assert store.get_caller("everything") is None


def test_a_caller_with_no_grants_authenticates_but_holds_nothing(store: TokenStore) -> None:
    store.create_caller("empty", Policy())
    caller = store.authenticate(store.issue("empty").token)
    assert caller is not None
    assert caller.organisations == ()
    assert not caller.policy.allows("acme", "project", "p1", "read", "encord.gateway.v1.ProjectService.GetProject")


def test_list_callers_pages_through_every_caller_once_in_name_order(store: TokenStore) -> None:
    names = [f"caller-{i:02d}" for i in range(25)]
    for name in reversed(names):
        store.create_caller(name, READ_ONLY)
    store.map_certificate_identity("DNS:c3.internal", "caller-03")
    seen: list[str] = []
    page_token = ""
    pages = 0
    while True:
        page, page_token = store.list_callers(page_size=10, page_token=page_token)
        seen.extend(info.name for info in page)
        pages += 1
        if not page_token:
            break
    assert seen == names
    assert pages == 3
    everything, last = store.list_callers()
    assert last == ""
    assert next(i for i in everything if i.name == "caller-03").certificate_identities == ("DNS:c3.internal",)


@pytest.mark.parametrize("page_token", ["%%%", "\udcff"])
def test_foreign_page_tokens_are_refused(store: TokenStore, page_token: str) -> None:
    with pytest.raises(AccessError):
        store.list_callers(page_token=page_token)


def test_policies_are_stored_not_other_objects(store: TokenStore) -> None:
    with pytest.raises(AccessError):
        store.create_caller("x", cast(Policy, {"grants": []}))


def test_a_damaged_policy_denies_instead_of_failing(store: TokenStore, tmp_path: Path) -> None:
    store.create_caller("svc", READ_ONLY)
    token = store.issue("svc").token
    conn = sqlite3.connect(tmp_path / "access" / "tokens.db")
    conn.execute("UPDATE callers SET policy = '{\"grants\": 7}'")
    conn.commit()
    conn.close()
    assert store.authenticate(token) is None


# Token lifecycle


def test_revoked_token_is_unauthenticated_at_once(store: TokenStore) -> None:
    store.create_caller("svc", READ_ONLY)
    issued = store.issue("svc")
    kept = store.issue("svc")
    assert store.authenticate(issued.token) is not None
    assert store.revoke_token(issued.token_id) is True
    assert store.authenticate(issued.token) is None
    assert store.authenticate(kept.token) is not None
    assert store.revoke_token(issued.token_id) is False
    assert store.revoke_token("tok_000000000000") is False
    revoked = next(t for t in store.list_tokens() if t.token_id == issued.token_id)
    assert revoked.revoked_at is not None


def test_revocation_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    with TokenStore.open(tmp_path / "access") as gateway, TokenStore.open(tmp_path / "access") as admin:
        admin.create_caller("svc", READ_ONLY)
        issued = admin.issue("svc")
        assert gateway.authenticate(issued.token) is not None
        admin.revoke_token(issued.token_id)
        assert gateway.authenticate(issued.token) is None


def test_expired_token_is_unauthenticated(store: TokenStore) -> None:
    store.create_caller("svc", READ_ONLY)
    expired = store.issue("svc", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    live = store.issue("svc", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert store.authenticate(expired.token) is None
    assert store.authenticate(live.token) is not None
    assert live.expires_at is not None and live.expires_at.tzinfo is not None


def test_token_stops_working_the_moment_it_expires(tmp_path: Path) -> None:
    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    with TokenStore.open(tmp_path / "access", now=lambda: clock[0]) as store:
        store.create_caller("svc", READ_ONLY)
        issued = store.issue("svc", expires_at=clock[0] + timedelta(minutes=30))
        clock[0] += timedelta(minutes=30) - timedelta(microseconds=1)
        assert store.authenticate(issued.token) is not None
        clock[0] += timedelta(microseconds=1)
        assert store.authenticate(issued.token) is None


def test_expiry_without_a_time_zone_is_refused(store: TokenStore) -> None:
    store.create_caller("svc", READ_ONLY)
    with pytest.raises(AccessError, match="time zone"):
        store.issue("svc", expires_at=datetime(2030, 1, 1))


def test_revoking_a_callers_tokens_counts_only_live_ones(store: TokenStore) -> None:
    store.create_caller("svc", READ_ONLY)
    store.create_caller("other", READ_ONLY)
    tokens = [store.issue("svc") for _ in range(3)]
    other = store.issue("other")
    store.revoke_token(tokens[0].token_id)
    assert store.revoke_caller_tokens("svc") == 2
    assert store.revoke_caller_tokens("svc") == 0
    assert all(store.authenticate(t.token) is None for t in tokens)
    assert store.authenticate(other.token) is not None


def test_deleted_caller_stays_revoked_when_its_name_is_reused(store: TokenStore) -> None:
    store.create_caller("svc", TWO_ORGS)
    issued = store.issue("svc")
    store.map_certificate_identity("DNS:svc.internal", "svc")
    store.delete_caller("svc")
    assert store.authenticate(issued.token) is None
    store.create_caller("svc", READ_ONLY)
    assert store.authenticate(issued.token) is None
    assert store.caller_for_certificate("", ["DNS:svc.internal"]) is None
    assert cast(Any, store.get_caller("svc")).certificate_identities == ()


def test_revoked_explicit_token_cannot_be_issued_again(store: TokenStore) -> None:
    store.create_caller("demo", READ_ONLY)
    issued = store.issue("demo", "demo-token-0123456789")
    store.revoke_token(issued.token_id)
    with pytest.raises(AccessError, match="revoked"):
        store.issue("demo", "demo-token-0123456789")
    assert store.authenticate("demo-token-0123456789") is None


def test_explicit_token_with_another_expiry_is_not_silently_reused(store: TokenStore) -> None:
    store.create_caller("demo", READ_ONLY)
    store.issue("demo", "demo-token-0123456789")
    with pytest.raises(AccessError, match="expiry"):
        store.issue("demo", "demo-token-0123456789", datetime.now(UTC) + timedelta(hours=1))


def test_token_listing_shows_neither_tokens_nor_hashes(store: TokenStore) -> None:
    store.create_caller("svc", READ_ONLY)
    store.create_caller("other", READ_ONLY)
    issued = store.issue("svc")
    store.issue("other")
    listed = store.list_tokens("svc")
    assert [t.token_id for t in listed] == [issued.token_id]
    text = repr(store.list_tokens())
    assert issued.token not in text
    assert issued.token[4:20] not in text
    assert set(vars(listed[0])) == {"token_id", "caller", "created_at", "expires_at", "revoked_at"}


# Certificate identities


def test_certificate_san_and_subject_map_to_their_caller(store: TokenStore) -> None:
    store.create_caller("svc-a", READ_ONLY)
    store.create_caller("svc-b", TWO_ORGS)
    store.map_certificate_identity("URI:spiffe://acme/svc-a", "svc-a")
    store.map_certificate_identity("CN=svc-b,O=Acme", "svc-b")
    assert store.caller_for_certificate("CN=whatever", ["URI:spiffe://acme/svc-a"]) == Caller("svc-a", READ_ONLY)
    assert store.caller_for_certificate("CN=svc-b,O=Acme", ["DNS:unmapped.internal"]) == Caller("svc-b", TWO_ORGS)
    assert store.caller_for_certificate("CN=svc-b,O=Other", []) is None
    assert store.caller_for_certificate("cn=svc-b,o=acme", []) is None


def test_certificate_sans_take_precedence_over_the_subject(store: TokenStore) -> None:
    store.create_caller("by-san", READ_ONLY)
    store.create_caller("by-subject", TWO_ORGS)
    store.map_certificate_identity("DNS:svc.internal", "by-san")
    store.map_certificate_identity("CN=svc,O=Acme", "by-subject")
    caller = store.caller_for_certificate("CN=svc,O=Acme", ["DNS:other.internal", "DNS:svc.internal"])
    assert caller is not None and caller.name == "by-san"


def test_certificate_whose_sans_name_two_callers_is_denied(store: TokenStore) -> None:
    store.create_caller("one", READ_ONLY)
    store.create_caller("two", READ_ONLY)
    store.map_certificate_identity("DNS:one.internal", "one")
    store.map_certificate_identity("DNS:two.internal", "two")
    assert store.caller_for_certificate("CN=x", ["DNS:one.internal", "DNS:two.internal"]) is None


def test_a_subject_spelled_like_a_san_claims_nothing(store: TokenStore) -> None:
    store.create_caller("svc", READ_ONLY)
    store.map_certificate_identity("DNS:svc.internal", "svc")
    assert store.caller_for_certificate("DNS:svc.internal", []) is None


def test_certificate_identity_cannot_be_taken_over_by_another_caller(store: TokenStore) -> None:
    store.create_caller("owner", READ_ONLY)
    store.create_caller("thief", TWO_ORGS)
    store.map_certificate_identity("DNS:svc.internal", "owner")
    store.map_certificate_identity("DNS:svc.internal", "owner")
    with pytest.raises(AlreadyExistsError):
        store.map_certificate_identity("DNS:svc.internal", "thief")
    assert cast(Caller, store.caller_for_certificate("", ["DNS:svc.internal"])).name == "owner"
    assert store.unmap_certificate_identity("DNS:svc.internal") is True
    assert store.unmap_certificate_identity("DNS:svc.internal") is False
    assert store.caller_for_certificate("", ["DNS:svc.internal"]) is None


@pytest.mark.parametrize("identity", ["", "svc-a", "DNS:", " CN=x", "CN=x\n", "DNS:a\x00b", "X" * 2000 + "=1"])
def test_identities_no_certificate_could_present_are_refused(store: TokenStore, identity: str) -> None:
    store.create_caller("svc", READ_ONLY)
    with pytest.raises(AccessError):
        store.map_certificate_identity(identity, "svc")


@pytest.mark.parametrize(
    ("subject", "sans"),
    [
        ("", []),
        (None, None),
        (12, [None, b"DNS:x", 7]),
        ("CN=" + "x" * 100_000, ["DNS:" + "y" * 100_000]),
        ("\x00\udcff", ["\udcff"] * 10_000),
        ("CN=x", "DNS:svc.internal"),
    ],
)
def test_malformed_certificate_identities_never_raise(store: TokenStore, subject: Any, sans: Any) -> None:
    store.create_caller("svc", READ_ONLY)
    store.map_certificate_identity("DNS:svc.internal", "svc")
    assert store.caller_for_certificate(subject, sans) is None


# Garbage tokens


def random_garbage(rng: random.Random) -> str:
    shape = rng.randrange(6)
    size = rng.choice([0, 1, 15, 16, 43, 47, 511, 512, 513, 4096, 200_000])
    if shape == 0:
        return rng.randbytes(size).decode("utf-8", errors="replace")
    if shape == 1:
        return rng.randbytes(size).decode("utf-8", errors="surrogateescape")
    if shape == 2:
        return rng.randbytes(size).decode("latin-1")
    if shape == 3:
        return "egw_" + "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(min(size, 600)))
    if shape == 4:
        return "".join(chr(rng.randrange(0, 0x20)) for _ in range(min(size, 600)))
    # Lone surrogates included: they reach us from lenient header decoders.
    return "".join(chr(rng.randrange(0x80, 0x110000)) for _ in range(min(size, 600)))


def test_hundreds_of_random_and_malformed_tokens_authenticate_nobody(store: TokenStore) -> None:
    store.create_caller("svc", TWO_ORGS)
    real = store.issue("svc").token
    rng = random.Random(20260401)
    samples = [random_garbage(rng) for _ in range(600)]
    samples += [real[:-1], real + "\x00", real.upper(), " " + real, real + "\n", "\u200b" + real, real[:4]]
    for sample in samples:
        assert store.authenticate(sample) is None, repr(sample[:40])
    assert store.authenticate(real) is not None


def test_files_stay_private_after_migration(tmp_path: Path) -> None:
    directory = tmp_path / "access"
    write_schema_1(directory, [("acme-token-0123456789", "acme", "svc")])
    with TokenStore.open(directory) as store:
        store.create_caller("other", READ_ONLY)
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
