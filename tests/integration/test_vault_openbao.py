"""The vault on a real OpenBao: KV v2 storage, Transit as the KEK, and sealing when Transit is unavailable."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import pytest
from encord_gateway.upstream import signing
from encord_gateway.vault import SealedError, Vault, VaultConfig
from openbao import OpenBao, openbao_server  # noqa: F401  (provides the session fixture `openbao`)


def config_for(server: OpenBao, **overrides: object) -> VaultConfig:
    values: dict[str, object] = {
        "backend": "openbao",
        "kek_source": "transit",
        "openbao_addr": server.url,
        "openbao_token": server.token,
        "kv_prefix": f"gw-{secrets.token_hex(6)}",
        "transit_key": f"gw-{secrets.token_hex(6)}",
        "openbao_timeout": 2.0,
    }
    values.update(overrides)
    return VaultConfig(**values)  # type: ignore[arg-type]


def dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed again: nothing listens there


def test_vault_on_openbao_kv_with_transit_kek_round_trips(openbao: OpenBao, tmp_path: Path) -> None:
    config = config_for(openbao)
    api_key = "apikey-" + secrets.token_urlsafe(24)
    with Vault.open(tmp_path, config) as vault:
        status = vault.status()
        assert not status.sealed
        assert status.backend == "openbao-kv"
        assert "Transit" in status.kek
        info = vault.generate_org_key("acme")
        vault.register_resource_api_key("acme", "project", "p1", api_key, ["label.read"])
        vault.rotate_key()
        assert vault.rewrap().rewrapped == 2
    assert list(tmp_path.iterdir()) == []  # nothing on local disk: KV holds records, Transit the KEK
    with Vault.open(tmp_path, config) as vault:
        signer = vault.signer_for_org("acme")
        assert signing.verify(info.public_key_hex, signer.sign(b"x"), b"x")
        credential = vault.api_key_for("acme", "project", "p1", "label.read")
        assert credential is not None and credential.authorization_header() == api_key
        assert vault.status().active_term == 2


def test_kv_holds_only_ciphertext(openbao: OpenBao, tmp_path: Path) -> None:
    config = config_for(openbao, kek_source="env")
    api_key = "apikey-" + secrets.token_urlsafe(24)
    with pytest.MonkeyPatch.context() as patch:
        from encord_gateway.vault.kek import EnvironmentKek

        patch.setenv("ENCORD_GATEWAY_VAULT_KEK", EnvironmentKek.generate())
        with Vault.open(tmp_path, config) as vault:
            info = vault.register_resource_api_key("acme", "dataset", "d1", api_key, ["dataset.read"])
    org_segment = "YWNtZQ"  # base64url("acme")
    path = f"/v1/secret/data/{config.kv_prefix}/records/resource_api_key/{org_segment}/{info.credential_id}"
    status, body = openbao.request("GET", path)
    assert status == 200
    assert api_key not in str(body)
    assert "dataset.read" in str(body)  # metadata stays readable


def test_sealed_until_kek_transit_unreachable(openbao: OpenBao, tmp_path: Path) -> None:
    config = config_for(openbao, kek_source="transit", backend="sqlite")
    with Vault.open(tmp_path, config) as vault:
        info = vault.generate_org_key("acme")
    unreachable = config_for(openbao, kek_source="transit", backend="sqlite", openbao_addr=dead_address())
    with Vault.open(tmp_path, unreachable) as vault:
        status = vault.status()
        assert status.sealed
        assert "unreachable" in status.seal_reason
        with pytest.raises(SealedError, match="Transit") as caught:
            vault.signer_for_org("acme")
        assert openbao.token not in str(caught.value)
        assert not vault.try_unseal()
    with Vault.open(tmp_path, config) as vault:  # Transit is back: unsealed, nothing lost
        assert vault.signer_for_org("acme").public_key_hex == info.public_key_hex


def test_sealed_until_kek_wrong_transit_key(openbao: OpenBao, tmp_path: Path) -> None:
    config = config_for(openbao, backend="sqlite")
    with Vault.open(tmp_path, config) as vault:
        vault.generate_org_key("acme")
    wrong = VaultConfig(**{**config.__dict__, "transit_key": "someone-elses-key"})
    with Vault.open(tmp_path, wrong) as vault:
        assert vault.status().sealed
        assert "does not unseal" in vault.status().seal_reason


def test_sealed_until_kek_openbao_backend_unreachable_then_back(openbao: OpenBao, tmp_path: Path) -> None:
    config = config_for(openbao)
    with Vault.open(tmp_path, config) as vault:
        info = vault.generate_org_key("acme")
    down = VaultConfig(**{**config.__dict__, "openbao_addr": dead_address()})
    with Vault.open(tmp_path, down) as vault:  # opening does not fail: the gateway starts sealed
        assert vault.status().sealed
        assert "unreachable" in vault.status().seal_reason
    with Vault.open(tmp_path, config) as vault:
        assert vault.signer_for_org("acme").public_key_hex == info.public_key_hex


def test_two_replicas_reserve_disjoint_blocks_of_the_shared_encryption_counter(
    openbao: OpenBao, tmp_path: Path
) -> None:
    """Each replica's reservation adds to the shared count; none overwrites another's (KV v2 check-and-set)."""
    from encord_gateway.vault.barrier import USAGE_RESERVATION

    config = config_for(openbao, kv_prefix=f"usage-{secrets.token_hex(4)}")
    first, second = Vault.open(tmp_path / "a", config), Vault.open(tmp_path / "b", config)
    try:
        first.generate_org_key("acme")  # one encryption: reserves the first block
        second.generate_org_key("globex")  # the second replica's first encryption reserves the next one
        assert second.status().encryptions_under_active_term >= USAGE_RESERVATION
        third = Vault.open(tmp_path / "c", config)
        try:  # a replica starting now counts both blocks as possibly used
            assert third.status().encryptions_under_active_term == 2 * USAGE_RESERVATION
        finally:
            third.close()
    finally:
        first.close()
        second.close()
