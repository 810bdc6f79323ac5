"""Process plumbing for the benchmark: a sandbox and a gateway as subprocesses, stopped by PID.

Everything lives in a temporary directory the caller owns; the org key is generated here at run time and
only its OpenSSH text is written there (mode 0600) so that `vault add-org-key` can import it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0
CLI_TIMEOUT_SECONDS = 60.0
LOG_TAIL_BYTES = 4000


class StackError(RuntimeError):
    """A subprocess failed to start or a setup command failed; the message says which and why."""


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "(no log)"
    return data[-LOG_TAIL_BYTES:].decode("utf-8", errors="replace").strip() or "(empty log)"


@dataclass
class ManagedProcess:
    """A subprocess we started; `stop()` signals exactly its PID."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self) -> str:
        return _tail(self.log_path)

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL by PID if it has not exited in time."""
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is not None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
            self.process.wait(SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(SHUTDOWN_TIMEOUT_SECONDS)
        except ProcessLookupError:
            pass


def _spawn(name: str, command: list[str], log_path: Path, env: dict[str, str] | None = None) -> ManagedProcess:
    """`env` adds to this process's environment."""
    full_env = {**os.environ, **env} if env else None
    with log_path.open("ab") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env
        )
    return ManagedProcess(name, process, log_path)


def _wait_ok(proc: ManagedProcess, url: str) -> None:
    """Poll `url` until it answers 200; fail early (with the log tail) if the process exits."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        code = proc.process.poll()
        if code is not None:
            raise StackError(f"{proc.name} exited with code {code} before {url} answered:\n{proc.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.05)
    raise StackError(f"{proc.name} did not answer 200 on {url} within {STARTUP_TIMEOUT_SECONDS}s:\n{proc.log_tail()}")


def start_sandbox(workdir: Path) -> tuple[ManagedProcess, str]:
    """Start the sandbox in memory (no `--state`): the benchmark measures the gateway, not the sandbox's disk.

    Returns the process and its origin URL.
    """
    port = free_port()
    command = [sys.executable, "-m", "encord_gateway.sandbox", "--host", "127.0.0.1", "--port", str(port)]
    proc = _spawn("sandbox", command, workdir / "sandbox.log")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ok(proc, url + "/sandbox/v1/health")
    except BaseException:
        proc.stop()
        raise
    return proc, url


def sandbox_register_user(sandbox_url: str, email: str, public_key: str) -> None:
    """What a user does once in Encord's web app: register a public key (control API)."""
    body = json.dumps({"email": email, "public_key": public_key}).encode("utf-8")
    request = urllib.request.Request(sandbox_url + "/sandbox/v1/users", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status not in (200, 201):
                raise StackError(f"sandbox refused the user registration: HTTP {response.status}")
    except urllib.error.HTTPError as error:
        raise StackError(f"sandbox refused the user registration: HTTP {error.code} {error.read()!r}") from None


def run_cli(args: list[str]) -> str:
    """Run `python -m encord_gateway.cli ARGS`; return stdout, or raise with stderr on failure."""
    command = [sys.executable, "-m", "encord_gateway.cli", *args]
    try:
        done = subprocess.run(
            command, capture_output=True, timeout=CLI_TIMEOUT_SECONDS, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"`encord_gateway.cli {args[0]} {args[1]}` timed out") from None
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", errors="replace").strip()
        raise StackError(f"`encord_gateway.cli {args[0]} {args[1]}` failed with code {done.returncode}: {stderr}")
    return done.stdout.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class GatewayEndpoints:
    grpc: str
    """host:port of the gRPC listener."""
    metrics: str
    """Origin of the metrics listener (`/metrics`, `/readyz`)."""


def start_gateway(
    workdir: Path, data_dir: Path, upstream: str, env: dict[str, str] | None = None
) -> tuple[ManagedProcess, GatewayEndpoints]:
    """`encord_gateway.cli serve` against `upstream` (`env`: added environment); waits for `/readyz`."""
    grpc_port, rest_port, metrics_port = free_port(), free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "encord_gateway.cli",
        "serve",
        "--upstream",
        upstream,
        "--data-dir",
        str(data_dir),
        "--grpc-port",
        str(grpc_port),
        "--rest-port",
        str(rest_port),
        "--metrics-port",
        str(metrics_port),
    ]
    proc = _spawn("gateway", command, workdir / "gateway.log", env)
    endpoints = GatewayEndpoints(grpc=f"127.0.0.1:{grpc_port}", metrics=f"http://127.0.0.1:{metrics_port}")
    try:
        _wait_ok(proc, endpoints.metrics + "/readyz")
    except BaseException:
        proc.stop()
        raise
    return proc, endpoints


def scrape(metrics_origin: str) -> str:
    with urllib.request.urlopen(metrics_origin + "/metrics", timeout=10) as response:
        text: str = response.read().decode("utf-8")
        return text


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for part in text.split('",'):
        if "=" not in part:
            continue
        key, _, value = part.partition("=")
        labels[key.strip()] = value.strip().strip('"')
    return labels


def counter_sum(exposition: str, name: str, **match: str) -> float:
    """Sum of the samples of counter `name` whose labels include every `match` pair (0 when absent)."""
    total = 0.0
    for line in exposition.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels_text, _, value = line[len(name) + 1 :].rpartition("} ")
        labels: dict[str, Any] = _labels(labels_text)
        if all(labels.get(k) == v for k, v in match.items()):
            total += float(value)
    return total


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of another process, from /proc (None where /proc is unavailable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may contain spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _CLOCK_TICKS


MACHINE = "_machine"


def machine_busy_seconds() -> float | None:
    """Non-idle CPU seconds of all cores since boot, from /proc/stat (steal counts as busy: it is lost to us)."""
    try:
        with open("/proc/stat") as fh:
            first = fh.readline().split()
    except OSError:
        return None
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS


class CpuSampler:
    """CPU seconds used so far by this process (all threads) and by each named subprocess."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def sample(self) -> dict[str, float]:
        """Seconds by process name, plus MACHINE: busy CPU seconds of the whole machine (all processes)."""
        values = {"load generator": time.process_time()}
        machine = machine_busy_seconds()
        if machine is not None:
            values[MACHINE] = machine
        for name, pid in self.pids.items():
            seconds = process_cpu_seconds(pid)
            if seconds is not None:
                values[name] = seconds
        return values


def _control(sandbox_url: str, method: str, path: str) -> Any:
    request = urllib.request.Request(sandbox_url + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def sandbox_calls_made_by(sandbox_url: str, action: Callable[[], object]) -> list[str]:
    """Run `action` and describe the v1/v2 calls the sandbox logged meanwhile (needs a quiet sandbox)."""
    _control(sandbox_url, "DELETE", "/sandbox/v1/requests")
    action()
    entries = _control(sandbox_url, "GET", "/sandbox/v1/requests") or []
    described = []
    for entry in entries:
        if entry.get("api") == "v1":
            described.append(f"v1 {entry.get('query_type')} {entry.get('query_method')}")
        else:
            path = re.sub(
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "{hash}", str(entry.get("path"))
            )
            described.append(f"v2 {entry.get('method')} {path}")
    return described
