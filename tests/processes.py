"""Stopping what a test started: one process, by its PID, politely first."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

STOP_TIMEOUT_SECONDS = 10.0


def stop_process(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_SECONDS
) -> int | None:
    """Send `sig` to this one PID, then SIGKILL if it has not exited within `timeout`.

    Returns the exit code of a process that stopped on `sig`, or None when it had to be killed (a
    test that cares about a clean shutdown asserts on the code).
    """
    if process.poll() is not None:
        return process.returncode
    os.kill(process.pid, sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout)
        return None
