"""The vault keeps organisation keys confidential at rest and only ever hands out working signers."""

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.upstream import signing
from encord_gateway.vault import (
    CredentialCorruptError,
    CredentialExistsError,
    CredentialNotFoundError,
    InsecureFileError,
    InvalidKeyError,
    InvalidNameError,
    SealedError,
    Vault,
    key_is_encrypted,
)

PASSPHRASE = b"correct horse battery staple"

try:
    import bcrypt  # noqa: F401  (cryptography needs it for passphrase-protected OpenSSH keys)

    HAVE_BCRYPT = True
except ImportError:
    HAVE_BCRYPT = False
needs_bcrypt = pytest.mark.skipif(not HAVE_BCRYPT, reason="bcrypt is not installed (a project dependency)")


def openssh(key: Ed25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)


def seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def public_hex(key: Ed25519PrivateKey) -> str:
    return signing.describe_public_key(key.public_key()).public_key_hex


def stored_bytes(directory: Path) -> bytes:
    """Everything the vault wrote to disk, WAL included (a checkpoint may not have happened yet)."""
    return b"".join(path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "vault"


@pytest.fixture
def vault(vault_dir: Path) -> Iterator[Vault]:
    opened = Vault.open(vault_dir)
    yield opened
    opened.close()


def test_add_org_key_returns_metadata_only(vault: Vault) -> None:
    key = Ed25519PrivateKey.generate()
    info = vault.add_org_key("acme", openssh(key))
    described = signing.describe_public_key(key.public_key())
    assert info.organisation == "acme"
    assert info.public_key_hex == described.public_key_hex
    assert info.fingerprint == described.fingerprint
    assert info.public_key_openssh == described.openssh
    assert info.state == "active"
    assert info.credential_id
    shown = repr(info) + str(vars(info) if hasattr(info, "__dict__") else "")
    assert seed(key).hex() not in shown
    assert "PRIVATE KEY" not in shown


def test_signer_signs_verifiably(vault: Vault) -> None:
    key = Ed25519PrivateKey.generate()
    vault.add_org_key("acme", openssh(key))
    signer = vault.signer_for_org("acme")
    assert signer.public_key_hex == public_hex(key)
    assert signing.verify(signer.public_key_hex, signer.sign(b"payload"), b"payload")
    assert not signing.verify(signer.public_key_hex, signer.sign(b"payload"), b"other payload")


def test_readding_the_same_key_is_idempotent(vault: Vault) -> None:
    text = openssh(Ed25519PrivateKey.generate())
    first = vault.add_org_key("acme", text)
    second = vault.add_org_key("acme", text)
    assert first == second
    assert len(vault.list_org_keys()) == 1


def test_a_second_different_key_for_an_organisation_is_refused(vault: Vault) -> None:
    vault.add_org_key("acme", openssh(Ed25519PrivateKey.generate()))
    with pytest.raises(CredentialExistsError, match="acme"):
        vault.add_org_key("acme", openssh(Ed25519PrivateKey.generate()))


def test_organisations_are_kept_apart(vault: Vault) -> None:
    acme, globex = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    vault.add_org_key("acme", openssh(acme))
    vault.add_org_key("globex", openssh(globex))
    assert vault.organisations() == ["acme", "globex"]
    assert vault.signer_for_org("acme").public_key_hex == public_hex(acme)
    assert vault.signer_for_org("globex").public_key_hex == public_hex(globex)


@needs_bcrypt
def test_passphrase_protected_openssh_key_is_accepted(vault: Vault) -> None:
    key = Ed25519PrivateKey.generate()
    text = openssh(key, PASSPHRASE)
    assert key_is_encrypted(text)
    info = vault.add_org_key("acme", text, PASSPHRASE)
    assert info.public_key_hex == public_hex(key)
    assert vault.signer_for_org("acme").public_key_hex == public_hex(key)


def test_passphrase_protected_pkcs8_key_is_accepted(vault: Vault) -> None:
    key = Ed25519PrivateKey.generate()
    text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE),
    )
    assert key_is_encrypted(text)
    assert vault.add_org_key("acme", text, PASSPHRASE).public_key_hex == public_hex(key)


