"""Shared fixtures: a real sandbox server in a subprocess, and fresh users with keys made at test time.

Async tests run under pytest-asyncio's auto mode with function-scoped loops (pyproject.toml); the
session-scoped sandbox is a plain subprocess, so it never ties a loop to the session.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.upstream.signing import Signer, describe_public_key, private_key_to_openssh
from engines import postgres_engine, redis_engine  # noqa: F401  (session fixtures of the shared engines)
from processes import stop_process

STARTUP_TIMEOUT_SECONDS = 20.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Sandbox:
    """A running sandbox process: `url` is its origin, `pid` the process to stop."""

    url: str
    pid: int
    port: int
    state_path: Path | None
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it does not exit in time."""
        stop_process(self.process, timeout=SHUTDOWN_TIMEOUT_SECONDS)

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the control API; returns (HTTP status, parsed JSON or None)."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    def requests_log(self) -> list[dict[str, Any]]:
        status, entries = self.control("GET", "/sandbox/v1/requests")
        assert status == 200
        return list(entries)

    def clear_requests_log(self) -> None:
        status, _ = self.control("DELETE", "/sandbox/v1/requests")
        assert status == 204

    def new_user(self, email: str | None = None) -> SandboxUser:
        return new_user(self, email)

    def seed_data_units(self, dataset_hash: str, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Data units added to a dataset as the web app's upload would (control API); their §7.5 data rows."""
        status, body = self.control("POST", f"/sandbox/v1/datasets/{dataset_hash}/data-units", {"data_units": units})
        assert status == 201, body
        return list(body["data_rows"])

    def create_workflow_template(self, title: str, stages: list[dict[str, Any]]) -> str:
        """A workflow template made as in Encord's web app (control API); its uuid for U-01's template id."""
        status, body = self.control("POST", "/sandbox/v1/workflow-templates", {"title": title, "stages": stages})
        assert status == 201, body
        return str(body["uuid"])

    def seed_storage_items(self, folder_uuid: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Items added to a storage folder as the web app's upload would (control API); their §7.10 items."""
        status, body = self.control("POST", f"/sandbox/v1/storage/folders/{folder_uuid}/items", {"items": items})
        assert status == 201, body
        return list(body["items"])


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited with {process.returncode} before becoming healthy")
        try:
            with urllib.request.urlopen(url + "/sandbox/v1/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"sandbox at {url} not healthy within {STARTUP_TIMEOUT_SECONDS}s")


def start_sandbox(state_path: Path | None, port: int | None = None, log_path: Path | None = None) -> Sandbox:
    """Start `python -m encord_gateway.sandbox` and wait for /sandbox/v1/health."""
    port = port or free_port()
    command = [sys.executable, "-m", "encord_gateway.sandbox", "--host", "127.0.0.1", "--port", str(port)]
    if state_path is not None:
        command += ["--state", str(state_path)]
    if log_path is None:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    else:
        with log_path.open("ab") as output:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    sandbox = Sandbox(f"http://127.0.0.1:{port}", process.pid, port, state_path, process)
    try:
        _wait_healthy(sandbox.url, process)
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox for the whole session, persisting to a temporary SQLite state file."""
    directory = tmp_path_factory.mktemp("sandbox")
    server = start_sandbox(directory / "sandbox.db", log_path=directory / "sandbox.log")
    try:
        yield server
    finally:
        server.stop()


class SandboxUser(NamedTuple):
    """A registered user: unpacks as (email, private key, OpenSSH private key text)."""

    email: str
    private_key: Ed25519PrivateKey
    openssh: str

    @property
    def signer(self) -> Signer:
        return Signer(self.private_key)

    @property
    def public_key_hex(self) -> str:
        return self.signer.public_key_hex


def new_user(sandbox: Sandbox, email: str | None = None) -> SandboxUser:
    """Generate an Ed25519 key now (keys are never committed) and register it through the control API."""
    key = Ed25519PrivateKey.generate()
    email = email or f"user-{uuid.uuid4().hex[:12]}@sandbox.test"
    status, body = sandbox.control(
        "POST",
        "/sandbox/v1/users",
        {"email": email, "public_key": describe_public_key(key.public_key()).openssh},
    )
    assert status == 201, body
    return SandboxUser(email, key, private_key_to_openssh(key).decode("ascii"))


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[[Path | None], Sandbox]]:
    """Start extra sandboxes (e.g. to restart on the same state file); all are stopped at teardown."""
    started: list[Sandbox] = []

    def start(state_path: Path | None) -> Sandbox:
        server = start_sandbox(state_path, log_path=tmp_path / f"sandbox-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def make_user(sandbox: Sandbox) -> Callable[[], SandboxUser]:
    """Factory of fresh registered users on the session sandbox."""
    return lambda: new_user(sandbox)


@pytest.fixture
def user(sandbox: Sandbox) -> SandboxUser:
    return new_user(sandbox)
