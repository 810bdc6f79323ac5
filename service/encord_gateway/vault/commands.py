"""`encord-gateway vault ...` and `encord-gateway audit ...`: the vault's administration from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from encord_gateway.vault import audit
from encord_gateway.vault.credentials import RESOURCE_SCOPES, Vault, key_is_encrypted
from encord_gateway.vault.errors import VaultError

T = TypeVar("T")

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


CREATE_FLAG = "--create-data-dir"
OUTPUTS = ("table", "json")


class MissingDataDir(VaultError):
    """The data directory does not exist and the command was not told to create it."""


def require_data_dir(directory: Path, create: bool) -> Path:
    """`directory`, which must exist: a mistyped path must not silently start an empty vault elsewhere."""
    if not directory.is_dir():
        if not create:
            raise MissingDataDir(
                f"data directory {directory} does not exist; pass {CREATE_FLAG} to create it "
                f"(or point ${DATA_DIR_ENV} or --data-dir at the existing one)"
            )
        directory.mkdir(parents=True, mode=0o700)
    return directory


def checked_vault_dir(args: argparse.Namespace) -> Path:
    """The command's vault directory, whose data directory (its parent) must exist unless --create-data-dir."""
    directory = vault_dir(args.vault_dir)
    require_data_dir(directory.parent, getattr(args, "create_data_dir", False))
    return directory


def add_create_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(CREATE_FLAG, action="store_true", help="create the data directory if it does not exist")


def add_output_flag(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--output",
        choices=OUTPUTS,
        default=default,
        help=f"table (tab-separated, a header line) or json (default {default})",
    )


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str) -> None:
    """Rows as a JSON array, or as a tab-separated table of `columns` under an upper-case header."""
    if output == "json":
        print(json.dumps(list(rows), indent=2, sort_keys=True))
        return
    print("\t".join(column.upper().replace("_", " ") for column in columns))
    for row in rows:
        print("\t".join("-" if row.get(column) in (None, "", []) else _cell(row[column]) for column in columns))


def _cell(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


# Generic only to type checkers; a string keeps the runtime from subscripting it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(subparsers: Subparsers) -> Subparsers:
    """Add the `vault` commands; each sets `func(args) -> exit code`. Returns the group, for additions."""
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
    add.add_argument("--key-file", required=True, type=Path, help="private key file to import (OpenSSH or PEM)")
    _vault_dir_argument(add)
    add.set_defaults(func=_add_org_key)

    listing = commands.add_parser("list", help="list stored organisation keys (metadata only)")
    _vault_dir_argument(listing)
    add_output_flag(listing, "table")
    listing.set_defaults(func=_list)

    status = commands.add_parser("status", help="seal state, backend, key terms and encryption count")
    _vault_dir_argument(status)
    status.set_defaults(func=_status)

    rotate = commands.add_parser("rotate", help="add a new barrier key term; new writes use it")
    _vault_dir_argument(rotate)
    rotate.set_defaults(func=_rotate)

    rewrap = commands.add_parser("rewrap", help="re-encrypt every record under the active key term")
    _vault_dir_argument(rewrap)
    rewrap.set_defaults(func=_rewrap)

    credentials = commands.add_parser("list-credentials", help="list SSH keys and API keys (metadata only)")
    credentials.add_argument("--org", default=None, help="only this organisation")
    credentials.add_argument("--page-size", type=int, default=100, help="records fetched per page")
    _vault_dir_argument(credentials)
    add_output_flag(credentials, "table")
    credentials.set_defaults(func=_list_credentials)

    revoke = commands.add_parser("revoke", help="revoke a credential by id (its secret is destroyed)")
    revoke.add_argument("credential_id", metavar="ID", help="the credential's id (see `vault list-credentials`)")
    _vault_dir_argument(revoke)
    revoke.set_defaults(func=_revoke)

    scopes = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in RESOURCE_SCOPES.items())
    api_key = commands.add_parser(
        "add-api-key",
        help="store a project or dataset API key with its scopes",
        description=(
            "Store a resource API key. The key is read from --key-file, or from standard input when the "
            f"file is '-' or omitted; never from the command line. Scopes: {scopes}."
        ),
    )
    api_key.add_argument("--org", required=True, help="organisation name")
    api_key.add_argument("--resource-type", required=True, choices=sorted(RESOURCE_SCOPES), help="what the key opens")
    api_key.add_argument("--resource", required=True, help="project or dataset hash")
    api_key.add_argument("--scopes", required=True, help="comma-separated scopes, e.g. label.read,label.write")
    api_key.add_argument("--key-file", default="-", help="file holding the key (default: standard input)")
    _vault_dir_argument(api_key)
    api_key.set_defaults(func=_add_api_key)
    return commands


