"""Resource API keys, credential listing and revocation, last-used times, and organisation key rotation."""

from __future__ import annotations

import pickle
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from encord_gateway.upstream import signing
from encord_gateway.vault import (
    RESOURCE_SCOPES,
    CredentialExistsError,
    CredentialNotFoundError,
    CredentialStateError,
    InvalidArgumentError,
    InvalidKeyError,
    InvalidScopeError,
    Vault,
    VaultConfig,
)


def made_up_api_key() -> str:
    return "apikey-" + secrets.token_urlsafe(24)  # generated per test; never a real key


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def vault(vault_dir: Path) -> Iterator[Vault]:
    with Vault.open(vault_dir, VaultConfig()) as opened:
        yield opened


def everything_on_disk(vault_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(vault_dir.iterdir()) if p.is_file())


# --- resource API keys -----------------------------------------------------------------------------


def test_scopes_are_exactly_those_of_the_wire_document() -> None:
    assert set(RESOURCE_SCOPES["project"]) == {
        "label.read",
        "label.write",
        "model.inference",
        "model.train",
        "label_logs.read",
        "algo.library",
    }
    assert set(RESOURCE_SCOPES["dataset"]) == {"dataset.read", "dataset.write"}


def test_api_key_is_returned_for_a_held_scope_only(vault: Vault) -> None:
    key = made_up_api_key()
    info = vault.register_resource_api_key("acme", "project", "p1", key, ["label.read", "label.write"])
    assert (info.kind, info.state, info.resource_type, info.resource_hash) == (
        "resource_api_key",
        "active",
        "project",
        "p1",
    )
    assert info.scopes == ("label.read", "label.write")
    credential = vault.api_key_for("acme", "project", "p1", "label.write")
    assert credential is not None
    assert credential.authorization_header() == key
    assert credential.credential_id == info.credential_id
    assert vault.api_key_for("acme", "project", "p1", "model.train") is None
    assert vault.api_key_for("acme", "project", "p2", "label.read") is None
    assert vault.api_key_for("globex", "project", "p1", "label.read") is None


def test_api_key_credential_never_shows_the_key(vault: Vault) -> None:
    key = made_up_api_key()
    vault.register_resource_api_key("acme", "dataset", "d1", key, ["dataset.read"])
    credential = vault.api_key_for("acme", "dataset", "d1", "dataset.read")
    assert credential is not None
    assert key not in repr(credential)
    assert key not in str(credential)
    assert key not in f"{credential}"
    with pytest.raises(TypeError):
        pickle.dumps(credential)


def test_api_key_is_confidential_on_disk(vault: Vault, vault_dir: Path) -> None:
    key = made_up_api_key()
    vault.register_resource_api_key("acme", "dataset", "d1", key, ["dataset.read"])
    assert key.encode() not in everything_on_disk(vault_dir)


@pytest.mark.parametrize(
    ("resource_type", "scopes"),
    [
        ("project", ["dataset.read"]),
        ("dataset", ["label.read"]),
        ("dataset", []),
        ("ontology", ["label.read"]),
        ("project", ["label.read", "admin"]),
    ],
)
def test_scopes_outside_the_wire_document_are_refused(vault: Vault, resource_type: str, scopes: list[str]) -> None:
    with pytest.raises(InvalidScopeError):
        vault.register_resource_api_key("acme", resource_type, "r1", made_up_api_key(), scopes)
    assert vault.list_credentials().credentials == []


@pytest.mark.parametrize("bad", ["", "   ", " padded ", "line\nbreak", "x" * 5000])
def test_malformed_api_key_is_refused_without_echoing_it(vault: Vault, bad: str) -> None:
    with pytest.raises(InvalidKeyError) as caught:
        vault.register_resource_api_key("acme", "project", "p1", bad, ["label.read"])
    if bad.strip():
        assert bad.strip() not in str(caught.value)


def test_registering_the_same_api_key_again_is_idempotent(vault: Vault) -> None:
    key = made_up_api_key()
    first = vault.register_resource_api_key("acme", "project", "p1", key, ["label.read"])
    assert vault.register_resource_api_key("acme", "project", "p1", key, ["label.read"]) == first
    with pytest.raises(CredentialExistsError, match=first.credential_id) as caught:
        vault.register_resource_api_key("acme", "project", "p1", key, ["label.write"])
    assert key not in str(caught.value)


def test_newest_matching_api_key_wins_and_revoked_ones_are_never_used(vault: Vault) -> None:
    old, new = made_up_api_key(), made_up_api_key()
    vault.register_resource_api_key("acme", "project", "p1", old, ["label.read"])
    newest = vault.register_resource_api_key("acme", "project", "p1", new, ["label.read"])
    credential = vault.api_key_for("acme", "project", "p1", "label.read")
    assert credential is not None and credential.authorization_header() == new
    vault.revoke_credential(newest.credential_id)
    credential = vault.api_key_for("acme", "project", "p1", "label.read")
    assert credential is not None and credential.authorization_header() == old


# --- listing, revocation, last used --------------------------------------------------------------


def test_list_credentials_shows_metadata_of_both_kinds_only(vault: Vault) -> None:
    key = made_up_api_key()
    ssh = vault.generate_org_key("acme")
    api = vault.register_resource_api_key("acme", "dataset", "d1", key, ["dataset.write"])
    listed = {c.credential_id: c for c in vault.list_credentials().credentials}
    assert listed[ssh.credential_id].kind == "org_ssh_key"
    assert listed[ssh.credential_id].public_key_hex == ssh.public_key_hex
    assert listed[ssh.credential_id].fingerprint == ssh.fingerprint
    assert listed[api.credential_id].resource_hash == "d1"
    assert listed[api.credential_id].scopes == ("dataset.write",)
    assert all(c.state == "active" and c.last_used_at is None for c in listed.values())
    assert key not in repr(vault.list_credentials())


