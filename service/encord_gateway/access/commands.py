"""`encord-gateway caller ...` and `encord-gateway token ...`: callers, policies and tokens from the command line."""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from encord_gateway.access.errors import AccessError
from encord_gateway.access.policy import Policy, check_methods, parse_policy
from encord_gateway.access.store import BlockingAccess
from encord_gateway.access.tokens import CallerInfo, TokenInfo, TokenStore
from encord_gateway.errors import GatewayError
from encord_gateway.operations.catalog import load_catalog
from encord_gateway.vault.commands import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    Subparsers,
    add_create_flag,
    add_output_flag,
    data_dir,
    emit,
    fail,
    require_data_dir,
    run,
)
from encord_gateway.vault.errors import VaultError

ACCESS_SUBDIR = "access"
MAX_POLICY_BYTES = 1 << 20
"""A policy of MAX_GRANTS grants fits comfortably; a larger file is a mistake (or a device)."""

_DURATION = re.compile(r"^([1-9][0-9]{0,9})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Operator errors become one line on stderr and exit 2; none of these carries token material.
_EXPECTED_ERRORS = (VaultError, ValueError, sqlite3.Error, OSError, GatewayError)


def access_dir(explicit_data_dir: Path | None = None) -> Path:
    """`<data dir>/access`, where tokens.db lives."""
    return data_dir(explicit_data_dir) / ACCESS_SUBDIR


def parse_duration(text: str) -> timedelta:
    """`30s`, `15m`, `24h` or `7d`: a positive whole number and one unit."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 3600s, 30m, 24h or 7d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"gateway data directory (default: ${DATA_DIR_ENV}, or {DEFAULT_DATA_DIR})",
    )
    add_create_flag(parser)


def _command(
    commands: Subparsers, name: str, help_text: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    _data_dir_argument(parser)
    parser.set_defaults(func=func)
    return parser


def register(subparsers: Subparsers) -> None:
    """Add the `token` and `caller` command groups; each command sets `func(args) -> exit code`."""
    register_tokens(subparsers)
    register_callers(subparsers)


def register_tokens(subparsers: Subparsers) -> None:
    """Add `token issue | list | revoke`."""
    token = subparsers.add_parser("token", help="manage caller tokens")
    commands = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)

    issue = _command(commands, "issue", "issue a bearer token for a caller (printed once)", _issue)
    issue.add_argument("--caller", required=True, help="caller name (a service or team)")
    issue.add_argument(
        "--org",
        default=None,
        help="create a missing caller with read/write on this organisation (an existing one must have a grant there)",
    )
    # `ttl` as in the admin API's IssueTokenRequest ({"ttl": "86400s"}); 30m, 24h and 7d are accepted too.
    issue.add_argument(
        "--ttl", type=parse_duration, default=None, help="lifetime, e.g. 86400s (as in the API), 30m, 24h, 7d"
    )
    issue.add_argument("--expires-in", dest="ttl", type=parse_duration, help=argparse.SUPPRESS)  # the old spelling

    listing = _command(commands, "list", "list tokens (ids and dates, never the tokens)", _list_tokens)
    listing.add_argument("--caller", default=None, help="only this caller's tokens")
    add_output_flag(listing, "json")

    revoke = _command(commands, "revoke", "revoke a token by its id (tok_...)", _revoke)
    revoke.add_argument("token_id", metavar="TOKEN_ID", help="the token's id, tok_... (see `token list`)")


def register_callers(subparsers: Subparsers) -> None:
    """Add `caller create | set-policy | show | list | delete | map-cert | unmap-cert`."""
    caller = subparsers.add_parser("caller", help="manage callers and their policies")
    commands = caller.add_subparsers(dest="caller_command", metavar="COMMAND", required=True)

    create = _command(commands, "create", "create a caller with a policy", _create)
    create.add_argument("--name", required=True, help="caller name")
    create.add_argument("--policy-file", required=True, help="policy JSON file ('-' reads stdin)")

    set_policy = _command(commands, "set-policy", "replace a caller's policy", _set_policy)
    set_policy.add_argument("--name", required=True, help="caller name")
    set_policy.add_argument("--policy-file", required=True, help="policy JSON file ('-' reads stdin)")

    show = _command(commands, "show", "show a caller, its policy and certificate identities", _show)
    show.add_argument("--name", required=True, help="caller name")

    add_output_flag(_command(commands, "list", "list callers", _list_callers), "json")

    delete = _command(commands, "delete", "delete a caller and revoke its tokens", _delete)
    delete.add_argument("--name", required=True, help="caller name")

    map_cert = _command(commands, "map-cert", "let a client certificate identity act as a caller", _map_cert)
    map_cert.add_argument(
        "--identity", required=True, help="subject (CN=svc,O=Acme) or SAN (DNS:svc.internal, URI:spiffe://...)"
    )
    map_cert.add_argument("--name", required=True, help="caller name")

    unmap_cert = _command(commands, "unmap-cert", "forget a client certificate identity", _unmap_cert)
    unmap_cert.add_argument("--identity", required=True, help="the identity as it was mapped")


def _store(args: argparse.Namespace) -> TokenStore | BlockingAccess:
    """The store the gateway uses: PostgreSQL when the environment selects it, else `<data dir>/access`."""
    dsn = os.environ.get("ENCORD_GATEWAY_POSTGRES_DSN", "")
    backend = os.environ.get("ENCORD_GATEWAY_ACCESS_BACKEND", "") or ("postgres" if dsn else "sqlite")
    if backend == "postgres":
        if not dsn:
            raise AccessError("ENCORD_GATEWAY_ACCESS_BACKEND=postgres needs ENCORD_GATEWAY_POSTGRES_DSN")
        from encord_gateway.access.postgres import PostgresAccessStore

        return BlockingAccess(lambda: PostgresAccessStore.open(dsn))
    require_data_dir(data_dir(args.data_dir), args.create_data_dir)
    return TokenStore.open(access_dir(args.data_dir))


def _read_policy(source: str) -> Policy:
    if source == "-":
        text = sys.stdin.read(MAX_POLICY_BYTES + 1)
    else:
        with open(source, encoding="utf-8") as handle:
            text = handle.read(MAX_POLICY_BYTES + 1)
    if len(text) > MAX_POLICY_BYTES:
        raise ValueError(f"policy file is larger than {MAX_POLICY_BYTES} bytes")
    policy = parse_policy(text)
    check_methods(policy, load_catalog())
    return policy


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _caller_json(info: CallerInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "policy": info.policy.to_json(),
        "created_at": _time(info.created_at),
        "updated_at": _time(info.updated_at),
        "certificate_identities": list(info.certificate_identities),
    }


def _token_json(info: TokenInfo) -> dict[str, Any]:
    return {
        "token_id": info.token_id,
        "caller": info.caller,
        "created_at": _time(info.created_at),
        "expires_at": _time(info.expires_at),
        "revoked_at": _time(info.revoked_at),
    }


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=True))


def _guarded(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except _EXPECTED_ERRORS as exc:
            return fail(str(exc))

    return guarded


@_guarded
def _issue(args: argparse.Namespace) -> int:
    with _store(args) as store:
        expires_at = None if args.ttl is None else datetime.now(UTC) + args.ttl
        issued = store.issue(args.caller, expires_at=expires_at, organisation=args.org)
    print(issued.token)
    expiry = "does not expire" if issued.expires_at is None else f"expires at {issued.expires_at.isoformat()}"
    print(
        f"Token {issued.token_id} for caller {issued.caller!r} {expiry}. It is shown only this once; "
        f"the gateway keeps only a salted hash. Revoke it with: token revoke {issued.token_id}",
        file=sys.stderr,
    )
    return 0


@_guarded
def _list_tokens(args: argparse.Namespace) -> int:
    with _store(args) as store:
        tokens = store.list_tokens(args.caller)
    emit(
        [_token_json(info) for info in tokens],
        ["token_id", "caller", "created_at", "expires_at", "revoked_at"],
        args.output,
    )
    return 0


@_guarded
def _revoke(args: argparse.Namespace) -> int:
    with _store(args) as store:
        revoked = store.revoke_token(args.token_id)
    if not revoked:
        return fail(f"no active token with id {args.token_id!r}")
    print(f"revoked {args.token_id}", file=sys.stderr)
    return 0


@_guarded
def _create(args: argparse.Namespace) -> int:
    policy = _read_policy(args.policy_file)
    with _store(args) as store:
        info = store.create_caller(args.name, policy)
    _print_json(_caller_json(info))
    return 0


@_guarded
def _set_policy(args: argparse.Namespace) -> int:
    policy = _read_policy(args.policy_file)
    with _store(args) as store:
        info = store.set_policy(args.name, policy)
    _print_json(_caller_json(info))
    return 0


@_guarded
def _show(args: argparse.Namespace) -> int:
    with _store(args) as store:
        info = store.get_caller(args.name)
    if info is None:
        return fail(f"no caller named {args.name!r}")
    _print_json(_caller_json(info))
    return 0


@_guarded
def _list_callers(args: argparse.Namespace) -> int:
    callers: list[dict[str, Any]] = []
    with _store(args) as store:
        page_token = ""
        while True:
            page, page_token = store.list_callers(page_token=page_token)
            callers.extend(_caller_json(info) for info in page)
            if not page_token:
                break
    emit(callers, ["name", "created_at", "updated_at", "certificate_identities"], args.output)
    return 0


@_guarded
def _delete(args: argparse.Namespace) -> int:
    with _store(args) as store:
        store.delete_caller(args.name)
    print(f"deleted caller {args.name!r} and revoked its tokens", file=sys.stderr)
    return 0


@_guarded
def _map_cert(args: argparse.Namespace) -> int:
    with _store(args) as store:
        store.map_certificate_identity(args.identity, args.name)
    print(f"certificate identity {args.identity!r} now acts as caller {args.name!r}", file=sys.stderr)
    return 0


@_guarded
def _unmap_cert(args: argparse.Namespace) -> int:
    with _store(args) as store:
        removed = store.unmap_certificate_identity(args.identity)
    if not removed:
        return fail(f"certificate identity {args.identity!r} is not mapped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run([register], argv, "encord-gateway")


if __name__ == "__main__":
    sys.exit(main())
