"""`encord-gateway vault ...` and `audit ...`: the administration commands, and that they never print keys."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from encord_gateway.vault import Vault, VaultConfig
from encord_gateway.vault.audit import AuditLog, hash_identifier, load_salt


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "encord_gateway.vault.commands", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=environment,
        timeout=60,
        check=False,
    )


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


def test_add_api_key_reads_the_key_from_stdin_and_never_prints_it(vault_dir: Path) -> None:
    key = "apikey-" + secrets.token_urlsafe(24)
    result = run_cli(
        "vault", "add-api-key", "--org", "acme", "--resource-type", "project", "--resource", "p1",
        "--scopes", "label.read,label.write", "--vault-dir", str(vault_dir), stdin=key + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert key not in result.stdout + result.stderr
    assert "label.read, label.write" in result.stdout
    with Vault.open(vault_dir, VaultConfig()) as vault:
        credential = vault.api_key_for("acme", "project", "p1", "label.write")
        assert credential is not None and credential.authorization_header() == key


def test_add_api_key_from_a_file_and_list_credentials(vault_dir: Path, tmp_path: Path) -> None:
    key = "apikey-" + secrets.token_urlsafe(24)
    key_file = tmp_path / "key.txt"
    key_file.write_text(key)
    added = run_cli(
        "vault", "add-api-key", "--org", "acme", "--resource-type", "dataset", "--resource", "d1",
        "--scopes", "dataset.read", "--key-file", str(key_file), "--vault-dir", str(vault_dir),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listing = run_cli("vault", "list-credentials", "--vault-dir", str(vault_dir))
    assert listing.returncode == 0, listing.stderr
    assert "dataset/d1 scopes=dataset.read" in listing.stdout
    assert key not in listing.stdout + listing.stderr


def test_add_api_key_with_a_foreign_scope_exits_2(vault_dir: Path) -> None:
    result = run_cli(
        "vault", "add-api-key", "--org", "acme", "--resource-type", "dataset", "--resource", "d1",
        "--scopes", "label.read", "--vault-dir", str(vault_dir), stdin="some-key",
    )  # fmt: skip
    assert result.returncode == 2
    assert "label.read" in result.stderr
    assert "some-key" not in result.stderr
    assert "Traceback" not in result.stderr


def test_status_rotate_rewrap_revoke(vault_dir: Path) -> None:
    with Vault.open(vault_dir, VaultConfig()) as vault:
        info = vault.generate_org_key("acme")
    status = run_cli("vault", "status", "--vault-dir", str(vault_dir))
    assert status.returncode == 0, status.stderr
    assert "sealed:        no" in status.stdout
    assert "active term:   1" in status.stdout
    rotate = run_cli("vault", "rotate", "--vault-dir", str(vault_dir))
    assert rotate.returncode == 0 and "active term: 2" in rotate.stdout
    rewrap = run_cli("vault", "rewrap", "--vault-dir", str(vault_dir))
    assert rewrap.returncode == 0 and "rewrapped 1 records under term 2" in rewrap.stdout
    revoke = run_cli("vault", "revoke", info.credential_id, "--vault-dir", str(vault_dir))
    assert revoke.returncode == 0 and "revoked" in revoke.stdout
    missing = run_cli("vault", "revoke", "sshkey_nope", "--vault-dir", str(vault_dir))
    assert missing.returncode == 2 and "sshkey_nope" in missing.stderr


def test_status_of_a_sealed_vault_names_the_seal(vault_dir: Path) -> None:
    Vault.open(vault_dir, VaultConfig()).close()
    (vault_dir / "vault.key").unlink()
    status = run_cli("vault", "status", "--vault-dir", str(vault_dir))
    assert status.returncode == 0, status.stderr
    assert "sealed:        yes" in status.stdout
    assert "vault.key is missing" in status.stdout
    rotate = run_cli("vault", "rotate", "--vault-dir", str(vault_dir))
    assert rotate.returncode == 2 and "vault.key" in rotate.stderr


def test_audit_verify_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.log"
    with AuditLog(path) as log:
        for n in range(3):
            log.append({"type": "admin", "credential_id": f"id-{n}"})
    ok = run_cli("audit", "verify", str(path))
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    hashed = run_cli("audit", "hash", "id-1", env={"ENCORD_GATEWAY_AUDIT_FILE": str(path)})
    assert hashed.returncode == 0, hashed.stderr
    assert hashed.stdout.strip() == hash_identifier(load_salt(path), "id-1")
    assert hashed.stdout.strip() in path.read_text()

    content = path.read_text().splitlines(keepends=True)
    entry = json.loads(content[1])
    entry["event"]["type"] = "nothing to see"
    content[1] = json.dumps(entry) + "\n"
    path.write_text("".join(content))
    broken = run_cli("audit", "verify", str(path))
    assert broken.returncode == 2
    assert "line 2" in broken.stderr
