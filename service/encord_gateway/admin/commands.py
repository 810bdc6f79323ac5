"""`encord-gateway vault rotate-org-key`: the admin API's key rotation (with its canary) from the CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from ..errors import GatewayError
from ..operations.catalog import load_catalog
from ..telemetry.metrics import Metrics
from ..upstream.client import UpstreamClient
from ..vault import commands as vault_commands
from ..vault.credentials import Vault
from ..vault.errors import VaultError
from .rotation import RotationResult, rotate_org_key

UPSTREAM_ENV = "ENCORD_GATEWAY_UPSTREAM"
DEFAULT_UPSTREAM = "https://api.encord.com"


def register_vault_rotation(vault_group: vault_commands.Subparsers) -> None:
    rotate = vault_group.add_parser(
        "rotate-org-key",
        help="replace an organisation's key after a canary call to Encord succeeds with the new one",
        description=(
            "Store a new Ed25519 key for the organisation, make one read call to Encord signed with it, and "
            "retire the old key only if Encord accepted the new one; otherwise the old key stays active. "
            "A running gateway picks the new key up within 30 seconds."
        ),
    )
    rotate.add_argument("--org", required=True, help="organisation name")
    rotate.add_argument("--key-file", required=True, type=Path, help="the new private key")
    rotate.add_argument(
        "--upstream", default=None, help=f"Encord domain for the canary (${UPSTREAM_ENV}, default {DEFAULT_UPSTREAM})"
    )
    rotate.add_argument("--vault-dir", type=Path, default=None, help="vault directory (default <data dir>/vault)")
    vault_commands.add_create_flag(rotate)
    rotate.set_defaults(func=_rotate_org_key)


def _rotate_org_key(args: argparse.Namespace) -> int:
    try:
        text = Path(args.key_file).read_bytes()
    except OSError as exc:
        return vault_commands.fail(f"cannot read key file {args.key_file}: {exc.strerror}")
    upstream_url = args.upstream or os.environ.get(UPSTREAM_ENV) or DEFAULT_UPSTREAM
    try:
        passphrase = vault_commands.read_passphrase(args.key_file, text)
        with Vault.open(vault_commands.checked_vault_dir(args)) as vault:
            result = asyncio.run(_rotate(vault, upstream_url, args.org, text, passphrase))
    except GatewayError as exc:
        return vault_commands.fail(exc.message)
    except (VaultError, OSError) as exc:
        return vault_commands.fail(str(exc))
    print(json.dumps({
        "new": {"credential_id": result.new.credential_id, "fingerprint": result.new.fingerprint,
                "state": result.new.state},
        "retired": None if result.retired is None else {
            "credential_id": result.retired.credential_id, "state": result.retired.state},
    }))  # fmt: skip
    print(f"canary call to {upstream_url} succeeded; the old key is retired", file=sys.stderr)
    return 0


async def _rotate(
    vault: Vault, upstream_url: str, organisation: str, text: bytes, passphrase: bytes | None
) -> RotationResult:
    upstream = UpstreamClient(upstream_url, Metrics())
    await upstream.start()
    try:
        return await rotate_org_key(vault, upstream, load_catalog(), organisation, text, passphrase)
    finally:
        await upstream.close()
