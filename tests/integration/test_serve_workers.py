"""`encord-gateway serve --workers N`: N processes on one host's ports, and a loud refusal when a port is not ours.

The workers share the gRPC and REST ports through SO_REUSEPORT; before any starts, the supervisor checks
that no other process holds the port (a plain listener) or listens on it (one that also opted into sharing,
as grpcio does by default), and stops with the port's name if one does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from encord_gateway.cluster.engines import Engine
from processes import stop_process

CLI = [sys.executable, "-m", "encord_gateway.cli"]


def environment(redis: Engine | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    if redis is not None:
        env["ENCORD_GATEWAY_REDIS_URL"] = redis.url
    return env


def serve(data_dir: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "serve", "--upstream", "http://127.0.0.1:9", "--data-dir", str(data_dir),
                           "--create-data-dir", "--metrics-port", "0", *flags],
                          capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip


@pytest.fixture
def workers(tmp_path: Path, redis_engine: Engine) -> Iterator[dict[str, object]]:
    process = subprocess.Popen(
        [*CLI, "serve", "--upstream", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "data"), "--create-data-dir",
         "--workers", "2", "--grpc-port", "0", "--rest-port", "0", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(redis_engine),
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        assert line, process.stderr.read().decode() if process.stderr else ""
        yield json.loads(line)
    finally:
        assert stop_process(process) == 0


def grpc_calls_counted(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("grpc_server_started_total{"))  # fmt: skip


def test_two_workers_share_the_grpc_port_and_each_answers(workers: dict[str, object]) -> None:
    pids, metrics = workers["workers"], workers["metrics"]
    assert isinstance(pids, list) and len(set(pids)) == 2
    assert isinstance(metrics, list) and len(set(metrics)) == 2  # a metrics port each
    for _ in range(40):  # new connections: the kernel spreads them over the workers
        with grpc.insecure_channel(str(workers["grpc"])) as channel:
            call = channel.unary_unary("/encord.gateway.v1.ProjectService/ListProjects")
            with pytest.raises(grpc.RpcError) as refused:
                call(b"", timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert all(grpc_calls_counted(str(url)) > 0 for url in metrics)


@pytest.mark.parametrize("shared", [False, True], ids=["plain listener", "listener with SO_REUSEPORT"])
def test_a_port_another_process_listens_on_is_refused_naming_it(
    tmp_path: Path, redis_engine: Engine, shared: bool
) -> None:
    with socket.socket() as other:
        if shared:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        done = serve(tmp_path / "data", environment(redis_engine), "--workers", "2", "--grpc-port", str(port),
                     "--rest-port", "0")  # fmt: skip
    assert done.returncode == 2
    assert f"127.0.0.1:{port}" in done.stderr and "another process" in done.stderr
    assert "Traceback" not in done.stderr


def test_more_than_one_worker_without_a_shared_cache_is_refused(tmp_path: Path) -> None:
    done = serve(tmp_path / "data", environment(None), "--workers", "2", "--grpc-port", "0", "--rest-port", "0")
    assert done.returncode != 0
    assert "ENCORD_GATEWAY_REDIS_URL" in done.stderr and "Traceback" not in done.stderr
