"""Barrier key lifecycle at the vault level: rotation, old terms, rewrap, automatic rotation, status."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from encord_gateway.upstream import signing
from encord_gateway.vault import Vault, VaultConfig
from encord_gateway.vault.barrier import USAGE_RESERVATION, Barrier

API_KEY = "test-api-key-" + "0123456789abcdef"  # made up at test time, never a real key


def terms_on_disk(vault_dir: Path) -> dict[str, tuple[int, int]]:
    """record id -> (key term of its ciphertext, record version), straight from the database."""
    conn = sqlite3.connect(vault_dir / "vault.db")
    rows = conn.execute("SELECT id, ciphertext, version FROM records").fetchall()
    conn.close()
    return {id: (Barrier.term_of(bytes(ct)), int(version)) for id, ct, version in rows}


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


def test_rotate_new_writes_use_the_new_term(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as vault:
        first = vault.generate_org_key("acme")
        assert vault.rotate_key() == 2
        second = vault.generate_org_key("globex")
        status = vault.status()
    on_disk = terms_on_disk(vault_dir)
    assert on_disk[first.credential_id][0] == 1
    assert on_disk[second.credential_id][0] == 2
    assert (status.terms, status.active_term) == (2, 2)


def test_old_term_decrypts_after_rotations_and_reopen(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as vault:
        info = vault.generate_org_key("acme")
        vault.register_resource_api_key("acme", "project", "p1", API_KEY, ["label.read"])
        vault.rotate_key()
        vault.rotate_key()
    with Vault.open(vault_dir, VaultConfig()) as vault:
        assert vault.key_term == 3
        assert vault.signer_for_org("acme").public_key_hex == info.public_key_hex
        credential = vault.api_key_for("acme", "project", "p1", "label.read")
        assert credential is not None and credential.authorization_header() == API_KEY


def test_rewrap_keeps_data_and_moves_every_record_to_the_active_term(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as vault:
        acme = vault.generate_org_key("acme")
        vault.register_resource_api_key("acme", "dataset", "d1", API_KEY, ["dataset.read"])
        vault.rotate_key()
        globex = vault.generate_org_key("globex")
        result = vault.rewrap()
        assert (result.rewrapped, result.current, result.failed) == (2, 1, ())
        assert vault.rewrap().rewrapped == 0  # idempotent
    on_disk = terms_on_disk(vault_dir)
    assert {term for term, _ in on_disk.values()} == {2}
    assert on_disk[acme.credential_id][1] == 2  # version bumped: the identity (AAD) changed
    assert on_disk[globex.credential_id][1] == 1
    with Vault.open(vault_dir, VaultConfig()) as vault:
        signer = vault.signer_for_org("acme")
        assert signing.verify(acme.public_key_hex, signer.sign(b"x"), b"x")
        assert vault.signer_for_org("globex").public_key_hex == globex.public_key_hex
        credential = vault.api_key_for("acme", "dataset", "d1", "dataset.read")
        assert credential is not None and credential.authorization_header() == API_KEY


def test_rewrap_reports_a_corrupt_record_and_leaves_it_alone(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as vault:
        info = vault.generate_org_key("acme")
        vault.generate_org_key("globex")
        vault.rotate_key()
    conn = sqlite3.connect(vault_dir / "vault.db")
    (ciphertext,) = conn.execute("SELECT ciphertext FROM records WHERE id = ?", (info.credential_id,)).fetchone()
    tampered = bytearray(ciphertext)
    tampered[-1] ^= 0x01
    with conn:
        conn.execute("UPDATE records SET ciphertext = ? WHERE id = ?", (bytes(tampered), info.credential_id))
    conn.close()
    with Vault.open(vault_dir, VaultConfig()) as vault:
        result = vault.rewrap()
    assert result.failed == (info.credential_id,)
    assert result.rewrapped == 1


def test_rewrap_is_cas_safe_against_a_concurrent_writer(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as vault, Vault.open(vault_dir, VaultConfig()) as other:
        info = vault.generate_org_key("acme")
        vault.rotate_key()
        # Another process changes the record after this one listed it: rewrap must re-read, not clobber.
        listed = vault._store.list_records()
        other.revoke_credential(info.credential_id)
        original = vault._store.list_records
        vault._store.list_records = lambda *a, **k: listed  # type: ignore[method-assign]
        try:
            vault.rewrap()
        finally:
            vault._store.list_records = original  # type: ignore[method-assign]
        states = [c.state for c in vault.list_credentials().credentials]
    assert states == ["revoked"]


def test_automatic_rotation_after_configured_encryptions(vault_dir: Path) -> None:
    config = VaultConfig(rotate_after=3)
    with Vault.open(vault_dir, config) as vault:
        for n in range(3):
            vault.generate_org_key(f"org{n}")
        assert vault.key_term == 1
        assert vault.status().encryptions_under_active_term == 3
        vault.generate_org_key("org3")  # the fourth encryption happens under a new term
        assert vault.key_term == 2
        assert vault.status().encryptions_under_active_term == 1
        assert all(vault.signer_for_org(f"org{n}") for n in range(4))


def test_encryption_count_survives_restart_as_an_upper_bound(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as vault:
        vault.generate_org_key("acme")
        assert vault.status().encryptions_under_active_term == 1
    with Vault.open(vault_dir, VaultConfig()) as vault:
        # Reserved in blocks before use: a restart may overcount, never undercount.
        assert vault.status().encryptions_under_active_term == USAGE_RESERVATION
    with Vault.open(vault_dir, VaultConfig(rotate_after=USAGE_RESERVATION)) as vault:
        vault.generate_org_key("globex")
        assert vault.key_term == 2


def test_status_reports_seal_backend_terms_and_kek(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as vault:
        vault.generate_org_key("acme")
        vault.rotate_key()
        status = vault.status()
    assert not status.sealed
    assert status.seal_reason == ""
    assert status.backend == "sqlite"
    assert str(vault_dir / "vault.db") in status.backend_location
    assert status.kek == f"key file {vault_dir / 'vault.key'}"
    assert (status.terms, status.active_term) == (2, 2)
    assert status.encryptions_under_active_term == 0
    assert status.rotate_after == 2**20


def test_rotation_by_another_process_is_adopted_not_overwritten(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as gateway, Vault.open(vault_dir, VaultConfig()) as cli:
        gateway.generate_org_key("acme")
        assert cli.rotate_key() == 2
        written_by_cli = cli.generate_org_key("globex")  # under term 2, which the gateway has not seen
        assert gateway.signer_for_org("globex").public_key_hex == written_by_cli.public_key_hex
        # The gateway's own rotation builds on term 2 instead of clobbering it with another "term 2".
        assert gateway.rotate_key() == 3
        assert cli.signer_for_org("globex").public_key_hex == written_by_cli.public_key_hex
    with Vault.open(vault_dir, VaultConfig()) as vault:
        assert vault.key_term == 3
        assert vault.signer_for_org("acme")
        assert vault.signer_for_org("globex")
