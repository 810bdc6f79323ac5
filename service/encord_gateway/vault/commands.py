"""`encord-gateway vault ...`: register and list organisation keys from the command line."""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from encord_gateway.vault.credentials import Vault, key_is_encrypted
from encord_gateway.vault.errors import VaultError

DATA_DIR_ENV = "ENCORD_GATEWAY_DATA_DIR"
DEFAULT_DATA_DIR = ".gateway"
PASSPHRASE_ENV = "ENCORD_GATEWAY_KEY_PASSPHRASE"
VAULT_SUBDIR = "vault"

EXIT_ERROR = 2


def data_dir(explicit: Path | None = None) -> Path:
    """The gateway's data directory: an explicit path, else $ENCORD_GATEWAY_DATA_DIR, else ./.gateway."""
    if explicit is not None:
        return explicit
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def vault_dir(explicit: Path | None = None) -> Path:
    """`--vault-dir` when given, else `<data dir>/vault`."""
    return explicit if explicit is not None else data_dir() / VAULT_SUBDIR


# Generic only to type checkers; a string keeps the runtime from subscripting it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(subparsers: Subparsers) -> None:
    """Add `vault add-org-key` and `vault list`; each sets `func(args) -> exit code`."""
    vault = subparsers.add_parser("vault", help="manage the credential vault")
    commands = vault.add_subparsers(dest="vault_command", metavar="COMMAND", required=True)

    add = commands.add_parser(
        "add-org-key",
        help="store an organisation's Ed25519 SSH key",
        description=(
            "Store an organisation's Ed25519 private key (OpenSSH or PEM) in the vault and print its "
            f"public half. An encrypted key's passphrase comes from ${PASSPHRASE_ENV}, else a prompt."
        ),
    )
    add.add_argument("--org", required=True, help="organisation name")
    add.add_argument("--key-file", required=True, type=Path, help="private key file to import")
    _vault_dir_argument(add)
    add.set_defaults(func=_add_org_key)

    listing = commands.add_parser("list", help="list stored organisation keys (metadata only)")
    _vault_dir_argument(listing)
    listing.set_defaults(func=_list)


def _vault_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vault-dir",
        type=Path,
        default=None,
        help=f"vault directory (default: ${DATA_DIR_ENV}/vault, or {DEFAULT_DATA_DIR}/vault)",
    )


def fail(message: str) -> int:
    """Report an operator error without a traceback; the message is already free of secrets."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _read_passphrase(key_file: Path, text: bytes) -> bytes | None:
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env.encode("utf-8")
    if not key_is_encrypted(text):
        return None
    if not sys.stdin.isatty():
        raise VaultError(f"the key in {key_file} is passphrase-protected; set {PASSPHRASE_ENV} or run in a terminal")
    return getpass.getpass(f"Passphrase for {key_file}: ").encode("utf-8")


def _add_org_key(args: argparse.Namespace) -> int:
    try:
        text = Path(args.key_file).read_bytes()
    except OSError as exc:
        return fail(f"cannot read key file {args.key_file}: {exc.strerror}")
    try:
        passphrase = _read_passphrase(args.key_file, text)
        with Vault.open(vault_dir(args.vault_dir)) as vault:
            info = vault.add_org_key(args.org, text, passphrase)
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    print(f"organisation: {info.organisation}")
    print(f"credential:   {info.credential_id}")
    print(f"public key:   {info.public_key_openssh}")
    print(f"hex:          {info.public_key_hex}")
    print(f"fingerprint:  {info.fingerprint}")
    print(
        f"The key is in the vault; {args.key_file} is no longer needed by the gateway. "
        "Register the public key above with Encord if you have not already.",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    try:
        with Vault.open(vault_dir(args.vault_dir)) as vault:
            keys = vault.list_org_keys()
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    if not keys:
        print("no organisation keys in the vault", file=sys.stderr)
        return 0
    print("ORGANISATION\tCREDENTIAL\tSTATE\tCREATED\tFINGERPRINT\tPUBLIC KEY HEX")
    for info in keys:
        created = info.created_at.isoformat(timespec="seconds")
        print(
            f"{info.organisation}\t{info.credential_id}\t{info.state}\t{created}\t"
            f"{info.fingerprint}\t{info.public_key_hex}"
        )
    return 0


def run(register_commands: Sequence[Callable[[Subparsers], None]], argv: Sequence[str] | None, prog: str) -> int:
    """A minimal `main` around `register` functions, for `python -m` use before the full CLI exists."""
    parser = argparse.ArgumentParser(prog=prog)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in register_commands:
        add(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return run([register], argv, "encord-gateway")


if __name__ == "__main__":
    sys.exit(main())
