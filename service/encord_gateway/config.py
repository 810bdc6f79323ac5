"""Settings from environment variables (each documented in the README), overridable by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "ENCORD_GATEWAY_"


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def _port(name: str, default: int) -> int:
    raw = _env(name, str(default))
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise SystemExit(f"{ENV_PREFIX}{name} must be a port number (0-65535), not {raw!r}")
    return int(raw)


@dataclass
class Settings:
    """Where the gateway listens, what it calls, and where it keeps its state."""

    host: str = "127.0.0.1"
    """Address every listener binds (loopback by default)."""
    grpc_port: int = 50051
    """gRPC API (ENCORD_GATEWAY_GRPC_PORT)."""
    rest_port: int = 8080
    """REST/JSON API (ENCORD_GATEWAY_REST_PORT)."""
    metrics_port: int = 9464
    """Prometheus /metrics, /healthz and /readyz (ENCORD_GATEWAY_METRICS_PORT)."""
    sandbox_port: int = 8900
    """The embedded sandbox of `encord-gateway run` (ENCORD_GATEWAY_SANDBOX_PORT)."""
    upstream: str = "https://api.encord.com"
    """Encord's API domain for `serve` (ENCORD_GATEWAY_UPSTREAM); `run` uses its sandbox instead."""
    data_dir: Path = field(default_factory=lambda: Path(".gateway"))
    """Vault, token store and sandbox state (ENCORD_GATEWAY_DATA_DIR)."""
    default_timeout: float = 30.0
    """Upper bound on a call's upstream time when the caller sets no shorter deadline (seconds)."""
    cache_max_entries: int = 10_000
    """Bound on cached responses (least recently used are dropped first)."""
    demo_token: str | None = None
    """Fixed value for the demo caller's token in `run` (ENCORD_GATEWAY_DEMO_TOKEN)."""

    @classmethod
    def from_env(cls) -> Settings:
        timeout = _env("DEFAULT_TIMEOUT", "30")
        try:
            default_timeout = float(timeout)
        except ValueError:
            raise SystemExit(f"{ENV_PREFIX}DEFAULT_TIMEOUT must be a number of seconds, not {timeout!r}") from None
        return cls(
            host=_env("HOST", "127.0.0.1"),
            grpc_port=_port("GRPC_PORT", 50051),
            rest_port=_port("REST_PORT", 8080),
            metrics_port=_port("METRICS_PORT", 9464),
            sandbox_port=_port("SANDBOX_PORT", 8900),
            upstream=_env("UPSTREAM", "https://api.encord.com"),
            data_dir=Path(_env("DATA_DIR", ".gateway")),
            default_timeout=default_timeout,
            demo_token=os.environ.get(ENV_PREFIX + "DEMO_TOKEN") or None,
        )
