"""The sandbox's SQLite store: typed records by id, parent and secondary key; transactions; durability; cost of a write."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from encord_gateway.sandbox import routing  # noqa: F401  (imports every domain, so every kind is registered)
from encord_gateway.sandbox.domains.apikeys import ApiKey
from encord_gateway.sandbox.domains.projects import Project
from encord_gateway.sandbox.domains.users import User
from encord_gateway.sandbox.errors import ApiError, invalid
from encord_gateway.sandbox.records import new_hash, now
from encord_gateway.sandbox.store import Store

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def project(title: str = "P", created_at: datetime = T0, member: str = "owner@sandbox.test") -> Project:
    return Project(
        hash=new_hash(),
        title=title,
        description="",
        owner=member,
        members={member: 0},
        created_at=created_at,
        last_edited_at=created_at,
        ontology_hash=new_hash(),
        dataset_hashes=[],
    )


def api_key(resource_hash: str, created_at: datetime = T0, key_hash: str | None = None) -> ApiKey:
    return ApiKey(
        key_hash=key_hash or new_hash(),
        resource_type="project",
        resource_hash=resource_hash,
        title="k",
        scopes=["label.read"],
        creator="owner@sandbox.test",
        master=False,
        secret="not-a-real-key",
        secret_digest=new_hash(),
        created_at=created_at,
    )


def user(email: str, *keys: str) -> User:
    return User(email=email, user_hash=new_hash(), public_keys=list(keys), created_at=now())


def test_a_record_reads_back_equal_with_its_times_and_nested_values() -> None:
    store = Store()
    stored = project("round trip")
    stored.workflow_stages = [{"stageType": "ANNOTATION", "uuid": new_hash()}]
    store.put(stored)
    got = store.get(Project, stored.hash)
    assert got == stored and got is not stored
    assert got.created_at.tzinfo is not None
    assert store.get(Project, new_hash()) is None


def test_put_replaces_the_record_with_the_same_id() -> None:
    store = Store()
    record = store.put(project("before"))
    record.title = "after"
    store.put(record)
    assert [p.title for p in store.all(Project)] == ["after"]


def test_children_are_listed_by_creation_then_id_and_only_their_parents() -> None:
    store = Store()
    parent, other = project(), project()
    late = store.put(api_key(parent.hash, T0 + timedelta(seconds=1)))
    tie_b = store.put(api_key(parent.hash, T0, key_hash="b" + new_hash()))
    tie_a = store.put(api_key(parent.hash, T0, key_hash="a" + new_hash()))
    store.put(api_key(other.hash))
    assert [k.key_hash for k in store.children(ApiKey, parent.hash)] == [tie_a.key_hash, tie_b.key_hash, late.key_hash]


def test_find_follows_a_changed_secondary_key() -> None:
    store = Store()
    alice = store.put(user("alice@sandbox.test", "k1", "k2"))
    store.put(user("bob@sandbox.test", "k2"))
    assert [u.email for u in store.find(User, "public_keys", "k2")] == ["alice@sandbox.test", "bob@sandbox.test"]
    alice.public_keys = ["k3"]
    store.put(alice)
    assert [u.email for u in store.find(User, "public_keys", "k1")] == []
    assert [u.email for u in store.find(User, "public_keys", "k2")] == ["bob@sandbox.test"]
    assert [u.email for u in store.find(User, "public_keys", "k3")] == ["alice@sandbox.test"]


def test_a_dict_key_is_indexed_by_its_keys() -> None:
    store = Store()
    shared = project(member="owner@sandbox.test")
    shared.members["guest@sandbox.test"] = 3
    store.put(shared)
    store.put(project(member="someone@sandbox.test"))
    assert [p.hash for p in store.find(Project, "members", "guest@sandbox.test")] == [shared.hash]


def test_delete_removes_the_record_and_what_finds_it() -> None:
    store = Store()
    alice = store.put(user("alice@sandbox.test", "k1"))
    assert store.delete(User, alice.email)
    assert store.get(User, alice.email) is None
    assert store.find(User, "public_keys", "k1") == []
    assert not store.delete(User, alice.email)


def test_a_transaction_that_raises_leaves_nothing_behind() -> None:
    store = Store()
    kept = store.put(project("kept"))
    with pytest.raises(ApiError, match="refused"), store.transaction():
        store.put(project("half-made"))
        kept.title = "changed"
        store.put(kept)
        raise invalid("refused")
    assert [p.title for p in store.all(Project)] == ["kept"]


def test_a_committed_transaction_survives_a_reopen_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.db"
    store = Store(path)
    with store.transaction():
        record = store.put(project("durable"))
        store.put(api_key(record.hash))
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reopened = Store(path)
    assert reopened.get(Project, record.hash) == record
    assert len(reopened.children(ApiKey, record.hash)) == 1


def test_a_file_that_is_not_sandbox_state_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"{not a database at all}" * 100)
    with pytest.raises(ValueError, match="not a sandbox state database"):
        Store(garbage)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(ValueError, match="unsupported sandbox state version 99"):
        Store(foreign)


def test_one_write_among_thousands_of_children_writes_a_few_pages(tmp_path: Path) -> None:
    """A write appends its own pages to the WAL; the rest of the database stays where it is."""
    path = tmp_path / "sandbox.db"
    store = Store(path)
    parent = project("big")
    with store.transaction():
        store.put(parent)
        for i in range(5000):
            store.put(api_key(parent.hash, T0 + timedelta(microseconds=i)))
    store.close()  # checkpoints: the WAL starts empty on reopen
    store = Store(path)
    with store.transaction():
        store.put(api_key(parent.hash, T0 + timedelta(days=1)))
    wal = Path(f"{path}-wal").read_bytes()
    page_size = int.from_bytes(wal[8:12], "big")
    pages_written = (len(wal) - 32) // (page_size + 24)  # a 32-byte header, then a frame (24 + page) per page
    database_pages = path.stat().st_size // page_size
    # A leaf (now and then a split) in each of five B-trees (records, its two indexes, the secondary keys and
    # their index), plus the header page: a handful, against the thousand a rewrite would cost.
    assert database_pages > 1000
    assert 0 < pages_written <= 24, f"one write wrote {pages_written} of {database_pages} pages"