def test_list_credentials_pages_through_everything_once(vault: Vault) -> None:
    for n in range(7):
        vault.generate_org_key(f"org{n}")
    seen: list[str] = []
    token = ""
    while True:
        page = vault.list_credentials(page_size=3, page_token=token)
        assert len(page.credentials) <= 3
        seen.extend(c.credential_id for c in page.credentials)
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(c.credential_id for c in vault.list_credentials(page_size=1000).credentials)
    assert len(seen) == 7
    assert [c.organisation for c in vault.list_credentials("org3").credentials] == ["org3"]


@pytest.mark.parametrize(("size", "token"), [(0, ""), (1001, ""), (10, "garbage!")])
def test_bad_page_arguments_are_refused(vault: Vault, size: int, token: str) -> None:
    with pytest.raises(InvalidArgumentError):
        vault.list_credentials(page_size=size, page_token=token)


def test_revoked_credential_is_never_used_and_its_secret_is_destroyed(vault: Vault, vault_dir: Path) -> None:
    info = vault.generate_org_key("acme")
    revoked = vault.revoke_credential(info.credential_id)
    assert revoked.state == "revoked"
    assert vault.revoke_credential(info.credential_id).state == "revoked"  # idempotent
    with pytest.raises(CredentialNotFoundError):
        vault.signer_for_org("acme")
    with pytest.raises(CredentialStateError):
        vault.signer_for_credential(info.credential_id)
    conn = sqlite3.connect(vault_dir / "vault.db")
    (ciphertext,) = conn.execute("SELECT ciphertext FROM records").fetchone()
    conn.close()
    assert len(ciphertext) == 4 + 1 + 12 + 16  # an empty plaintext: nothing left to restore
    vault.generate_org_key("acme")  # the organisation may register a new key
    with pytest.raises(CredentialNotFoundError):
        vault.revoke_credential("sshkey_nope")


def test_last_used_is_recorded_in_memory_and_flushed_in_batches(vault: Vault, vault_dir: Path) -> None:
    vault.last_used_flush_seconds = 3600.0
    info = vault.generate_org_key("acme")
    writes: list[str] = []
    original = vault._store.put_meta

    def counting(name: str, value: str) -> None:
        writes.append(name)
        original(name, value)

    vault._store.put_meta = counting  # type: ignore[method-assign]
    for _ in range(50):
        vault.signer_for_org("acme")
    assert "last_used" not in writes  # fifty uses, no durable write yet
    (listed,) = vault.list_credentials().credentials
    assert listed.last_used_at is not None
    vault.flush_last_used()
    assert writes.count("last_used") == 1
    vault.close()
    with Vault.open(vault_dir, VaultConfig()) as reopened:
        (listed_again,) = reopened.list_credentials().credentials
        assert listed_again.credential_id == info.credential_id
        assert listed_again.last_used_at == listed.last_used_at


# --- organisation key rotation -------------------------------------------------------------------


def test_org_key_rotation_overlap_then_complete(vault: Vault) -> None:
    old = vault.generate_org_key("acme")
    new = vault.begin_org_key_rotation("acme")
    states = {c.credential_id: c.state for c in vault.list_credentials().credentials}
    assert states == {old.credential_id: "retiring", new.credential_id: "pending"}
    # Both sign during the overlap; traffic keeps the proven key until the canary passes.
    assert vault.signer_for_org("acme").public_key_hex == old.public_key_hex
    canary = vault.signer_for_credential(new.credential_id)
    assert signing.verify(new.public_key_hex, canary.sign(b"canary"), b"canary")
    with pytest.raises(CredentialStateError):
        vault.begin_org_key_rotation("acme")

    done = vault.complete_org_key_rotation("acme")
    assert done.credential_id == new.credential_id
    assert done.state == "active"
    states = {c.credential_id: c.state for c in vault.list_credentials().credentials}
    assert states == {old.credential_id: "revoked", new.credential_id: "active"}
    assert vault.signer_for_org("acme").public_key_hex == new.public_key_hex
    with pytest.raises(CredentialStateError):
        vault.signer_for_credential(old.credential_id)
    with pytest.raises(CredentialStateError):
        vault.complete_org_key_rotation("acme")


def test_org_key_rotation_abort_restores_the_old_key(vault: Vault) -> None:
    old = vault.generate_org_key("acme")
    new = vault.begin_org_key_rotation("acme")
    restored = vault.abort_org_key_rotation("acme")
    assert restored.credential_id == old.credential_id
    states = {c.credential_id: c.state for c in vault.list_credentials().credentials}
    assert states == {old.credential_id: "active", new.credential_id: "revoked"}
    assert vault.signer_for_org("acme").public_key_hex == old.public_key_hex


def test_org_key_rotation_accepts_imported_key_text(vault: Vault) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    vault.generate_org_key("acme")
    key = Ed25519PrivateKey.generate()
    text = signing.private_key_to_openssh(key)
    new = vault.begin_org_key_rotation("acme", text)
    assert new.public_key_hex == signing.describe_public_key(key.public_key()).public_key_hex
    with pytest.raises(CredentialNotFoundError):
        vault.begin_org_key_rotation("nobody")


def test_second_key_without_rotation_points_at_rotation(vault: Vault) -> None:
    vault.generate_org_key("acme")
    with pytest.raises(CredentialExistsError, match="rotation"):
        vault.generate_org_key("acme")
