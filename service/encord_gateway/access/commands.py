"""`encord-gateway token ...`: issue caller tokens from the command line."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from encord_gateway.access.tokens import TokenStore
from encord_gateway.vault.commands import DATA_DIR_ENV, DEFAULT_DATA_DIR, Subparsers, data_dir, fail, run
from encord_gateway.vault.errors import VaultError

ACCESS_SUBDIR = "access"


def access_dir(explicit_data_dir: Path | None = None) -> Path:
    """`<data dir>/access`, where tokens.db lives."""
    return data_dir(explicit_data_dir) / ACCESS_SUBDIR


def register(subparsers: Subparsers) -> None:
    """Add `token issue`; it sets `func(args) -> exit code`."""
    token = subparsers.add_parser("token", help="manage caller tokens")
    commands = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    issue = commands.add_parser("issue", help="issue a bearer token for a caller (printed once)")
    issue.add_argument("--org", required=True, help="organisation the caller acts for")
    issue.add_argument("--caller", required=True, help="caller name (a service or team)")
    issue.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"gateway data directory (default: ${DATA_DIR_ENV}, or {DEFAULT_DATA_DIR})",
    )
    issue.set_defaults(func=_issue)


def _issue(args: argparse.Namespace) -> int:
    try:
        with TokenStore.open(access_dir(args.data_dir)) as store:
            token = store.issue(args.org, args.caller)
    except (VaultError, ValueError, sqlite3.Error, OSError) as exc:
        return fail(str(exc))
    print(token)
    print(
        f"Token for caller {args.caller!r} of organisation {args.org!r}. It is shown only this once; "
        "the gateway keeps only a salted hash.",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run([register], argv, "encord-gateway")


if __name__ == "__main__":
    sys.exit(main())
