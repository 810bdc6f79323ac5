"""`make cluster`: Redis, PostgreSQL, OpenBao, the sandbox, two gateway replicas and Envoy, on loopback.

Everything is prepared as an operator would: an organisation key generated here, registered with the
sandbox and stored in OpenBao (KV v2, keyring wrapped by Transit); a caller with read and write in that
organisation and an administrator, in PostgreSQL; then the replicas, sharing all of it, and Envoy in
front of them. Every process is a child of this one, stopped by its PID on Ctrl-C (or by `stop()`).

    .venv/bin/python -m encord_gateway.cluster.local [--dir DIR] [--replicas N]

The tests (tests/integration/test_cluster.py) start the same cluster with `start()`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..access.policy import parse_policy
from ..access.postgres import PostgresAccessStore
from ..upstream.signing import describe_public_key, private_key_to_openssh
from ..vault import Vault, VaultConfig
from . import engines
from .engines import Engine, EngineError, free_port
from .envoy import Upstream, config

ORGANISATION = "cluster"
CALLER = "cluster-caller"
ADMIN = "cluster-admin"
USER_EMAIL = "cluster@encord-gateway.local"
CALLER_POLICY = {"grants": [{"organisation": ORGANISATION, "resources": ["*"], "rights": ["read", "write"]}]}
ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}
READY_TIMEOUT_SECONDS = 30.0


@dataclass
class Replica:
    """One gateway replica: its listeners, data directory (nothing shared lives there) and process."""

    index: int
    grpc_port: int
    rest_port: int
    metrics_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def metrics(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@dataclass
class LocalCluster:
    """A running local cluster; `stop()` ends every process it started, by PID, in reverse order."""

    directory: Path
    redis: Engine
    postgres: Engine
    openbao: Engine
    sandbox: Engine
    environment: dict[str, str] = field(repr=False)
    replicas: list[Replica] = field(default_factory=list)
    envoy: Engine | None = None
    envoy_grpc: str = ""
    envoy_rest: str = ""
    token: str = field(default="", repr=False)
    admin_token: str = field(default="", repr=False)

    # --- replicas ----------------------------------------------------------------------------------

    def start_replica(self, replica: Replica) -> Replica:
        """(Re)start one replica on its ports and wait until it is ready."""
        command = [sys.executable, "-m", "encord_gateway.cli", "serve", "--upstream", self.sandbox.url,
                   "--data-dir", str(replica.data_dir), "--grpc-port", str(replica.grpc_port),
                   "--rest-port", str(replica.rest_port), "--metrics-port", str(replica.metrics_port)]  # fmt: skip
        with replica.log_path.open("ab") as output:
            replica.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.environment
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if replica.process.poll() is not None:
                raise EngineError(f"replica {replica.index} exited:\n{replica.log_path.read_text(errors='replace')}")
            if _ready(replica.metrics + "/readyz"):
                return replica
            time.sleep(0.05)
        raise EngineError(f"replica {replica.index} not ready:\n{replica.log_path.read_text(errors='replace')}")

    def kill_replica(self, replica: Replica) -> None:
        """SIGKILL, by PID: what a crashed node or an OOM kill does."""
        if replica.process is not None and replica.process.poll() is None:
            os.kill(replica.process.pid, signal.SIGKILL)
            replica.process.wait()

    def stop_replica(self, replica: Replica) -> None:
        process = replica.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(engines.STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def restart_redis(self) -> None:
        """Start Redis again on its port after `redis.stop()` (empty: it keeps nothing on disk)."""
        self.redis = engines.start_redis(self.redis.directory, port=self.redis.port)

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        for replica in reversed(self.replicas):
            self.stop_replica(replica)
        for engine in (self.sandbox, self.openbao, self.redis, self.postgres):
            engine.stop()
        engines.remove_postgres_files(self.postgres)

    def banner(self) -> str:
        auth = f"authorization: Bearer {self.token}"
        lines = [
            "",
            f"Local cluster is running ({len(self.replicas)} replicas behind Envoy; Ctrl-C stops everything)",
            f"  gRPC      {self.envoy_grpc}   (Envoy)",
            f"  REST      {self.envoy_rest}   (Envoy)",
            *(
                f"  replica {r.index}  gRPC {r.grpc}  REST {r.rest}  metrics {r.metrics}/metrics  pid {r.pid}"
                for r in self.replicas
            ),
            f"  redis     {self.redis.url}",
            f"  postgres  {self.postgres.url}",
            f"  openbao   {self.openbao.url}",
            f"  sandbox   {self.sandbox.url}",
            f"  token     {self.token}",
            f"            caller {CALLER}: read and write in organisation {ORGANISATION!r}",
            f"  admin     {self.admin_token}",
            "",
            "Try:",
            f"  curl -s -H '{auth}' -H 'content-type: application/json' -d '{{\"title\": \"Street scenes\"}}' \\",
            f"      {self.envoy_rest}/v1/projects",
            f"  curl -s -H '{auth}' '{self.envoy_rest}/v1/projects'",
            f"  grpcurl -plaintext -H '{auth}' {self.envoy_grpc} encord.gateway.v1.ProjectService/ListProjects",
            "",
        ]
        return "\n".join(lines)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _start_sandbox(directory: Path) -> Engine:
    port = free_port()
    log_path = directory / "sandbox.log"
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "encord_gateway.sandbox", "--host", "127.0.0.1", "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    engine = Engine("sandbox", f"http://127.0.0.1:{port}", port, process, log_path, directory)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not _ready(engine.url + "/sandbox/v1/health"):
        if process.poll() is not None or time.monotonic() > deadline:
            engine.stop()
            raise EngineError(f"the sandbox did not start:\n{engine.log_tail()}")
        time.sleep(0.05)
    return engine


def _register_user(sandbox_url: str, public_key: str) -> None:
    body = json.dumps({"email": USER_EMAIL, "public_key": public_key}).encode()
    request = urllib.request.Request(sandbox_url + "/sandbox/v1/users", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10):
        pass


async def _callers(dsn: str) -> tuple[str, str]:
    store = await PostgresAccessStore.open(dsn)
    try:
        tokens = []
        for name, policy in ((CALLER, CALLER_POLICY), (ADMIN, ADMIN_POLICY)):
            if await store.get_caller(name) is None:
                await store.create_caller(name, parse_policy(policy))
            tokens.append((await store.issue(name)).token)
        return tokens[0], tokens[1]
    finally:
        await store.close()


def start(directory: Path, replicas: int = 2) -> LocalCluster:
    """Start the whole cluster in `directory` (logs, data directories); see the module docstring."""
    directory.mkdir(parents=True, exist_ok=True)
    started: list[Engine] = []
    try:
        redis = engines.start_redis(directory / "redis")
        started.append(redis)
        postgres = engines.start_postgres(directory / "postgres")
        started.append(postgres)
        openbao = engines.start_openbao(directory / "openbao")
        started.append(openbao)
        sandbox = _start_sandbox(directory)
        started.append(sandbox)
    except BaseException:
        for engine in reversed(started):
            engine.stop()
            engines.remove_postgres_files(engine)
        raise
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    environment.update({
        "ENCORD_GATEWAY_VAULT_BACKEND": "openbao",
        "ENCORD_GATEWAY_VAULT_KEK_SOURCE": "transit",
        "ENCORD_GATEWAY_OPENBAO_ADDR": openbao.url,
        "ENCORD_GATEWAY_OPENBAO_TOKEN": openbao.secret,
        "ENCORD_GATEWAY_REDIS_URL": redis.url,
        "ENCORD_GATEWAY_POSTGRES_DSN": postgres.url,
        "ENCORD_GATEWAY_AUDIT_KEY": base64.b64encode(os.urandom(32)).decode(),
        "ENCORD_GATEWAY_UNSEAL_INTERVAL": "1",
    })  # fmt: skip
    cluster = LocalCluster(directory, redis, postgres, openbao, sandbox, environment)
    try:
        key = Ed25519PrivateKey.generate()
        _register_user(sandbox.url, describe_public_key(key.public_key()).openssh)
        vault_config = VaultConfig(backend="openbao", kek_source="transit", openbao_addr=openbao.url,
                                   openbao_token=openbao.secret)  # fmt: skip
        with Vault.open(directory / "operator-vault", vault_config) as vault:
            vault.add_org_key(ORGANISATION, private_key_to_openssh(key))
        cluster.token, cluster.admin_token = asyncio.run(_callers(postgres.url))
        for index in range(replicas):
            data_dir = directory / f"replica-{index}"
            data_dir.mkdir(mode=0o700, exist_ok=True)
            replica = Replica(
                index, free_port(), free_port(), free_port(), data_dir, directory / f"replica-{index}.log"
            )
            cluster.replicas.append(replica)
            cluster.start_replica(replica)
        grpc_port, rest_port, admin_port = free_port(), free_port(), free_port()
        upstreams = [Upstream(r.grpc_port, r.rest_port, r.metrics_port) for r in cluster.replicas]
        cluster.envoy = engines.start_envoy(
            directory / "envoy", config(upstreams, grpc_port, rest_port, admin_port), admin_port, [grpc_port, rest_port]
        )
        cluster.envoy_grpc, cluster.envoy_rest = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{rest_port}"
    except BaseException:
        cluster.stop()
        raise
    return cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="where logs and data go (default: a temporary directory, removed)")
    parser.add_argument("--replicas", type=int, default=2, help="gateway replicas behind Envoy (default 2)")
    args = parser.parse_args(argv)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="encord-gateway-cluster-"))
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        cluster = start(directory, args.replicas)
    except EngineError as exc:
        print(f"make cluster: {exc}", file=sys.stderr)
        return 2
    try:
        print(cluster.banner(), flush=True)
        print(f"  logs      {directory}", flush=True)
        while not stop.wait(0.5):
            for replica in cluster.replicas:
                if replica.process is not None and replica.process.poll() is not None:
                    print(f"replica {replica.index} exited; see {replica.log_path}", file=sys.stderr, flush=True)
                    replica.process = None
    finally:
        print("stopping...", flush=True)
        cluster.stop()
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