def test_passphrase_offered_for_an_unprotected_key_is_harmless(vault: Vault) -> None:
    key = Ed25519PrivateKey.generate()
    assert not key_is_encrypted(openssh(key))
    assert vault.add_org_key("acme", openssh(key), PASSPHRASE).public_key_hex == public_hex(key)


@needs_bcrypt
@pytest.mark.parametrize("offered", [b"wrong passphrase", None], ids=["wrong", "missing"])
def test_wrong_or_missing_passphrase_is_a_clear_error_without_key_text(vault: Vault, offered: bytes | None) -> None:
    text = openssh(Ed25519PrivateKey.generate(), PASSPHRASE)
    with pytest.raises(InvalidKeyError, match="passphrase") as caught:
        vault.add_org_key("acme", text, offered)
    message = str(caught.value)
    assert all(line.decode() not in message for line in text.splitlines()[1:-1])
    assert PASSPHRASE.decode() not in message
    assert vault.list_org_keys() == []


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_non_ed25519_key_is_refused(vault: Vault, kind: str) -> None:
    other = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    text = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    with pytest.raises(InvalidKeyError, match="Ed25519"):
        vault.add_org_key("acme", text)


# Armour without a key in it; split so that secret scanners do not flag this file.
ARMOUR_ONLY = b"-----BEGIN OPENSSH " + b"PRIVATE KEY-----\nAAAA\n"


