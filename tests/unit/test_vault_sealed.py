"""SealedUntilKek: without its key-encryption key the vault opens sealed, refuses use, and unseals later."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from encord_gateway.vault import SealedError, Vault, VaultConfig, VaultError
from encord_gateway.vault.kek import EnvironmentKek

VARIABLE = "ENCORD_GATEWAY_VAULT_KEK"
ENV_CONFIG = VaultConfig(kek_source="env")


def test_sealed_until_kek_environment_variable_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    with Vault.open(tmp_path, ENV_CONFIG) as vault:
        status = vault.status()
        assert status.sealed
        assert status.kek == f"environment variable {VARIABLE}"
        assert VARIABLE in status.seal_reason
        with pytest.raises(SealedError) as caught:
            vault.signer_for_org("acme")
        # It names the seal and what would unseal it.
        assert f"environment variable {VARIABLE}" in str(caught.value)
        assert "base64" in str(caught.value)
        with pytest.raises(SealedError):
            vault.generate_org_key("acme")
        assert not vault.try_unseal()

        value = EnvironmentKek.generate()
        monkeypatch.setenv(VARIABLE, value)
        assert vault.try_unseal()
        assert not vault.status().sealed
        info = vault.generate_org_key("acme")
        assert vault.signer_for_org("acme").public_key_hex == info.public_key_hex
    assert not (tmp_path / "vault.key").exists()  # the env KEK never falls back to a key file
    with Vault.open(tmp_path, ENV_CONFIG) as vault:
        assert vault.signer_for_org("acme").public_key_hex == info.public_key_hex


@pytest.mark.parametrize(
    "value", [base64.b64encode(os.urandom(32)).decode(), "not base64!", base64.b64encode(b"short").decode()]
)
def test_wrong_or_malformed_environment_kek_seals_without_showing_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(VARIABLE, EnvironmentKek.generate())
    with Vault.open(tmp_path, ENV_CONFIG) as vault:
        vault.generate_org_key("acme")
    monkeypatch.setenv(VARIABLE, value)
    with Vault.open(tmp_path, ENV_CONFIG) as vault:
        status = vault.status()
        assert status.sealed
        assert VARIABLE in status.seal_reason
        assert value not in status.seal_reason
        with pytest.raises(SealedError) as caught:
            vault.signer_for_org("acme")
        assert value not in str(caught.value)


def test_vault_initialised_with_a_key_file_is_not_unsealed_by_an_environment_kek(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Vault.open(tmp_path, VaultConfig()).close()  # initialised with a key file
    monkeypatch.setenv(VARIABLE, EnvironmentKek.generate())
    with Vault.open(tmp_path, ENV_CONFIG) as vault:
        assert vault.status().sealed
        assert "does not unseal" in vault.status().seal_reason


def test_sealed_vault_still_lists_metadata(tmp_path: Path) -> None:
    with Vault.open(tmp_path, VaultConfig()) as vault:
        info = vault.generate_org_key("acme")
    (tmp_path / "vault.key").rename(tmp_path / "elsewhere.key")
    with Vault.open(tmp_path, VaultConfig()) as vault:
        assert vault.status().sealed
        assert [c.credential_id for c in vault.list_credentials().credentials] == [info.credential_id]
        assert vault.organisations() == ["acme"]


def test_config_from_env_reads_every_documented_variable() -> None:
    config = VaultConfig.from_env(
        {
            "ENCORD_GATEWAY_VAULT_BACKEND": "openbao",
            "ENCORD_GATEWAY_VAULT_KEK_SOURCE": "transit",
            "ENCORD_GATEWAY_OPENBAO_ADDR": "http://127.0.0.1:1",
            "ENCORD_GATEWAY_OPENBAO_TOKEN": "token-value",
            "ENCORD_GATEWAY_OPENBAO_KV_MOUNT": "kv",
            "ENCORD_GATEWAY_OPENBAO_KV_PREFIX": "gw",
            "ENCORD_GATEWAY_OPENBAO_TRANSIT_MOUNT": "tr",
            "ENCORD_GATEWAY_OPENBAO_TRANSIT_KEY": "k",
            "ENCORD_GATEWAY_OPENBAO_TIMEOUT": "2.5",
            "ENCORD_GATEWAY_VAULT_ROTATE_AFTER": "1000",
        }
    )
    assert (config.backend, config.kek_source, config.kv_mount, config.kv_prefix) == ("openbao", "transit", "kv", "gw")
    assert (config.transit_mount, config.transit_key, config.openbao_timeout) == ("tr", "k", 2.5)
    assert config.rotate_after == 1000
    assert "token-value" not in repr(config)
    assert VaultConfig.from_env({}) == VaultConfig()


@pytest.mark.parametrize(
    "environ",
    [
        {"ENCORD_GATEWAY_VAULT_BACKEND": "postgres"},
        {"ENCORD_GATEWAY_VAULT_KEK_SOURCE": "kms"},
        {"ENCORD_GATEWAY_VAULT_BACKEND": "openbao"},  # no address
        {"ENCORD_GATEWAY_VAULT_ROTATE_AFTER": "lots"},
    ],
)
def test_bad_configuration_is_a_clear_error(environ: dict[str, str]) -> None:
    with pytest.raises(VaultError):
        VaultConfig.from_env(environ)
