"""Command line: `encord-gateway run | serve | sandbox | operations | vault ... | token ...`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import getpass
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import aiohttp
from aiohttp import web

from . import __version__
from .access import commands as access_commands
from .access.errors import AccessError
from .access.policy import parse_policy
from .access.store import AccessStore
from .admin import commands as admin_commands
from .app import Endpoints, Gateway
from .backends import State, close_audit, open_audit_trail, open_state
from .cluster import workers
from .config import Settings
from .errors import GatewayError
from .operations import catalog, catalogue, overview
from .telemetry import logs
from .telemetry.logs import LOG_FORMATS, LOG_LEVELS
from .vault import VaultError
from .vault import commands as vault_commands
from .vault.audit import AuditConfig, AuditLog

log = logging.getLogger("encord_gateway")

DEMO_ORGANISATION = "demo"
DEMO_CALLER = "demo-caller"
DEMO_ADMIN = "demo-admin"
DEMO_USER_EMAIL = "demo@encord-gateway.local"
# The demo caller is an ordinary caller: read and write on the demo organisation's resources, no admin.
DEMO_CALLER_POLICY = {"grants": [{"organisation": DEMO_ORGANISATION, "resources": ["*"], "rights": ["read", "write"]}]}
# The demo admin may administer credentials and callers, and cannot read or write any data.
DEMO_ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}


@contextlib.contextmanager
def _stop_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM; installed before the banner, so a signal right after it stops cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _start_sandbox(settings: Settings) -> tuple[web.AppRunner, str]:
    from .sandbox.server import create_app

    state = settings.data_dir / "sandbox" / "sandbox.db"
    state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.sandbox_port, reuse_port=False).start()
    return runner, f"http://{settings.host}:{settings.sandbox_port}"


async def _register_with_sandbox(sandbox_url: str, public_key_hex: str) -> None:
    """What a user does once in Encord's web app: register the organisation key's public half."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sandbox_url}/sandbox/v1/users", json={"email": DEMO_USER_EMAIL, "public_key": public_key_hex}
        ) as response,
    ):
        if response.status >= 300:
            raise SystemExit(f"sandbox refused the demo key: HTTP {response.status} {await response.text()}")


def _grpcurl() -> str:
    """The grpcurl `make run` installed beside this Python (usable without activating the venv)."""
    found = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    return found or "grpcurl"


def _banner(endpoints: Endpoints, sandbox_url: str, token: str, admin_token: str) -> str:
    auth = f"authorization: Bearer {token}"
    grpcurl = _grpcurl()
    return "\n".join(
        [
            "",
            "Encord Gateway is running (Ctrl-C to stop)",
            f"  gRPC     {endpoints.grpc}",
            f"  REST     {endpoints.rest}",
            f"  metrics  {endpoints.metrics}",
            f"  sandbox  {sandbox_url}",
            f"  token    {token}",
            f"           caller {DEMO_CALLER}: read and write in organisation {DEMO_ORGANISATION!r}",
            f"  admin    {admin_token}",
            f"           caller {DEMO_ADMIN}: the admin API only (credentials, callers, audit)",
            "",
            "Try:",
            f"  {grpcurl} -plaintext {endpoints.grpc} list",
            f"  {grpcurl} -plaintext -H '{auth}' -d '{{\"title\": \"My first project\"}}' \\",
            f"      {endpoints.grpc} encord.gateway.v1.ProjectService/CreateProject",
            f"  {grpcurl} -plaintext -H '{auth}' -d '{{\"project_hash\": \"<hash>\"}}' \\",
            f"      {endpoints.grpc} encord.gateway.v1.ProjectService/GetProject",
            f"  curl -s -H '{auth}' -H 'content-type: application/json' \\",
            f'      -d \'{{"title": "Street scenes"}}\' {endpoints.rest}/v1/datasets',
            f"  curl -s -H '{auth}' '{endpoints.rest}/v1/projects?title_like=%25first%25'",
            f"  curl -s -H 'authorization: Bearer {admin_token}' {endpoints.rest}/admin/v1/vault/status",
            f"  curl -s {endpoints.metrics}",
            "",
        ]
    )


