"""Client configuration: plain dataclasses, each readable from ENCORD_GATEWAY_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc

ENV_TARGET = "ENCORD_GATEWAY_TARGET"
ENV_TOKEN = "ENCORD_GATEWAY_TOKEN"
ENV_ORGANISATION = "ENCORD_GATEWAY_ORGANISATION"
ENV_TIMEOUT = "ENCORD_GATEWAY_TIMEOUT"
ENV_TLS = "ENCORD_GATEWAY_TLS"
ENV_CA_FILE = "ENCORD_GATEWAY_CA_FILE"
ENV_CLIENT_CERT_FILE = "ENCORD_GATEWAY_CLIENT_CERT_FILE"
ENV_CLIENT_KEY_FILE = "ENCORD_GATEWAY_CLIENT_KEY_FILE"
ENV_SERVER_NAME = "ENCORD_GATEWAY_TLS_SERVER_NAME"

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 30.0
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class ConfigError(ValueError):
    """A configuration the client cannot use (a bad variable, a missing file); the message names it."""


@dataclass(frozen=True)
class TLSConfig:
    """TLS to the gateway; with a client certificate and key, mutual TLS (the certificate is the caller)."""

    ca_file: Path | None = None
    """PEM bundle trusted for the gateway's certificate; None trusts the system roots. Env: ENCORD_GATEWAY_CA_FILE."""
    client_cert_file: Path | None = None
    """Client certificate chain (PEM) for mutual TLS. Env: ENCORD_GATEWAY_CLIENT_CERT_FILE."""
    client_key_file: Path | None = field(default=None, repr=False)
    """Its private key (PEM). Env: ENCORD_GATEWAY_CLIENT_KEY_FILE."""
    server_name: str | None = None
    """Name to check the gateway's certificate against, when it differs from the target's host.
    Env: ENCORD_GATEWAY_TLS_SERVER_NAME."""

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ConfigError(f"{ENV_CLIENT_CERT_FILE} and {ENV_CLIENT_KEY_FILE} must be set together")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.client_key_file),
            certificate_chain=_read(self.client_cert_file),
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


@dataclass(frozen=True)
class RetryPolicy:
    """Which failed calls are tried again, and how long to wait in between.

    Only reads are retried. A write is retried only when `retry_writes_with_request_id` is on and the
    caller passed a `request_id`: the gateway does not yet make such writes idempotent, so this is off.
    The wait is the server's google.rpc.RetryInfo delay when it sends one, else exponential backoff
    with full jitter; no retry starts after the call's deadline would have passed.
    """

    max_attempts: int = 4
    """Attempts in all, the first included (1 turns retries off)."""
    initial_backoff: float = 0.1
    """Upper bound of the first random wait, in seconds."""
    max_backoff: float = 5.0
    """Upper bound of any wait computed by backoff, in seconds."""
    multiplier: float = 2.0
    """Growth of the bound from one attempt to the next."""
    retryable_codes: frozenset[grpc.StatusCode] = frozenset(
        {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
    )
    """Status codes worth another attempt (limits and transient unavailability)."""
    retry_writes_with_request_id: bool = False
    """Retry writes that carry a caller-given request_id (only once the gateway makes them idempotent)."""

    def backoff_bound(self, attempt: int) -> float:
        """The largest random wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1)))


@dataclass(frozen=True)
class ClientConfig:
    """Where the gateway is and how to call it. `ClientConfig.from_env()` reads every field from the environment."""

    target: str = DEFAULT_TARGET
    """The gateway's gRPC address, host:port. Env: ENCORD_GATEWAY_TARGET."""
    token: str | None = field(default=None, repr=False)
    """Caller token, sent as `authorization: Bearer <token>` (never shown). Env: ENCORD_GATEWAY_TOKEN."""
    organisation: str | None = None
    """Organisation for callers with grants in several, sent as `x-encord-organisation`.
    Env: ENCORD_GATEWAY_ORGANISATION."""
    timeout: float = DEFAULT_TIMEOUT
    """Deadline of a call in seconds, retries included, unless the call passes its own.
    Env: ENCORD_GATEWAY_TIMEOUT."""
    tls: TLSConfig | None = None
    """TLS settings; None speaks plaintext. Env: ENCORD_GATEWAY_TLS=1, or any of the TLS file variables."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """What is retried, and how."""
    channel_options: tuple[tuple[str, Any], ...] = ()
    """Extra grpc channel arguments."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """The configuration the ENCORD_GATEWAY_* variables describe, with `overrides` (field=value) on top."""
        env = os.environ if environ is None else environ
        tls_files = {
            "ca_file": _path(env, ENV_CA_FILE),
            "client_cert_file": _path(env, ENV_CLIENT_CERT_FILE),
            "client_key_file": _path(env, ENV_CLIENT_KEY_FILE),
        }
        server_name = env.get(ENV_SERVER_NAME) or None
        wants_tls = env.get(ENV_TLS, "").strip().lower() in TRUE_WORDS
        tls = None
        if wants_tls or server_name or any(value is not None for value in tls_files.values()):
            tls = TLSConfig(server_name=server_name, **tls_files)
        config = cls(
            target=env.get(ENV_TARGET) or DEFAULT_TARGET,
            token=env.get(ENV_TOKEN) or None,
            organisation=env.get(ENV_ORGANISATION) or None,
            timeout=_seconds(env, ENV_TIMEOUT, DEFAULT_TIMEOUT),
            tls=tls,
        )
        return replace(config, **overrides)


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{name}={value}: no such file")
    return path


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise ConfigError(f"{name} must be a number of seconds (0 < s <= 86400), not {raw!r}")
    return value


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
