"""A second `run` must not disturb the first: the data directory is locked, and nothing changes before listening.

What a new user hit: a second `make run` failed on a taken port, but only after it had revoked the running
gateway's demo tokens, and the fixed demo token could then never be used again.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Callable

import pytest
from test_cli_run import DEMO_TOKEN, RunProcess, _printed, _status, ports, start_run

__all__ = ["ports", "start_run"]  # fixtures shared with test_cli_run

pytestmark = pytest.mark.usefixtures("ports")


def banner_of(run: RunProcess) -> str:
    return run.read_until(f"curl -s http://127.0.0.1:{run.ports['METRICS']}/metrics")


def finished(run: RunProcess, timeout: float = 15) -> tuple[int, str]:
    try:
        code = run.process.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the second run kept running:\n{run.output()}")
    while run.lines.get(timeout=5) is not None:
        pass
    return code, run.output()


def test_a_second_run_on_the_same_data_directory_fails_fast_and_changes_nothing(
    start_run: Callable[..., RunProcess], ports: dict[str, int]
) -> None:
    rest = f"http://127.0.0.1:{ports['REST']}"
    first = start_run(fixed_token=False)
    token = _printed(banner_of(first), "token")
    assert _status(f"{rest}/v1/projects", token) == 200

    second = start_run(fixed_token=False)  # would issue a new token and revoke the first one's
    code, output = finished(second)

    assert code != 0, output
    assert "already running on the data directory" in output and f"pid {first.process.pid}" in output, output
    assert "Traceback" not in output, output
    assert _status(f"{rest}/v1/projects", token) == 200  # the running gateway's token still works
    assert first.process.poll() is None
    assert first.stop(signal.SIGTERM) == 0, first.output()


def test_a_run_that_cannot_bind_its_ports_leaves_the_fixed_demo_token_usable(
    start_run: Callable[..., RunProcess], ports: dict[str, int]
) -> None:
    rest = f"http://127.0.0.1:{ports['REST']}"
    first = start_run(fixed_token=True)
    assert _printed(banner_of(first), "token") == DEMO_TOKEN
    assert first.stop(signal.SIGTERM) == 0, first.output()

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", ports["REST"]))
        holder.listen()
        failed = start_run(fixed_token=False)  # a random-token run would revoke the demo caller's tokens
        code, output = finished(failed)
    assert code != 0 and str(ports["REST"]) in output, output

    again = start_run(fixed_token=True)
    assert _printed(banner_of(again), "token") == DEMO_TOKEN, again.output()
    assert _status(f"{rest}/v1/projects", DEMO_TOKEN) == 200
    assert again.stop(signal.SIGTERM) == 0, again.output()


def test_the_lock_of_a_killed_run_does_not_outlive_it(
    start_run: Callable[..., RunProcess], ports: dict[str, int]
) -> None:
    first = start_run(fixed_token=True)
    banner_of(first)
    assert first.stop(signal.SIGKILL) != 0
    second = start_run(fixed_token=True)
    assert _printed(banner_of(second), "token") == DEMO_TOKEN, second.output()
    assert second.stop(signal.SIGTERM) == 0, second.output()