@pytest.mark.parametrize("garbage", [b"", b"hello", ARMOUR_ONLY])
def test_unreadable_key_is_refused(vault: Vault, garbage: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        vault.add_org_key("acme", garbage)


@pytest.mark.parametrize("name", ["", "  ", "acme\n", "a\x00b", "x" * 1000])
def test_bad_organisation_names_are_refused(vault: Vault, name: str) -> None:
    with pytest.raises(InvalidNameError):
        vault.generate_org_key(name)


def test_generate_org_key_creates_a_working_key(vault: Vault) -> None:
    info = vault.generate_org_key("demo")
    signer = vault.signer_for_org("demo")
    assert signer.public_key_hex == info.public_key_hex
    assert signing.verify(info.public_key_hex, signer.sign(b"x"), b"x")


def test_unknown_organisation_is_not_found(vault: Vault) -> None:
    with pytest.raises(CredentialNotFoundError, match="nobody"):
        vault.signer_for_org("nobody")


def test_reopen_finds_the_key(vault_dir: Path) -> None:
    key = Ed25519PrivateKey.generate()
    with Vault.open(vault_dir) as vault:
        info = vault.add_org_key("acme", openssh(key))
    with Vault.open(vault_dir) as vault:
        assert vault.list_org_keys() == [info]
        assert vault.organisations() == ["acme"]
        signer = vault.signer_for_org("acme")
        assert signing.verify(public_hex(key), signer.sign(b"after restart"), b"after restart")


def test_confidential_on_disk(vault_dir: Path) -> None:
    key = Ed25519PrivateKey.generate()
    text = openssh(key)
    with Vault.open(vault_dir) as vault:
        vault.add_org_key("acme", text)
        on_disk = stored_bytes(vault_dir)
    assert seed(key) not in on_disk
    assert seed(key).hex().encode() not in on_disk
    assert all(line not in on_disk for line in text.splitlines()[1:-1])
    assert public_hex(key).encode() in on_disk  # the public half is metadata, kept in the clear


def _tamper(vault_dir: Path, statement: str, *params: object) -> None:
    conn = sqlite3.connect(vault_dir / "vault.db")
    with conn:
        conn.execute(statement, params)
    conn.close()


def test_integrity_tampered_ciphertext_is_never_used(vault_dir: Path) -> None:
    with Vault.open(vault_dir) as vault:
        vault.add_org_key("acme", openssh(Ed25519PrivateKey.generate()))
    conn = sqlite3.connect(vault_dir / "vault.db")
    (ciphertext,) = conn.execute("SELECT ciphertext FROM records").fetchone()
    conn.close()
    tampered = bytearray(ciphertext)
    tampered[len(tampered) // 2] ^= 0x80
    _tamper(vault_dir, "UPDATE records SET ciphertext = ?", bytes(tampered))
    with Vault.open(vault_dir) as vault, pytest.raises(CredentialCorruptError, match="acme") as caught:
        vault.signer_for_org("acme")
    assert "integrity" in str(caught.value)


def test_move_integrity_ciphertext_copied_to_another_organisation_is_refused(vault_dir: Path) -> None:
    with Vault.open(vault_dir) as vault:
        vault.add_org_key("acme", openssh(Ed25519PrivateKey.generate()))
        vault.add_org_key("globex", openssh(Ed25519PrivateKey.generate()))
    _tamper(
        vault_dir,
        "UPDATE records SET ciphertext = (SELECT ciphertext FROM records WHERE organisation = 'acme')"
        " WHERE organisation = 'globex'",
    )
    with Vault.open(vault_dir) as vault:
        with pytest.raises(CredentialCorruptError):
            vault.signer_for_org("globex")
        vault.signer_for_org("acme")  # the source record is untouched


def test_edited_public_key_metadata_is_refused(vault_dir: Path) -> None:
    with Vault.open(vault_dir) as vault:
        vault.add_org_key("acme", openssh(Ed25519PrivateKey.generate()))
    other = public_hex(Ed25519PrivateKey.generate())
    _tamper(vault_dir, "UPDATE records SET metadata = json_set(metadata, '$.public_key_hex', ?)", other)
    with Vault.open(vault_dir) as vault, pytest.raises(CredentialCorruptError):
        vault.signer_for_org("acme")


def test_rotated_vault_key_keeps_old_records_and_survives_reopen(vault_dir: Path) -> None:
    acme, globex = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with Vault.open(vault_dir) as vault:
        vault.add_org_key("acme", openssh(acme))
        assert vault.rotate_key() == 2
        vault.add_org_key("globex", openssh(globex))
    with Vault.open(vault_dir) as vault:
        assert vault.key_term == 2
        assert vault.signer_for_org("acme").public_key_hex == public_hex(acme)
        assert vault.signer_for_org("globex").public_key_hex == public_hex(globex)


def test_files_are_private(vault: Vault, vault_dir: Path) -> None:
    vault.generate_org_key("acme")
    assert mode(vault_dir) == 0o700
    assert mode(vault_dir / "vault.db") == 0o600
    assert mode(vault_dir / "vault.key") == 0o600
    assert len((vault_dir / "vault.key").read_bytes()) == 32
    for path in vault_dir.iterdir():  # the -wal and -shm files too
        assert mode(path) & 0o077 == 0, path


@pytest.mark.parametrize("name", ["vault.key", "vault.db"])
def test_refuses_to_open_with_a_readable_file_and_names_it(vault_dir: Path, name: str) -> None:
    Vault.open(vault_dir).close()
    path = vault_dir / name
    path.chmod(0o644)
    with pytest.raises(InsecureFileError) as caught:
        Vault.open(vault_dir)
    assert str(path) in str(caught.value)
    assert f"chmod 600 {path}" in str(caught.value)


def test_sealed_until_kek_key_file_restored(vault_dir: Path) -> None:
    with Vault.open(vault_dir) as vault:
        info = vault.generate_org_key("acme")
    key_bytes = (vault_dir / "vault.key").read_bytes()
    (vault_dir / "vault.key").unlink()
    with Vault.open(vault_dir) as vault:
        assert vault.status().sealed
        assert not (vault_dir / "vault.key").exists()  # a new key could never unseal it
        with pytest.raises(SealedError, match=r"vault\.key") as caught:
            vault.signer_for_org("acme")
        assert "restored" in str(caught.value)
        assert vault.list_org_keys() == [info]  # metadata stays readable while sealed
        assert not vault.try_unseal()
        (vault_dir / "vault.key").write_bytes(key_bytes)
        (vault_dir / "vault.key").chmod(0o600)
        assert vault.try_unseal()
        assert not vault.status().sealed
        assert vault.signer_for_org("acme").public_key_hex == info.public_key_hex


def test_sealed_with_the_wrong_key_file(vault_dir: Path) -> None:
    Vault.open(vault_dir).close()
    (vault_dir / "vault.key").write_bytes(os.urandom(32))
    with Vault.open(vault_dir) as vault:
        assert vault.status().sealed
        assert "does not unseal" in vault.status().seal_reason
        with pytest.raises(SealedError, match="does not unseal"):
            vault.generate_org_key("acme")


# --- CLI -------------------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "encord_gateway.vault.commands", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        timeout=60,
        check=False,
    )


def test_cli_add_org_key_prints_public_key_not_private(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(openssh(key))
    described = signing.describe_public_key(key.public_key())
    result = run_cli(
        "vault", "add-org-key", "--org", "acme", "--key-file", str(key_file), "--vault-dir", str(tmp_path / "v")
    )
    assert result.returncode == 0, result.stderr
    assert described.openssh in result.stdout
    assert described.public_key_hex in result.stdout
    assert described.fingerprint in result.stdout
    output = result.stdout + result.stderr
    assert "PRIVATE KEY" not in output
    assert seed(key).hex() not in output
    assert all(line.decode() not in output for line in openssh(key).splitlines()[1:-1])

    listing = run_cli("vault", "list", "--vault-dir", str(tmp_path / "v"))
    assert listing.returncode == 0, listing.stderr
    assert "acme" in listing.stdout
    assert described.fingerprint in listing.stdout
    assert "PRIVATE KEY" not in listing.stdout


@needs_bcrypt
def test_cli_uses_data_dir_and_passphrase_from_environment(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # commands refuse a data directory that does not exist
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(openssh(key, PASSPHRASE))
    env = {
        "ENCORD_GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "ENCORD_GATEWAY_KEY_PASSPHRASE": PASSPHRASE.decode(),
    }
    result = run_cli("vault", "add-org-key", "--org", "acme", "--key-file", str(key_file), env=env)
    assert result.returncode == 0, result.stderr
    assert PASSPHRASE.decode() not in result.stdout + result.stderr
    with Vault.open(tmp_path / "data" / "vault") as vault:
        assert vault.signer_for_org("acme").public_key_hex == public_hex(key)


@needs_bcrypt
def test_cli_encrypted_key_without_passphrase_or_terminal_is_a_clear_error(tmp_path: Path) -> None:
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(openssh(Ed25519PrivateKey.generate(), PASSPHRASE))
    result = run_cli(
        "vault", "add-org-key", "--org", "acme", "--key-file", str(key_file), "--vault-dir", str(tmp_path / "v")
    )
    assert result.returncode == 2
    assert "ENCORD_GATEWAY_KEY_PASSPHRASE" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("setup", "expected"),
    [("missing-key-file", "cannot read key file"), ("readable-vault-key", "chmod 600")],
)
def test_cli_errors_exit_2_without_traceback(tmp_path: Path, setup: str, expected: str) -> None:
    vault_dir = tmp_path / "v"
    key_file = tmp_path / "id_ed25519"
    if setup == "readable-vault-key":
        key_file.write_bytes(openssh(Ed25519PrivateKey.generate()))
        Vault.open(vault_dir).close()
        (vault_dir / "vault.key").chmod(0o644)
    result = run_cli(
        "vault", "add-org-key", "--org", "acme", "--key-file", str(key_file), "--vault-dir", str(vault_dir)
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