def register_audit(subparsers: Subparsers) -> None:
    """Add `audit verify [PATH]`, `audit list` and `audit hash VALUE`; each sets `func(args) -> exit code`."""
    group = subparsers.add_parser("audit", help="check and search the audit log")
    commands = group.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    verify = commands.add_parser("verify", help="check the audit log's hash chain")
    verify.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        help=f"audit log (default: ${audit.ENV_AUDIT_FILE}, or <data dir>/audit/audit.log)",
    )
    verify.set_defaults(func=_audit_verify)
    listing = commands.add_parser("list", help="the most recent audit events, one JSON line each")
    listing.add_argument("--limit", type=int, default=20, help="how many of the most recent events (default 20)")
    listing.add_argument("path", nargs="?", type=Path, default=None, help="audit log (default as for verify)")
    listing.set_defaults(func=_audit_list)
    hashing = commands.add_parser("hash", help="the HMAC of a value as it appears in the audit log")
    hashing.add_argument("value", help="a caller, organisation or credential id, as it was logged")
    hashing.add_argument("--audit-file", type=Path, default=None, help="audit log whose salt to use")
    hashing.set_defaults(func=_audit_hash)


def _vault_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vault-dir",
        type=Path,
        default=None,
        help=f"vault directory (default: ${DATA_DIR_ENV}/vault, or {DEFAULT_DATA_DIR}/vault)",
    )
    add_create_flag(parser)


def fail(message: str) -> int:
    """Report an operator error without a traceback; the message is already free of secrets."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def read_passphrase(key_file: Path, text: bytes) -> bytes | None:
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
        passphrase = read_passphrase(args.key_file, text)
        with Vault.open(checked_vault_dir(args)) as vault:
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
        with Vault.open(checked_vault_dir(args)) as vault:
            keys = vault.list_org_keys()
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    if not keys and args.output == "table":
        print("no organisation keys in the vault", file=sys.stderr)
        return 0
    rows = [
        {
            "organisation": info.organisation,
            "credential": info.credential_id,
            "state": info.state,
            "created": info.created_at.isoformat(timespec="seconds"),
            "fingerprint": info.fingerprint,
            "public_key_hex": info.public_key_hex,
        }
        for info in keys
    ]
    emit(rows, ["organisation", "credential", "state", "created", "fingerprint", "public_key_hex"], args.output)
    return 0


def _status(args: argparse.Namespace) -> int:
    try:
        with Vault.open(checked_vault_dir(args)) as vault:
            status = vault.status()
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    print(f"sealed:        {'yes' if status.sealed else 'no'}")
    if status.sealed:
        print(f"seal reason:   {status.seal_reason}")
    print(f"backend:       {status.backend} ({status.backend_location})")
    print(f"kek:           {status.kek}")
    print(f"terms:         {status.terms}")
    print(f"active term:   {status.active_term}")
    print(f"encryptions:   {status.encryptions_under_active_term} (rotates after {status.rotate_after})")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    try:
        with Vault.open(checked_vault_dir(args)) as vault:
            term = vault.rotate_key()
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    print(f"active term: {term}")
    print("Older records still decrypt; run `vault rewrap` to re-encrypt them under it.", file=sys.stderr)
    return 0


def _rewrap(args: argparse.Namespace) -> int:
    try:
        with Vault.open(checked_vault_dir(args)) as vault:
            result = vault.rewrap()
            term = vault.key_term
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    print(f"rewrapped {result.rewrapped} records under term {term}; {result.current} were already current")
    if result.failed:
        return fail(f"{len(result.failed)} records failed their integrity check: {', '.join(result.failed)}")
    return 0


def _list_credentials(args: argparse.Namespace) -> int:
    try:
        with Vault.open(checked_vault_dir(args)) as vault:
            page = vault.list_credentials(args.org, page_size=args.page_size)
            credentials = list(page.credentials)
            while page.next_page_token:
                page = vault.list_credentials(args.org, page_size=args.page_size, page_token=page.next_page_token)
                credentials.extend(page.credentials)
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    if not credentials and args.output == "table":
        print("no credentials in the vault", file=sys.stderr)
        return 0
    rows = []
    for info in credentials:
        if info.resource_type:
            detail = f"{info.resource_type}/{info.resource_hash} scopes={','.join(info.scopes)}"
        else:
            detail = f"{info.fingerprint} {info.public_key_hex}"
        rows.append(
            {
                "organisation": info.organisation,
                "credential": info.credential_id,
                "kind": info.kind,
                "state": info.state,
                "created": info.created_at.isoformat(timespec="seconds"),
                "last_used": info.last_used_at.isoformat(timespec="seconds") if info.last_used_at else None,
                "detail": detail,
            }
        )
    emit(rows, ["organisation", "credential", "kind", "state", "created", "last_used", "detail"], args.output)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    try:
        with Vault.open(checked_vault_dir(args)) as vault:
            info = vault.revoke_credential(args.credential_id)
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    print(f"{info.credential_id}: {info.state}")
    return 0


def _read_api_key(key_file: str) -> str:
    if key_file == "-":
        if sys.stdin.isatty():
            return getpass.getpass("API key: ").strip()
        return sys.stdin.read().strip()
    try:
        return Path(key_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise VaultError(f"cannot read key file {key_file}: {reason}") from None


def _add_api_key(args: argparse.Namespace) -> int:
    scopes = [scope.strip() for scope in args.scopes.split(",") if scope.strip()]
    try:
        key = _read_api_key(args.key_file)
        with Vault.open(checked_vault_dir(args)) as vault:
            info = vault.register_resource_api_key(args.org, args.resource_type, args.resource, key, scopes)
    except (VaultError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    print(f"organisation: {info.organisation}")
    print(f"credential:   {info.credential_id}")
    print(f"resource:     {info.resource_type}/{info.resource_hash}")
    print(f"scopes:       {', '.join(info.scopes)}")
    return 0


def _audit_path(explicit: Path | None) -> Path:
    return explicit if explicit is not None else audit.AuditConfig.from_env(data_dir()).path


def _shared_audit(args: argparse.Namespace) -> audit.AuditConfig | None:
    """The PostgreSQL trail's configuration when the environment selects it (and no file is named)."""
    if args.path is not None:
        return None
    config = audit.AuditConfig.from_env(data_dir())
    return config if config.backend == "postgres" else None


