"""The `make run` path: `encord-gateway run` in the foreground, as a person would start, use and stop it."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from processes import stop_process

DEMO_TOKEN = "demo-token-for-integration-tests-0123456789"
BANNER_SECONDS = 30.0
STOP_SECONDS = 10.0


@dataclass
class RunProcess:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    stderr_path: Path
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stdout: list[str] = field(default_factory=list)

    def read_until(self, needle: str, timeout: float = BANNER_SECONDS) -> str:
        """Collect stdout until a line contains `needle`; returns everything printed so far."""
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in self.stdout):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{needle!r} not printed within {timeout}s:\n{self.output()}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"run exited ({self.process.poll()}) before printing {needle!r}:\n{self.output()}")
            self.stdout.append(line.rstrip("\n"))
        return "\n".join(self.stdout)

    def output(self) -> str:
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return "stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + err

    def stop(self, sig: int) -> int:
        """Signal this PID; SIGKILL (and fail) if it does not exit within STOP_SECONDS."""
        code = stop_process(self.process, sig, STOP_SECONDS)
        if code is None:
            raise AssertionError(f"run ignored {signal.Signals(sig).name} for {STOP_SECONDS}s")
        return code


@pytest.fixture
def ports(free_port: Callable[[], int]) -> dict[str, int]:
    chosen: dict[str, int] = {}
    while len(set(chosen.values())) < 4:
        chosen = {name: free_port() for name in ("GRPC", "REST", "METRICS", "SANDBOX")}
    return chosen


@pytest.fixture
def start_run(tmp_path: Path, ports: dict[str, int]) -> Iterator[Callable[..., RunProcess]]:
    """Start `python -m encord_gateway.cli run` in a temp dir; every started process is stopped at teardown."""
    started: list[RunProcess] = []
    data_dir = tmp_path / "data"

    def start(fixed_token: bool = True) -> RunProcess:
        env = dict(os.environ)
        env.update({f"ENCORD_GATEWAY_{name}_PORT": str(port) for name, port in ports.items()})
        env["ENCORD_GATEWAY_DATA_DIR"] = str(data_dir)
        if fixed_token:
            env["ENCORD_GATEWAY_DEMO_TOKEN"] = DEMO_TOKEN
        else:
            env.pop("ENCORD_GATEWAY_DEMO_TOKEN", None)
        env["PYTHONUNBUFFERED"] = "1"
        stderr_path = tmp_path / f"run-{len(started)}.stderr"
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "encord_gateway.cli", "run"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        run = RunProcess(process, ports, stderr_path)

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                run.lines.put(line)
            run.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        started.append(run)
        return run

    yield start
    for run in started:
        if run.process.poll() is None:
            run.stop(signal.SIGTERM)


def shell(command: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run a printed command line exactly as a user pastes it into bash, without the venv on PATH."""
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout, check=False)


def is_grpcurl(command: str) -> bool:
    """The banner names grpcurl by the path `make run` installed it at, so it works without the venv."""
    program = command.split(" ", 1)[0]
    return program == "grpcurl" or (program.endswith("/grpcurl") and Path(program).is_file())


def printed_commands(banner: str) -> list[str]:
    """The example command lines of the banner, with backslash continuations joined."""
    commands: list[str] = []
    pending = ""
    for line in banner.splitlines():
        text = line.strip()
        if not pending and not is_grpcurl(text) and not text.startswith("curl "):
            continue
        if text.endswith("\\"):
            pending += text[:-1]
            continue
        commands.append(pending + text)
        pending = ""
    return commands


def vault_keys(data_dir: Path) -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "encord_gateway.cli", "vault", "list", "--vault-dir", str(data_dir / "vault")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    return [line for line in listed.stdout.splitlines()[1:] if line.startswith("demo\t")]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def project_hash_of(output: str) -> str:
    answer = json.loads(output)
    value = answer.get("projectHash") or answer.get("project_hash")
    assert value, output
    return str(value)


