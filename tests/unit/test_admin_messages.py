"""Error messages name the public RPC or CLI command a user can run, never the gateway's internal functions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.access import TokenStore
from encord_gateway.access.errors import AlreadyExistsError
from encord_gateway.access.policy import parse_policy
from encord_gateway.upstream.signing import private_key_to_openssh
from encord_gateway.vault import CredentialExistsError, CredentialNotFoundError, Vault

INTERNAL_NAMES = ("begin_org_key_rotation", "complete_org_key_rotation", "add_org_key", "abort_org_key_rotation")


def openssh() -> bytes:
    return private_key_to_openssh(Ed25519PrivateKey.generate())


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    opened = Vault.open(tmp_path / "data" / "vault")
    yield opened
    opened.close()


def assert_public(message: str) -> None:
    assert not any(name in message for name in INTERNAL_NAMES), message


def test_registering_a_second_key_points_to_key_rotation_by_its_rpc_and_command(vault: Vault) -> None:
    vault.add_org_key("acme", openssh())
    with pytest.raises(CredentialExistsError) as refused:
        vault.add_org_key("acme", openssh())
    message = str(refused.value)
    assert_public(message)
    assert "RotateOrganisationKey (POST /admin/v1/organisations/acme/keys:rotate)" in message
    assert "`encord-gateway vault rotate-org-key --org acme --key-file FILE`" in message


def test_rotating_without_a_key_points_to_registering_one(vault: Vault) -> None:
    with pytest.raises(CredentialNotFoundError) as refused:
        vault.begin_org_key_rotation("nobody", openssh())
    message = str(refused.value)
    assert_public(message)
    assert "RegisterOrganisationKey" in message and "`encord-gateway vault add-org-key`" in message


def test_creating_a_caller_twice_points_to_changing_its_policy(tmp_path: Path) -> None:
    policy = parse_policy({"grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read"]}]})
    with TokenStore.open(tmp_path / "access") as store:
        store.create_caller("svc", policy)
        with pytest.raises(AlreadyExistsError) as refused:
            store.create_caller("svc", policy)
    assert "SetCallerPolicy" in str(refused.value) and "`encord-gateway caller set-policy --name svc`" in str(
        refused.value
    )


def test_the_cli_names_the_rotation_command_when_a_second_key_is_added(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    vault_dir = tmp_path / "data" / "vault"
    outcomes = []
    vault_dir.parent.mkdir(parents=True, exist_ok=True)  # the CLI refuses a data directory that does not exist
    for n in range(2):
        key_file = tmp_path / f"{n}.key"
        key_file.write_bytes(openssh())
        key_file.chmod(0o600)
        outcomes.append(
            subprocess.run(
                [sys.executable, "-m", "encord_gateway.cli", "vault", "add-org-key", "--org", "acme",
                 "--key-file", str(key_file), "--vault-dir", str(vault_dir)],
                capture_output=True, text=True, env=environment, timeout=60, check=False,
            )
        )  # fmt: skip
    assert outcomes[0].returncode == 0, outcomes[0].stderr
    assert outcomes[1].returncode != 0
    assert_public(outcomes[1].stderr)
    assert "encord-gateway vault rotate-org-key --org acme" in outcomes[1].stderr
