"""`encord-gateway serve --workers N`: N gateway processes on the same gRPC and REST ports of one host.

The workers share each port through SO_REUSEPORT (the kernel spreads connections over them). That option
would also let an unrelated process of the same user join the port silently, so before any worker starts
the supervisor claims each port and checks it is ours alone:

1. it binds a guard socket with SO_REUSEPORT: a bind refused means another process holds the port (a
   plain listener, or one of another user) and `serve` stops, naming the port;
2. it connects to the port: an answer means someone (who also opted into sharing) is already listening
   there, and `serve` stops too;
3. the guard stays bound (never listening, so it takes no connections) for as long as the workers run,
   so no plain listener can take the port in between.

Each worker has its own metrics port (`metrics port + i`, or a free one each when it is 0), since a scrape
must reach one process. Workers are replicas that share a host: their caches stay coherent and their
caller limits shared through Redis, which is why more than one worker needs it. A worker that dies is
started again; SIGTERM or SIGINT stops them all (by PID) and then the supervisor.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 15.0
RESTART_BACKOFF_SECONDS = 1.0
WORKER_ENV = "ENCORD_GATEWAY_WORKER_OF"
"""Set in a worker's environment (to the supervisor's PID): the worker binds with SO_REUSEPORT and leaves
the data directory lock to the supervisor."""


class PortTaken(OSError):
    """A port `serve --workers` must share only among its own workers belongs to someone else."""


def claim_port(host: str, port: int, what: str) -> socket.socket:
    """A guard socket holding `port` (see the module docstring); the port it holds is `getsockname()[1]`."""
    guard = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        guard.bind((host, port))
    except OSError as exc:
        guard.close()
        raise PortTaken(
            f"cannot listen for {what} on {host}:{port}: it belongs to another process ({exc.strerror})"
        ) from None
    bound = guard.getsockname()[1]
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        with socket.create_connection((probe_host, bound), timeout=0.5):
            answered = True
    except OSError:
        answered = False
    if answered:
        guard.close()
        raise PortTaken(
            f"cannot listen for {what} on {host}:{bound}: another process is already listening there "
            "(with SO_REUSEPORT, so the kernel would have shared the port with it silently)"
        )
    return guard


@dataclass
class Worker:
    index: int
    metrics_port: int
    process: subprocess.Popen[bytes] | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)


def _worker_command(argv: Sequence[str], settings: Settings, worker: Worker) -> list[str]:
    return [sys.executable, "-m", "encord_gateway.cli", *argv, "--workers", "1",
            "--grpc-port", str(settings.grpc_port), "--rest-port", str(settings.rest_port),
            "--metrics-port", str(worker.metrics_port)]  # fmt: skip


def _start(argv: Sequence[str], settings: Settings, worker: Worker) -> None:
    environment = {**os.environ, WORKER_ENV: str(os.getpid()), "ENCORD_GATEWAY_WORKERS": "1"}
    worker.ready.clear()
    worker.process = subprocess.Popen(
        _worker_command(argv, settings, worker), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=environment
    )
    threading.Thread(target=_read_endpoints, args=(worker,), daemon=True).start()


def _read_endpoints(worker: Worker) -> None:
    """The worker prints one JSON line of endpoints once it listens; everything after it passes through."""
    assert worker.process is not None and worker.process.stdout is not None
    for raw in worker.process.stdout:
        if not worker.ready.is_set():
            try:
                worker.endpoints = json.loads(raw)
                worker.ready.set()
                continue
            except ValueError:
                pass
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()


def supervise(settings: Settings, argv: Sequence[str]) -> int:
    """Claim the ports, start `settings.workers` workers, print their endpoints, and keep them running."""
    guards = []
    try:
        for what, attribute in (("gRPC", "grpc_port"), ("REST", "rest_port")):
            guard = claim_port(settings.host, getattr(settings, attribute), what)
            guards.append(guard)
            setattr(settings, attribute, guard.getsockname()[1])
    except PortTaken as exc:
        for guard in guards:
            guard.close()
        print(f"encord-gateway: cannot start: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    base = settings.metrics_port
    workers = [Worker(i, base + i if base else 0) for i in range(settings.workers)]
    try:
        for worker in workers:
            _start(argv, settings, worker)
        for worker in workers:
            while not worker.ready.wait(0.1):
                if stop.is_set() or (worker.process is not None and worker.process.poll() is not None):
                    print(f"encord-gateway: worker {worker.index} did not start", file=sys.stderr)
                    return 2
        first = workers[0].endpoints
        print(json.dumps({"grpc": first.get("grpc"), "rest": first.get("rest"), "upstream": first.get("upstream"),
                          "metrics": [w.endpoints.get("metrics") for w in workers],
                          "workers": [w.process.pid for w in workers if w.process is not None]}), flush=True)  # fmt: skip
        while not stop.wait(0.2):
            for worker in workers:
                if worker.process is not None and worker.process.poll() is not None:
                    log.warning("worker %d (pid %d) exited with %s; starting it again", worker.index,
                                worker.process.pid, worker.process.returncode)  # fmt: skip
                    time.sleep(RESTART_BACKOFF_SECONDS)
                    _start(argv, settings, worker)
        return 0
    finally:
        _stop_all(workers)
        for guard in guards:
            guard.close()


def _stop_all(workers: list[Worker]) -> None:
    running = [w.process for w in workers if w.process is not None and w.process.poll() is None]
    for process in running:
        os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
