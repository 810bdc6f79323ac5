"""`vault rotate-org-key` and `audit list`: the admin API's rotation and audit reading, from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.upstream.signing import describe_public_key, private_key_to_openssh

CLI = [sys.executable, "-m", "encord_gateway.cli"]


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENCORD_GATEWAY_DATA_DIR": str(data_dir)}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def key_file(directory: Path, name: str, key: Ed25519PrivateKey) -> Path:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_to_openssh(key))
    return path


def vault_keys(data_dir: Path) -> list[dict[str, str]]:
    listed = cli("vault", "list", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.strip().splitlines()
    names = [name.lower() for name in header.split("\t")]
    return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]


def test_rotation_retires_the_old_key_only_after_encord_accepts_the_new_one(sandbox: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "gateway"
    data_dir.mkdir()  # commands refuse a data directory that does not exist
    user = sandbox.new_user()
    old = key_file(tmp_path, "old.key", user.private_key)
    assert cli("vault", "add-org-key", "--org", "acme", "--key-file", str(old), data_dir=data_dir).returncode == 0

    unknown = Ed25519PrivateKey.generate()
    refused = cli(
        "vault", "rotate-org-key", "--org", "acme", "--key-file", str(key_file(tmp_path, "unknown.key", unknown)),
        "--upstream", sandbox.url, data_dir=data_dir,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "canary" in refused.stderr and "old key stays active" in refused.stderr
    assert [(k["organisation"], k["public key hex"]) for k in vault_keys(data_dir) if k["state"] == "active"] == [
        ("acme", user.public_key_hex)
    ]

    new = Ed25519PrivateKey.generate()
    status, _ = sandbox.control(
        "POST", "/sandbox/v1/users", {"email": user.email, "public_key": describe_public_key(new.public_key()).openssh}
    )
    assert status in (200, 201)
    rotated = cli(
        "vault", "rotate-org-key", "--org", "acme", "--key-file", str(key_file(tmp_path, "new.key", new)),
        "--upstream", sandbox.url, data_dir=data_dir,
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["retired"]["state"] == "revoked"
    states = {k["public key hex"]: k["state"] for k in vault_keys(data_dir)}
    assert states[describe_public_key(new.public_key()).public_key_hex] == "active"
    assert states[user.public_key_hex] == "revoked"
    assert "PRIVATE KEY" not in rotated.stdout + rotated.stderr + refused.stdout + refused.stderr


def test_audit_list_shows_the_most_recent_cli_administration(tmp_path: Path) -> None:
    data_dir = tmp_path / "gateway"
    data_dir.mkdir()  # commands refuse a data directory that does not exist
    for caller in ("svc-a", "svc-b", "svc-c"):
        assert cli("token", "issue", "--org", "acme", "--caller", caller, data_dir=data_dir).returncode == 0
    listed = cli("audit", "list", "--limit", "2", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    events = [json.loads(line) for line in listed.stdout.splitlines()]
    # Each command records its intent before it acts and its outcome after: the last one's two entries.
    assert [event["seq"] for event in events] == [5, 6]
    assert [event["event"].get("phase") or event["event"]["outcome"] for event in events] == ["intent", "OK"]
    assert {event["event"]["operation"] for event in events} == {"cli token issue"}
    assert cli("audit", "verify", data_dir=data_dir).returncode == 0
