"""One backend contract, run against embedded SQLite and a real OpenBao KV v2 dev server."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from encord_gateway.vault.errors import StoreConflictError
from encord_gateway.vault.openbao import OpenBaoKvStore
from encord_gateway.vault.store import Backend, SQLiteStore, StoredRecord
from openbao import OpenBao, openbao_server  # noqa: F401  (provides the session fixture `openbao`)

Opener = Callable[[], Backend]


@pytest.fixture(params=["sqlite", "openbao"])
def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """A function that opens (or re-opens) the same store; every store it opened is closed afterwards."""
    opened: list[Backend] = []
    if request.param == "sqlite":

        def opener() -> Backend:
            opened.append(SQLiteStore.open(tmp_path / "vault.db"))
            return opened[-1]
    else:
        server: OpenBao = request.getfixturevalue("openbao")
        prefix = f"contract-{secrets.token_hex(6)}"  # every test gets its own folder

        def opener() -> Backend:
            opened.append(OpenBaoKvStore.connect(server.url, server.token, prefix=prefix))
            return opened[-1]

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(open_backend: Opener) -> Backend:
    return open_backend()


def record(
    id: str = "sshkey_01", version: int = 1, organisation: str = "acme", kind: str = "org_ssh_key"
) -> StoredRecord:
    return StoredRecord(kind, organisation, id, version, {"state": "active", "n": version}, b"\x00ct-" + id.encode())


def test_put_then_get_returns_the_same_record(store: Backend) -> None:
    written = record()
    store.put_record(written, cas=0)
    assert store.get_record("org_ssh_key", "acme", "sshkey_01") == written


def test_get_of_an_absent_record_is_none(store: Backend) -> None:
    assert store.get_record("org_ssh_key", "acme", "nothing") is None


def test_list_filters_by_kind_and_organisation(store: Backend) -> None:
    odd_name = "Ünïcode / org with slash"
    store.put_record(record("a", organisation="acme"), cas=0)
    store.put_record(record("b", organisation="acme", kind="resource_api_key"), cas=0)
    store.put_record(record("c", organisation=odd_name), cas=0)
    assert [r.id for r in store.list_records()] == ["a", "b", "c"]
    assert [r.id for r in store.list_records("org_ssh_key")] == ["a", "c"]
    assert [r.id for r in store.list_records(organisation="acme")] == ["a", "b"]
    assert [r.id for r in store.list_records("org_ssh_key", odd_name)] == ["c"]
    assert store.list_records("org_ssh_key", "nobody") == []


def test_delete_removes_and_reports_whether_it_did(store: Backend) -> None:
    store.put_record(record(), cas=0)
    assert store.delete_record("org_ssh_key", "acme", "sshkey_01")
    assert store.get_record("org_ssh_key", "acme", "sshkey_01") is None
    assert not store.delete_record("org_ssh_key", "acme", "sshkey_01")
    assert store.list_records() == []


def test_cas_zero_refuses_an_existing_record(store: Backend) -> None:
    store.put_record(record(), cas=0)
    with pytest.raises(StoreConflictError):
        store.put_record(record(), cas=0)


def test_cas_at_the_current_version_writes_the_next(store: Backend) -> None:
    store.put_record(record(version=1), cas=0)
    store.put_record(record(version=2), cas=1)
    store.put_record(record(version=3), cas=2)
    found = store.get_record("org_ssh_key", "acme", "sshkey_01")
    assert found is not None
    assert found.version == 3
    assert found.metadata["n"] == 3


def test_cas_at_a_stale_version_conflicts_and_changes_nothing(store: Backend) -> None:
    store.put_record(record(version=1), cas=0)
    store.put_record(record(version=2), cas=1)
    with pytest.raises(StoreConflictError):
        store.put_record(record(version=2), cas=1)
    found = store.get_record("org_ssh_key", "acme", "sshkey_01")
    assert found is not None and found.version == 2


def test_cas_on_an_absent_record_conflicts(store: Backend) -> None:
    with pytest.raises(StoreConflictError):
        store.put_record(record(version=4), cas=3)


def test_cas_must_write_the_next_version(store: Backend) -> None:
    # The version is bound into the ciphertext: skipping or repeating one would break decryption.
    with pytest.raises(ValueError, match="version"):
        store.put_record(record(version=5), cas=0)


def test_deleted_record_can_be_created_again(store: Backend) -> None:
    store.put_record(record(version=1), cas=0)
    store.put_record(record(version=2), cas=1)
    store.delete_record("org_ssh_key", "acme", "sshkey_01")
    store.put_record(record(version=1), cas=0)
    found = store.get_record("org_ssh_key", "acme", "sshkey_01")
    assert found is not None and found.version == 1


def test_concurrent_cas_writers_exactly_one_wins(store: Backend) -> None:
    store.put_record(record(version=1), cas=0)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def writer() -> None:
        barrier.wait()
        try:
            store.put_record(record(version=2), cas=1)
            outcomes.append("won")
        except StoreConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]


def test_keyring_first_creator_wins(store: Backend) -> None:
    assert store.get_keyring() is None
    assert store.create_keyring(b"first") == b"first"
    assert store.create_keyring(b"second") == b"first"
    assert store.get_keyring() == b"first"


def test_keyring_replacement_is_conditional_on_what_was_read(store: Backend) -> None:
    store.create_keyring(b"one")
    store.put_keyring(b"two", previous=b"one")
    with pytest.raises(StoreConflictError):
        store.put_keyring(b"three", previous=b"one")
    assert store.get_keyring() == b"two"
    store.put_keyring(b"four")
    assert store.get_keyring() == b"four"


def test_meta_values_round_trip_and_overwrite(store: Backend) -> None:
    assert store.get_meta("barrier_usage") is None
    store.put_meta("barrier_usage", '{"term": 1}')
    store.put_meta("barrier_usage", '{"term": 2}')
    assert store.get_meta("barrier_usage") == '{"term": 2}'


def test_everything_persists_across_reopen(open_backend: Opener) -> None:
    first = open_backend()
    first.create_keyring(b"wrapped")
    first.put_meta("m", "v")
    first.put_record(record("a", version=1), cas=0)
    first.put_record(record("a", version=2), cas=1)
    first.put_record(record("b", version=1, organisation="globex"), cas=0)
    first.close()
    second = open_backend()
    assert second.get_keyring() == b"wrapped"
    assert second.get_meta("m") == "v"
    assert [(r.id, r.version) for r in second.list_records()] == [("a", 2), ("b", 1)]
    with pytest.raises(StoreConflictError):
        second.put_record(record("a", version=2), cas=1)


def test_describes_itself_without_credentials(store: Backend, request: pytest.FixtureRequest) -> None:
    assert store.name in ("sqlite", "openbao-kv")
    shown = store.description + repr(store)
    if store.name == "openbao-kv":
        server: OpenBao = request.getfixturevalue("openbao")
        assert server.token not in shown


def test_concurrent_updates_from_two_replicas_lose_nothing(open_backend: Opener) -> None:
    """The encryption counter is a read-modify-write shared by replicas: each update must see the last one."""
    replicas = [open_backend(), open_backend()]
    updates_each = 15

    def add_one(raw: str | None) -> str:
        return str(int(raw or "0") + 1)

    def work(store: Backend) -> None:
        for _ in range(updates_each):
            store.update_meta("counter", add_one)

    threads = [threading.Thread(target=work, args=(store,)) for store in replicas for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replicas[0].get_meta("counter") == str(4 * updates_each)