async def run_demo(settings: Settings) -> None:
    """`make run`: sandbox + gateway in one process, a demo organisation, its key, and a caller token.

    Every listener is bound before anything changes: a run that cannot start (a port is taken) leaves the
    demo key, callers and tokens exactly as they were.
    """
    state = await open_state(settings)
    vault = state.vault
    sandbox_runner: web.AppRunner | None = None
    gateway = None
    try:
        sandbox_runner, sandbox_url = await _start_sandbox(settings)
        gateway = Gateway(settings, sandbox_url, vault, state.access, state.audit)
        endpoints = await gateway.start()
        # Listening now: only from here on may the demo state change.
        if DEMO_ORGANISATION not in vault.organisations():
            vault.generate_org_key(DEMO_ORGANISATION)
            gateway.resolver.forget(DEMO_ORGANISATION)
        info = next(k for k in vault.list_org_keys() if k.organisation == DEMO_ORGANISATION)
        await _register_with_sandbox(sandbox_url, info.public_key_hex)
        token = await _demo_caller(state.access, DEMO_CALLER, DEMO_CALLER_POLICY, settings.demo_token)
        admin_token = await _demo_caller(state.access, DEMO_ADMIN, DEMO_ADMIN_POLICY, settings.demo_admin_token)
        with _stop_signals() as stop:
            print(_banner(endpoints, sandbox_url, token, admin_token), flush=True)
            await stop.wait()
        print("stopping...", flush=True)
    finally:
        if gateway is not None:
            await gateway.stop()
        if sandbox_runner is not None:
            await sandbox_runner.cleanup()
        await state.close()


class DataDirectoryInUse(Exception):
    """Another `run` or `serve` holds the data directory."""


LOCK_FILE = "gateway.lock"