def _with_shared_audit(config: audit.AuditConfig, use: Callable[[Any], Awaitable[T]]) -> T:
    from encord_gateway.vault.audit_postgres import PostgresAuditLog, parse_key

    async def run() -> T:
        trail = await PostgresAuditLog.open(config.postgres_dsn, parse_key(config.key))
        try:
            return await use(trail)
        finally:
            await trail.close()

    return asyncio.run(run())


def _audit_verify(args: argparse.Namespace) -> int:
    shared = _shared_audit(args)
    if shared is not None:
        try:
            result = _with_shared_audit(shared, lambda trail: trail.verify())
        except (VaultError, OSError) as exc:
            return fail(f"cannot verify the audit trail in PostgreSQL: {exc}")
        if not result.ok:
            return fail(f"the audit trail in PostgreSQL is not intact (entry {result.line}): {result.problem}")
        print("audit trail in PostgreSQL: chain intact")
        return 0
    path = _audit_path(args.path)
    try:
        result = audit.check_chain(path)
    except (VaultError, OSError) as exc:
        return fail(f"cannot verify {path}: {exc}")
    if not result.ok:
        where = f"the hash chain breaks at line {result.line}" if result.line is not None else "the chain is not intact"
        return fail(f"{path}: {where}: {result.problem}")
    print(f"{path}: chain intact")
    return 0


def _audit_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100_000:
        return fail("--limit must be between 1 and 100000")
    shared = _shared_audit(args)
    try:
        if shared is not None:
            recent = _with_shared_audit(shared, lambda trail: trail.recent(args.limit))
        else:
            recent = audit.read_recent(_audit_path(args.path), args.limit)
    except (VaultError, OSError) as exc:
        return fail(f"cannot read the audit trail: {exc}")
    for line in recent:
        shown = line.entry if line.entry is not None else {"line": line.number, "damage": line.damage}
        print(json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return 0


def _audit_hash(args: argparse.Namespace) -> int:
    path = _audit_path(args.audit_file)
    try:
        salt = audit.load_salt(path)
    except (VaultError, OSError) as exc:
        return fail(str(exc))
    print(audit.hash_identifier(salt, args.value))
    return 0


def run(register_commands: Sequence[Callable[[Subparsers], object]], argv: Sequence[str] | None, prog: str) -> int:
    """A minimal `main` around `register` functions, for `python -m` use before the full CLI exists."""
    parser = argparse.ArgumentParser(prog=prog)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in register_commands:
        add(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return run([register, register_audit], argv, "encord-gateway")


if __name__ == "__main__":
    sys.exit(main())