def test_run_prints_endpoints_and_examples_that_work_and_a_second_run_reuses_everything(
    start_run: Callable[[], RunProcess], ports: dict[str, int], tmp_path: Path
) -> None:
    first = start_run()
    banner = first.read_until(f"curl -s http://127.0.0.1:{ports['METRICS']}/metrics")
    grpc_address = f"127.0.0.1:{ports['GRPC']}"
    rest_url = f"http://127.0.0.1:{ports['REST']}"
    for expected in (
        grpc_address,
        rest_url,
        f"http://127.0.0.1:{ports['METRICS']}/metrics",
        f"http://127.0.0.1:{ports['SANDBOX']}",
        DEMO_TOKEN,
    ):
        assert expected in banner, (expected, banner)

    commands = printed_commands(banner)
    assert any(is_grpcurl(c) and c.endswith(" list") for c in commands), banner
    create = next(c for c in commands if c.endswith("ProjectService/CreateProject"))
    get = next(c for c in commands if c.endswith("ProjectService/GetProject"))
    curls = [c for c in commands if c.startswith("curl ")]
    assert curls, banner

    # The printed examples, run as printed.
    listed = shell(next(c for c in commands if is_grpcurl(c) and c.endswith(" list")))
    assert listed.returncode == 0, listed.stderr
    assert "encord.gateway.v1.ProjectService" in listed.stdout
    created = shell(create)
    assert created.returncode == 0, (create, created.stderr)
    project_hash = project_hash_of(created.stdout)
    assert "<hash>" in get
    fetched = shell(get.replace("<hash>", project_hash))
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)["title"] == "My first project"
    for command in curls:
        answered = shell(command)
        assert answered.returncode == 0, (command, answered.stderr)
        assert answered.stdout.strip(), command
        if "/v1/" in command:
            body = json.loads(answered.stdout)
            assert "code" not in body, (command, body)  # an error would be a google.rpc.Status
    project_list = next(c for c in curls if "/v1/projects?" in c)
    assert project_hash in shell(project_list).stdout

    keys_before = vault_keys(tmp_path / "data")
    assert len(keys_before) == 1, keys_before

    assert first.stop(signal.SIGTERM) == 0, first.output()
    for name, port in ports.items():
        assert port_is_free(port), f"{name} port {port} still taken after SIGTERM"

    # A second run on the same data directory: same key, same token, same projects.
    second = start_run()
    second.read_until(f"curl -s http://127.0.0.1:{ports['METRICS']}/metrics")
    assert vault_keys(tmp_path / "data") == keys_before
    again = shell(get.replace("<hash>", project_hash))
    assert again.returncode == 0, (again.stderr, second.output())
    assert json.loads(again.stdout)["title"] == "My first project"

    assert second.stop(signal.SIGINT) == 0, second.output()
    for name, port in ports.items():
        assert port_is_free(port), f"{name} port {port} still taken after SIGINT"


@pytest.mark.parametrize("taken", ["GRPC", "REST", "METRICS", "SANDBOX"])
def test_run_with_a_port_taken_exits_non_zero_naming_the_problem(
    start_run: Callable[[], RunProcess], ports: dict[str, int], taken: str
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", ports[taken]))
        holder.listen()
        run = start_run()
        started = time.monotonic()
        try:
            code = run.process.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run kept running although its {taken} port was taken:\n{run.output()}")
        elapsed = time.monotonic() - started
    while run.lines.get(timeout=5) is not None:
        pass
    output = run.output()
    assert code != 0, output
    assert elapsed < 10, elapsed
    assert str(ports[taken]) in output, output
    assert re.search(r"in use|bind|taken", output, re.IGNORECASE), output
    # Nothing it opened before failing is left behind.
    for name, port in ports.items():
        if name != taken:
            assert port_is_free(port), name
    # A plain message, not a crash: the user should not have to read a Python traceback.
    assert "Traceback" not in output, output


def _printed(banner: str, label: str) -> str:
    return next(line.split()[1] for line in banner.splitlines() if line.strip().startswith(label + " "))


def _status(url: str, token: str) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_each_run_prints_a_new_demo_token_revoking_the_last_and_an_admin_token_for_the_admin_api_only(
    start_run: Callable[..., RunProcess], ports: dict[str, int]
) -> None:
    rest = f"http://127.0.0.1:{ports['REST']}"
    first = start_run(fixed_token=False)
    banner = first.read_until(f"curl -s http://127.0.0.1:{ports['METRICS']}/metrics")
    token, admin = _printed(banner, "token"), _printed(banner, "admin")
    assert token != admin
    assert _status(f"{rest}/v1/projects", token) == 200
    assert _status(f"{rest}/admin/v1/vault/status", token) == 403  # an ordinary caller
    assert _status(f"{rest}/admin/v1/vault/status", admin) == 200
    assert _status(f"{rest}/v1/projects", admin) in (400, 403)  # no data rights (and no organisation of its own)
    assert first.stop(signal.SIGTERM) == 0, first.output()

    second = start_run(fixed_token=False)
    banner = second.read_until(f"curl -s http://127.0.0.1:{ports['METRICS']}/metrics")
    new_token = _printed(banner, "token")
    assert new_token != token
    assert _status(f"{rest}/v1/projects", new_token) == 200
    assert _status(f"{rest}/v1/projects", token) == 401
    assert second.stop(signal.SIGTERM) == 0, second.output()
