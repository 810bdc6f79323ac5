"""A record's metadata (an API key's scopes, a key's state) is bound to its ciphertext, on both backends.

Before, the metadata was stored in the clear without integrity: editing an API key's scopes from
`dataset.read` to `dataset.read,dataset.write` in the store was accepted silently. Now such an edit fails
the record's authentication and the credential is refused (CREDENTIAL_UNUSABLE); records written before
the binding existed stay readable until `rewrap` migrates them, after which the old format is refused.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from encord_gateway.vault import CredentialCorruptError, Vault, VaultConfig
from encord_gateway.vault import barrier as barrier_module
from openbao import OpenBao, openbao_server  # noqa: F401  (provides the session fixture `openbao`)

Edit = Callable[[dict[str, Any]], None]


@dataclass
class Installation:
    """Where a vault lives, and how someone with write access to its storage edits a record's metadata."""

    directory: Path
    config: VaultConfig
    tamper: Callable[[str, str, Edit], None]  # (kind, credential id, edit of the metadata dict)

    def open(self) -> Vault:
        return Vault.open(self.directory, self.config)


def _sqlite(tmp_path: Path) -> Installation:
    directory = tmp_path / "vault"

    def tamper(kind: str, credential_id: str, edit: Edit) -> None:
        with sqlite3.connect(directory / "vault.db") as conn:
            (raw,) = conn.execute("SELECT metadata FROM records WHERE id = ?", (credential_id,)).fetchone()
            metadata = json.loads(raw)
            edit(metadata)
            conn.execute("UPDATE records SET metadata = ? WHERE id = ?", (json.dumps(metadata), credential_id))

    return Installation(directory, VaultConfig(), tamper)


def _openbao(server: OpenBao, tmp_path: Path) -> Installation:
    config = VaultConfig(
        backend="openbao",
        kek_source="transit",
        openbao_addr=server.url,
        openbao_token=server.token,
        kv_prefix=f"integrity-{secrets.token_hex(6)}",
        transit_key=f"integrity-{secrets.token_hex(6)}",
        openbao_timeout=5.0,
    )

    def tamper(kind: str, credential_id: str, edit: Edit) -> None:
        org_segment = "YWNtZQ"  # base64url("acme")
        path = f"/v1/secret/data/{config.kv_prefix}/records/{kind}/{org_segment}/{credential_id}"
        status, body = server.request("GET", path)
        assert status == 200, body
        data = body["data"]["data"]  # type: ignore[index]
        metadata = json.loads(data["metadata"])
        edit(metadata)
        data["metadata"] = json.dumps(metadata, sort_keys=True)
        status, body = server.request("POST", path, {"data": data})
        assert status == 200, body

    return Installation(tmp_path / "local", config, tamper)


@pytest.fixture(params=["sqlite", "openbao"])
def installation(request: pytest.FixtureRequest, tmp_path: Path) -> Installation:
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    return _openbao(request.getfixturevalue("openbao"), tmp_path)


def widen(metadata: dict[str, Any]) -> None:
    metadata["scopes"] = ["dataset.read", "dataset.write"]


def register_read_key(vault: Vault) -> str:
    info = vault.register_resource_api_key(
        "acme", "dataset", "d1", "key-" + secrets.token_urlsafe(16), ["dataset.read"]
    )
    return info.credential_id


def test_widening_an_api_keys_scopes_in_the_store_makes_it_refused(installation: Installation) -> None:
    with installation.open() as vault:
        credential_id = register_read_key(vault)
        assert vault.api_key_for("acme", "dataset", "d1", "dataset.read") is not None

    installation.tamper("resource_api_key", credential_id, widen)

    with installation.open() as vault:
        for scope in ("dataset.write", "dataset.read"):
            with pytest.raises(
                CredentialCorruptError, match=f"credential {credential_id} .* failed its integrity check"
            ):
                vault.api_key_for("acme", "dataset", "d1", scope)


def test_editing_an_organisation_keys_state_makes_it_refused(installation: Installation) -> None:
    with installation.open() as vault:
        info = vault.generate_org_key("acme")
        vault.signer_for_org("acme")

    installation.tamper("org_ssh_key", info.credential_id, lambda m: m.update(created_at="2000-01-01T00:00:00+00:00"))

    with installation.open() as vault, pytest.raises(CredentialCorruptError):
        vault.signer_for_org("acme")


@pytest.fixture
def unbound_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Make the barrier write the old layout (identity only) until the returned function is called."""
    monkeypatch.setattr(barrier_module, "FORMAT_VERSION", barrier_module.FORMAT_UNBOUND)
    monkeypatch.setattr(barrier_module, "_aad", lambda identity, bound: identity.associated_data())
    yield monkeypatch.undo


def test_records_from_before_the_binding_are_migrated_by_rewrap(
    installation: Installation, unbound_writes: Callable[[], None]
) -> None:
    with installation.open() as vault:  # an installation from before: unbound records, no records_format
        credential_id = register_read_key(vault)
        vault._store.put_meta("records_format", "")
    unbound_writes()

    installation.tamper("resource_api_key", credential_id, widen)
    with installation.open() as vault:
        # The old format could not tell: this is the defect, and why existing records must be migrated.
        assert vault.api_key_for("acme", "dataset", "d1", "dataset.write") is not None
        installation.tamper("resource_api_key", credential_id, lambda m: m.update(scopes=["dataset.read"]))
        assert vault.rewrap().rewrapped == 1

    installation.tamper("resource_api_key", credential_id, widen)
    with installation.open() as vault, pytest.raises(CredentialCorruptError):
        vault.api_key_for("acme", "dataset", "d1", "dataset.write")


def test_after_migration_an_unbound_record_is_refused(
    installation: Installation, unbound_writes: Callable[[], None]
) -> None:
    with installation.open() as vault:  # a new (so bound) vault into which an old-format record is put
        register_read_key(vault)
    unbound_writes()
    with installation.open() as vault, pytest.raises(CredentialCorruptError):
        vault.api_key_for("acme", "dataset", "d1", "dataset.read")
