"""A gateway in the test's own process and event loop, serving over real sockets (127.0.0.1, ports picked by
the OS): for tests that need to reach inside it (a tracer provider with an in-memory exporter, a vault whose
backend is slow on purpose) or to hold an upstream call at a chosen moment.

Everything an operator would set up is set up the same way: a vault with each organisation's key (whose
public half the sandbox knows, when the upstream is the sandbox), a caller per organisation with a token.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
from encord_gateway.access.policy import parse_policy
from encord_gateway.access.store import EmbeddedAccessStore
from encord_gateway.app import Endpoints, Gateway
from encord_gateway.config import Settings
from encord_gateway.vault.audit import AuditConfig, AuditLog
from encord_gateway.vault.config import VaultConfig
from encord_gateway.vault.credentials import Vault


@dataclass(frozen=True)
class Organisation:
    name: str
    token: str
    public_key_hex: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


@dataclass
class InProcessGateway:
    gateway: Gateway
    endpoints: Endpoints
    organisations: list[Organisation]
    audit_path: Path
    data_dir: Path
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def rest(self) -> str:
        return self.endpoints.rest

    def channel(self) -> grpc.aio.Channel:
        opened = grpc.aio.insecure_channel(self.endpoints.grpc)
        self.channels.append(opened)
        return opened

    def metric(self, name: str, **labels: str) -> float:
        return self.gateway.metrics.registry.get_sample_value(name, labels) or 0.0


KeyRegistrar = Callable[[str], str]
"""Makes an organisation key known upstream; returns the OpenSSH private key text for the vault."""


@contextlib.asynccontextmanager
async def in_process_gateway(
    directory: Path,
    upstream: str,
    register_key: KeyRegistrar,
    *,
    organisations: int = 1,
    open_vault: Callable[[Path], Vault] | None = None,
    **options: Any,
) -> AsyncIterator[InProcessGateway]:
    """Start a gateway on free loopback ports; `options` are Settings fields or Gateway keyword arguments
    (`tracer_provider`, `idempotency`); `open_vault(directory)` opens the vault (default: SQLite, key file)."""
    data_dir = directory / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    vault = open_vault(data_dir / "vault") if open_vault is not None else Vault.open(data_dir / "vault", VaultConfig())
    tokens = EmbeddedAccessStore.open(data_dir / "access")
    audit_config = AuditConfig.from_env(data_dir)
    audit = AuditLog.from_config(audit_config)
    gateway_options = {name: options.pop(name) for name in ("tracer_provider", "idempotency") if name in options}
    settings = replace(
        Settings(host="127.0.0.1", grpc_port=0, rest_port=0, metrics_port=0, data_dir=data_dir), **options
    )
    members: list[Organisation] = []
    try:
        for _ in range(organisations):
            name = f"org-{uuid.uuid4().hex[:8]}"
            info = vault.add_org_key(name, register_key(name).encode("ascii"))
            policy = parse_policy({
                "grants": [{"organisation": name, "resources": ["*"], "rights": ["read", "write"]}],
                "limits": {"requests_per_second": 10_000, "burst": 10_000, "max_concurrent": 1_000},
            })  # fmt: skip
            await tokens.create_caller(f"svc-{name}", policy)
            issued = await tokens.issue(f"svc-{name}")
            members.append(Organisation(name, issued.token, info.public_key_hex))
        gateway = Gateway(settings, upstream, vault, tokens, audit, **gateway_options)
        endpoints = await gateway.start()
        running = InProcessGateway(gateway, endpoints, members, audit_config.path, data_dir)
        try:
            yield running
        finally:
            for opened in running.channels:
                await opened.close()
            await gateway.stop()
    finally:
        audit.close()
        await tokens.close()
        vault.close()