@contextlib.contextmanager
def data_directory_lock(data_dir: Path) -> Iterator[None]:
    """Hold `<data dir>/gateway.lock` while a gateway runs, so that a second `run`/`serve` fails fast.

    An advisory lock (flock) on an open file: the kernel drops it when the process ends, however it ends,
    so a killed gateway never leaves a stale lock behind.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise DataDirectoryInUse(
                f"another gateway (pid {holder}) is already running on the data directory {data_dir}; "
                "stop it first, or give this one another directory (--data-dir or ENCORD_GATEWAY_DATA_DIR). "
                "Nothing was changed."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


async def _demo_caller(tokens: AccessStore, name: str, policy_document: Mapping[str, object], token: str | None) -> str:
    """Create (or reset) a demo caller with its explicit policy and issue it a token.

    A random token replaces the previous run's (revoked), so demo tokens do not pile up; a fixed one
    (from the environment) is reused as it is.
    """
    policy = parse_policy(policy_document)
    if await tokens.get_caller(name) is None:
        await tokens.create_caller(name, policy)
    else:
        await tokens.set_policy(name, policy)
        if token is None:
            await tokens.revoke_caller_tokens(name)
    return (await tokens.issue(name, token)).token


async def serve(settings: Settings) -> None:
    """Production mode: the gateway alone, in front of `settings.upstream`."""
    state: State = await open_state(settings)
    gateway = Gateway(settings, settings.upstream, state.vault, state.access, state.audit)
    try:
        endpoints = await gateway.start()
        listening = {"grpc": endpoints.grpc, "rest": endpoints.rest, "metrics": endpoints.metrics}
        with _stop_signals() as stop:
            print(json.dumps({**listening, "upstream": settings.upstream}), flush=True)
            await stop.wait()
    finally:
        await gateway.stop()
        await state.close()


def _apply_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    flags = ("host", "grpc_port", "rest_port", "metrics_port", "sandbox_port", "upstream", "data_dir", "workers",
             "log_format", "log_level", "otlp_endpoint")  # fmt: skip
    for name in flags:
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, value)
    return settings


def _listener_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (ENCORD_GATEWAY_HOST, default 127.0.0.1)")
    parser.add_argument("--grpc-port", type=int, help="gRPC port (ENCORD_GATEWAY_GRPC_PORT, default 50051)")
    parser.add_argument("--rest-port", type=int, help="REST port (ENCORD_GATEWAY_REST_PORT, default 8080)")
    parser.add_argument("--metrics-port", type=int, help="metrics port (ENCORD_GATEWAY_METRICS_PORT, default 9464)")
    parser.add_argument("--data-dir", type=Path, help="state directory (ENCORD_GATEWAY_DATA_DIR, default .gateway)")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, help="text (readable) or json, one object per line (default text)"
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="least severe level logged (default info)")
    parser.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="export traces by OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces (ENCORD_GATEWAY_OTLP_ENDPOINT; "
        "default: no traces)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="encord-gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"encord-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="sandbox + gateway + demo organisation and token (what `make run` does)")
    _listener_flags(run)
    run.add_argument("--sandbox-port", type=int, help="sandbox port (ENCORD_GATEWAY_SANDBOX_PORT, default 8900)")

    serve_parser = commands.add_parser("serve", help="the gateway alone, in front of Encord")
    _listener_flags(serve_parser)
    serve_parser.add_argument(
        "--upstream", help="Encord domain (ENCORD_GATEWAY_UPSTREAM, default https://api.encord.com)"
    )
    serve_parser.add_argument(
        "--workers",
        type=int,
        help="processes serving the same ports on this host (ENCORD_GATEWAY_WORKERS, default 1; more than one "
        "needs ENCORD_GATEWAY_REDIS_URL)",
    )
    vault_commands.add_create_flag(serve_parser)

    sandbox = commands.add_parser("sandbox", help="the Encord-compatible sandbox alone")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8900, help="port (default 8900)")
    sandbox.add_argument("--state", type=Path, help="SQLite file that keeps the sandbox's state across restarts")

    operations = commands.add_parser(
        "operations",
        help="the public API's operations and the Encord catalogue rows they cover",
        description=(
            "One line per RPC of the public API: full name, catalogue IDs, Encord wire call(s), access, cache TTL "
            "and HTTP rule. With --coverage: every row of Encord's operation catalogue with the RPC(s) that cover "
            "it, then totals per area."
        ),
    )
    operations.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="default text")
    operations.add_argument("--coverage", action="store_true", help="list catalogue rows and their coverage instead")
    operations.set_defaults(func=_operations)

    vault_group = vault_commands.register(commands)
    admin_commands.register_vault_rotation(vault_group)
    vault_commands.register_audit(commands)
    access_commands.register(commands)
    return parser


def _operations(args: argparse.Namespace) -> int:
    """`encord-gateway operations [--coverage] [--format text|json|markdown]`, derived from the descriptors."""
    try:
        operations = overview.public_operations(catalog.load_catalog())
        coverage = overview.coverage(operations, catalogue.load_catalogue())
    except ValueError as exc:  # a proto or the catalogue file that start-up would refuse as well
        print(f"encord-gateway: {exc}", file=sys.stderr)
        return 2
    if args.coverage:
        renderers = {
            "text": overview.coverage_text,
            "json": overview.coverage_json,
            "markdown": overview.coverage_markdown,
        }
        sys.stdout.write(renderers[args.format](coverage))
    elif args.format == "markdown":  # exactly the README's generated section
        sys.stdout.write(overview.operations_markdown(operations, coverage))
    elif args.format == "json":
        sys.stdout.write(overview.operations_json(operations))
    else:
        sys.stdout.write(overview.operations_text(operations))
    return 0


def _serve_argv(argv: Sequence[str] | None) -> list[str]:
    """The `serve` command line for a worker: this one without the flags the supervisor sets per worker."""
    given = list(sys.argv[1:] if argv is None else argv)
    kept: list[str] = []
    skip = False
    for item in given:
        if skip:
            skip = False
            continue
        name = item.split("=", 1)[0]
        if name in ("--workers", "--grpc-port", "--rest-port", "--metrics-port"):
            skip = "=" not in item
            continue
        kept.append(item)
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    logs.configure("text", "info")
    args = build_parser().parse_args(argv)
    if args.command == "sandbox":
        from .sandbox.server import serve as serve_sandbox

        print(f"Encord sandbox on http://{args.host}:{args.port}", flush=True)
        asyncio.run(serve_sandbox(args.host, args.port, args.state))
        return 0
    if args.command in ("run", "serve"):
        settings = _apply_flags(Settings.from_env(), args)
        settings.check()
        logs.configure(settings.log_format, settings.log_level)
        worker = os.environ.get(workers.WORKER_ENV) is not None
        settings.reuse_port = worker
        try:
            if args.command == "serve":  # `run` is the demo: it makes its own .gateway
                vault_commands.require_data_dir(settings.data_dir, args.create_data_dir)
            if worker:  # a worker of `serve --workers N`: the supervisor holds the data directory
                asyncio.run(serve(settings))
                return 0
            with data_directory_lock(settings.data_dir):
                if args.command == "serve" and settings.workers > 1:
                    return workers.supervise(settings, _serve_argv(argv))
                asyncio.run(run_demo(settings) if args.command == "run" else serve(settings))
        except DataDirectoryInUse as exc:
            print(f"encord-gateway: cannot start: {exc}", file=sys.stderr)
            return 2
        except (VaultError, AccessError, GatewayError) as exc:
            print(f"encord-gateway: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # most often: a port is already taken
            print(f"encord-gateway: cannot start: {exc}", file=sys.stderr)
            return 2
        return 0
    handler = getattr(args, "func", None)
    if handler is None:
        build_parser().print_help()
        return 2
    audited = _cli_audit_event(args)
    if audited is not None:
        try:
            _append_cli_audit(args, {**audited, "phase": "intent"})
        except (VaultError, OSError) as exc:
            print(
                f"encord-gateway: refused, nothing was changed: the audit log cannot be written: {exc}", file=sys.stderr
            )
            return 2
    code = int(handler(args))
    if audited is not None:
        try:
            _append_cli_audit(args, {**audited, "outcome": "OK" if code == 0 else "FAILED"})
        except (VaultError, OSError) as exc:
            # The change stands (its intent is recorded): failing now would only make the user repeat it.
            print(f"encord-gateway: warning: the outcome was not recorded in the audit log: {exc}", file=sys.stderr)
    return code


# Administration done from the command line is audited like the admin API's (intent before the change,
# outcome after it); reads are not.
AUDITED_GROUPS = {"vault": "vault_command", "token": "token_command", "caller": "caller_command"}
READ_ONLY_COMMANDS = frozenset({"list", "show", "status", "list-credentials"})
CLI_SUBJECT = {"org": "organisation", "name": "name", "caller": "caller", "credential_id": "credential_id",
               "token_id": "token_id", "identity": "identity", "resource_type": "resource_type",
               "resource": "resource_hash", "scopes": "scopes"}  # fmt: skip
"""Arguments that say what a command acts on (argument -> audit field), as the admin API records them."""


def _cli_audit_event(args: argparse.Namespace) -> dict[str, object] | None:
    subcommand_attribute = AUDITED_GROUPS.get(args.command)
    subcommand = getattr(args, subcommand_attribute, None) if subcommand_attribute else None
    if subcommand is None or subcommand in READ_ONLY_COMMANDS:
        return None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    event: dict[str, object] = {
        "type": "admin",
        "caller": f"cli:{user}",
        "operation": f"cli {args.command} {subcommand}",
    }
    for argument, name in CLI_SUBJECT.items():
        value = getattr(args, argument, None)
        if isinstance(value, str) and value:
            event[name] = value
    return event


def _append_cli_audit(args: argparse.Namespace, event: Mapping[str, object]) -> None:
    data_dir = getattr(args, "data_dir", None)
    if data_dir is None and getattr(args, "vault_dir", None) is not None:
        data_dir = args.vault_dir.parent  # --vault-dir is <data dir>/vault
    if data_dir is None:
        data_dir = Settings.from_env().data_dir
    if not Path(data_dir).is_dir():
        return  # the command refuses a missing data directory (or has yet to create it): auditing must not create it
    config = AuditConfig.from_env(Path(data_dir))
    if config.backend == "postgres":  # the chain every replica shares: the CLI's changes go in it too
        asyncio.run(_append_shared_audit(config, event))
        return
    with AuditLog.from_config(config) as audit:
        audit.append(event)


async def _append_shared_audit(config: AuditConfig, event: Mapping[str, object]) -> None:
    trail = await open_audit_trail(config)
    try:
        await trail.append_async(event)
    finally:
        await close_audit(trail)


if __name__ == "__main__":
    sys.exit(main())
