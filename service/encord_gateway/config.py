"""Settings from environment variables (each documented in the README), overridable by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .telemetry.logs import LOG_FORMATS, LOG_LEVELS

ENV_PREFIX = "ENCORD_GATEWAY_"


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def _port(name: str, default: int) -> int:
    raw = _env(name, str(default))
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise SystemExit(f"{ENV_PREFIX}{name} must be a port number (0-65535), not {raw!r}")
    return int(raw)


def _seconds(name: str, default: str) -> float:
    raw = _env(name, default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise SystemExit(f"{ENV_PREFIX}{name} must be a number of seconds (0 < s <= 86400), not {raw!r}")
    return value


def _bytes(name: str, default: int) -> int:
    raw = _env(name, str(default))
    if not raw.isdigit() or int(raw) < 1024:
        raise SystemExit(f"{ENV_PREFIX}{name} must be a number of bytes (at least 1024), not {raw!r}")
    return int(raw)


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = (_env(name, "") or default).strip().lower()
    if value not in choices:
        raise SystemExit(f"{ENV_PREFIX}{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _count(name: str, default: int, most: int) -> int:
    raw = _env(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise SystemExit(f"{ENV_PREFIX}{name} must be a whole number from 1 to {most}, not {raw!r}")
    return int(raw)


CACHE_BACKENDS = ("memory", "redis")
LIMITS_BACKENDS = ("local", "redis")
IDEMPOTENCY_BACKENDS = ("memory", "redis")
ACCESS_BACKENDS = ("sqlite", "postgres")
MAX_WORKERS = 64


def _path(name: str) -> Path | None:
    value = _env(name, "")
    return Path(value) if value else None


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
    demo_admin_token: str | None = None
    """Fixed value for the demo admin's token in `run` (ENCORD_GATEWAY_DEMO_ADMIN_TOKEN)."""
    tls_cert_file: Path | None = None
    """Server certificate (PEM) for gRPC and REST; unset serves plaintext (ENCORD_GATEWAY_TLS_CERT)."""
    tls_key_file: Path | None = None
    """Its private key (PEM) (ENCORD_GATEWAY_TLS_KEY)."""
    tls_client_ca_file: Path | None = None
    """CA bundle for client certificates; set, it turns on mutual TLS: every connection must present a
    certificate it signed, mapped to a caller (ENCORD_GATEWAY_TLS_CLIENT_CA)."""
    unseal_interval: float = 5.0
    """Seconds between attempts to unseal a sealed vault (ENCORD_GATEWAY_UNSEAL_INTERVAL)."""
    rest_header_timeout: float = 15.0
    """Seconds a REST connection may take to send a request's headers, counted from when it opens or
    answered its previous request; idle keep-alive connections close after this long too
    (ENCORD_GATEWAY_REST_HEADER_TIMEOUT)."""
    rest_body_timeout: float = 30.0
    """Seconds a REST request's whole body may take to arrive (ENCORD_GATEWAY_REST_BODY_TIMEOUT)."""
    rest_max_body_bytes: int = 1024 * 1024
    """Largest REST request body of an ordinary method (ENCORD_GATEWAY_REST_MAX_BODY_BYTES)."""
    rest_max_document_bytes: int = 32 * 1024 * 1024
    """Largest REST request body of a method that carries documents (label rows, ontology structures)
    or file bytes (ENCORD_GATEWAY_REST_MAX_DOCUMENT_BYTES)."""
    upstream_max_response_bytes: int = 32 * 1024 * 1024
    """Most bytes read of one Encord answer; a longer one is refused, not buffered
    (ENCORD_GATEWAY_UPSTREAM_MAX_RESPONSE_BYTES)."""
    upstream_max_connections: int = 100
    """Connections to Encord in the shared pool (ENCORD_GATEWAY_UPSTREAM_MAX_CONNECTIONS)."""
    upstream_organisation_concurrency: int = 25
    """Requests to Encord one organisation may have in flight; its next ones wait for its own to finish
    (ENCORD_GATEWAY_UPSTREAM_ORGANISATION_CONCURRENCY)."""
    circuit_failures: int = 5
    """Failing attempts in a row (no answer, 5xx) after which calls to an Encord host fail fast
    (ENCORD_GATEWAY_CIRCUIT_FAILURES)."""
    circuit_open_seconds: float = 5.0
    """How long an open circuit fails calls before one probe is let through (ENCORD_GATEWAY_CIRCUIT_OPEN_SECONDS)."""
    vault_threads: int = 4
    """Worker threads for vault lookups, which never run on the event loop (ENCORD_GATEWAY_VAULT_THREADS)."""
    idempotency_window: float = 3600.0
    """Seconds a write's answer is kept for a repeat with the same request id (ENCORD_GATEWAY_IDEMPOTENCY_WINDOW)."""
    log_format: str = "text"
    """`text` (readable) or `json` (one object per line) (ENCORD_GATEWAY_LOG_FORMAT, --log-format)."""
    log_level: str = "info"
    """debug, info, warning or error (ENCORD_GATEWAY_LOG_LEVEL, --log-level)."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; unset, no traces are exported
    (ENCORD_GATEWAY_OTLP_ENDPOINT, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; --otlp-endpoint)."""
    redis_url: str = field(default="", repr=False)
    """Redis shared by the replicas, e.g. redis://redis:6379/0 (ENCORD_GATEWAY_REDIS_URL); setting it moves
    the cache and the caller limits there unless their backends say otherwise."""
    redis_prefix: str = "egw"
    """Prefix of every key and channel the gateway uses in Redis (ENCORD_GATEWAY_REDIS_PREFIX)."""
    redis_timeout: float = 0.25
    """Seconds a Redis command may take before the call carries on without Redis (ENCORD_GATEWAY_REDIS_TIMEOUT)."""
    postgres_dsn: str = field(default="", repr=False)
    """PostgreSQL shared by the replicas, e.g. postgresql://gateway@db/gateway (ENCORD_GATEWAY_POSTGRES_DSN);
    setting it moves callers and tokens (and, with ENCORD_GATEWAY_AUDIT_KEY, the audit trail) there."""
    cache_backend: str = "memory"
    """"memory" (in-process, one replica) or "redis" (shared, invalidation broadcast to every replica)
    (ENCORD_GATEWAY_CACHE_BACKEND; default "redis" when ENCORD_GATEWAY_REDIS_URL is set)."""
    limits_backend: str = "local"
    """"local" (each process enforces caller limits alone) or "redis" (limits hold across replicas)
    (ENCORD_GATEWAY_LIMITS_BACKEND; default "redis" when ENCORD_GATEWAY_REDIS_URL is set)."""
    idempotency_backend: str = "memory"
    """"memory" (a write's request id is remembered by the replica that ran it) or "redis" (by every replica,
    so that a retry through the load balancer is answered once) (ENCORD_GATEWAY_IDEMPOTENCY_BACKEND; default
    "redis" when ENCORD_GATEWAY_REDIS_URL is set)."""
    access_backend: str = "sqlite"
    """"sqlite" (`<data dir>/access/tokens.db`) or "postgres" (ENCORD_GATEWAY_ACCESS_BACKEND; default
    "postgres" when ENCORD_GATEWAY_POSTGRES_DSN is set)."""
    cache_invalidation_timeout: float = 1.0
    """Seconds a write waits for every replica to confirm it dropped the stale cache entries
    (ENCORD_GATEWAY_CACHE_INVALIDATION_TIMEOUT)."""
    workers: int = 1
    """Processes serving the same ports on this host (`serve --workers N`, ENCORD_GATEWAY_WORKERS)."""
    reuse_port: bool = False
    """Share the gRPC and REST ports with this host's other workers (set for the workers of `--workers N`)."""

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @classmethod
    def from_env(cls) -> Settings:
        default_timeout = _seconds("DEFAULT_TIMEOUT", "30")
        unseal_interval = _seconds("UNSEAL_INTERVAL", "5")
        defaults = cls()
        redis_url, postgres_dsn = _env("REDIS_URL", ""), _env("POSTGRES_DSN", "")
        return cls(
            host=_env("HOST", "127.0.0.1"),
            grpc_port=_port("GRPC_PORT", 50051),
            rest_port=_port("REST_PORT", 8080),
            metrics_port=_port("METRICS_PORT", 9464),
            sandbox_port=_port("SANDBOX_PORT", 8900),
            upstream=_env("UPSTREAM", "https://api.encord.com"),
            data_dir=Path(_env("DATA_DIR", ".gateway")),
            default_timeout=default_timeout,
            unseal_interval=unseal_interval,
            demo_token=os.environ.get(ENV_PREFIX + "DEMO_TOKEN") or None,
            demo_admin_token=os.environ.get(ENV_PREFIX + "DEMO_ADMIN_TOKEN") or None,
            tls_cert_file=_path("TLS_CERT"),
            tls_key_file=_path("TLS_KEY"),
            tls_client_ca_file=_path("TLS_CLIENT_CA"),
            rest_header_timeout=_seconds("REST_HEADER_TIMEOUT", str(defaults.rest_header_timeout)),
            rest_body_timeout=_seconds("REST_BODY_TIMEOUT", str(defaults.rest_body_timeout)),
            rest_max_body_bytes=_bytes("REST_MAX_BODY_BYTES", defaults.rest_max_body_bytes),
            rest_max_document_bytes=_bytes("REST_MAX_DOCUMENT_BYTES", defaults.rest_max_document_bytes),
            upstream_max_response_bytes=_bytes("UPSTREAM_MAX_RESPONSE_BYTES", defaults.upstream_max_response_bytes),
            upstream_max_connections=_count("UPSTREAM_MAX_CONNECTIONS", defaults.upstream_max_connections, 1_000_000),
            upstream_organisation_concurrency=_count(
                "UPSTREAM_ORGANISATION_CONCURRENCY", defaults.upstream_organisation_concurrency, 1_000_000
            ),
            circuit_failures=_count("CIRCUIT_FAILURES", defaults.circuit_failures, 1_000_000),
            circuit_open_seconds=_seconds("CIRCUIT_OPEN_SECONDS", str(defaults.circuit_open_seconds)),
            vault_threads=_count("VAULT_THREADS", defaults.vault_threads, 1_000_000),
            idempotency_window=_seconds("IDEMPOTENCY_WINDOW", str(defaults.idempotency_window)),
            log_format=_choice("LOG_FORMAT", LOG_FORMATS, defaults.log_format),
            log_level=_choice("LOG_LEVEL", LOG_LEVELS, defaults.log_level),
            otlp_endpoint=(
                os.environ.get(ENV_PREFIX + "OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            )
            or None,
            redis_url=redis_url,
            redis_prefix=_env("REDIS_PREFIX", defaults.redis_prefix),
            redis_timeout=_seconds("REDIS_TIMEOUT", str(defaults.redis_timeout)),
            postgres_dsn=postgres_dsn,
            cache_backend=_choice("CACHE_BACKEND", CACHE_BACKENDS, "redis" if redis_url else "memory"),
            limits_backend=_choice("LIMITS_BACKEND", LIMITS_BACKENDS, "redis" if redis_url else "local"),
            idempotency_backend=_choice(
                "IDEMPOTENCY_BACKEND", IDEMPOTENCY_BACKENDS, "redis" if redis_url else "memory"
            ),
            access_backend=_choice("ACCESS_BACKEND", ACCESS_BACKENDS, "postgres" if postgres_dsn else "sqlite"),
            cache_invalidation_timeout=_seconds("CACHE_INVALIDATION_TIMEOUT", str(defaults.cache_invalidation_timeout)),
            workers=_count("WORKERS", 1, MAX_WORKERS),
        )

    def check(self) -> None:
        """Refuse half a TLS configuration rather than silently serving plaintext."""
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise SystemExit(f"{ENV_PREFIX}TLS_CERT and {ENV_PREFIX}TLS_KEY must be set together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise SystemExit(f"{ENV_PREFIX}TLS_CLIENT_CA (mutual TLS) needs {ENV_PREFIX}TLS_CERT and TLS_KEY")
        for path in (self.tls_cert_file, self.tls_key_file, self.tls_client_ca_file):
            if path is not None and not path.is_file():
                raise SystemExit(f"TLS file {path} does not exist")
        if "redis" in (self.cache_backend, self.limits_backend, self.idempotency_backend) and not self.redis_url:
            raise SystemExit(f"the redis cache, limits or idempotency backend needs {ENV_PREFIX}REDIS_URL")
        if self.access_backend == "postgres" and not self.postgres_dsn:
            raise SystemExit(f"the postgres access backend needs {ENV_PREFIX}POSTGRES_DSN")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise SystemExit(f"--workers must be from 1 to {MAX_WORKERS}")
        if self.workers > 1 and self.cache_backend == "memory":
            # Each worker would keep its own cache: a write through one would leave the others serving stale reads.
            raise SystemExit(
                f"--workers {self.workers} needs a shared cache: set {ENV_PREFIX}REDIS_URL (workers are replicas "
                "that share a host; their caches stay coherent through Redis)"
            )
