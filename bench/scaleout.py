"""`make bench`, part two: the gateway against the bare servers, one and two workers, and the cluster.

Measured in one run, on this machine, with `h2load` (nghttp2, written in C: the load generator is not what
limits the rate) for the throughput phases:

1. bare grpc.aio server answering a fixed GetProject message  -- the ceiling of any Python gRPC gateway here
2. gateway, cached GetProject over gRPC, one process (embedded state)
3. bare aiohttp endpoint answering the same answer as JSON      -- the ceiling of any Python REST gateway here
4. gateway, cached GET /v1/projects/{hash} over REST, one process
5. gateway with Redis (shared cache and limits), one worker, cached gRPC
6. the same, `serve --workers 2`
7. the local cluster (`make cluster`: two replicas over Redis, PostgreSQL, OpenBao) through Envoy, cached gRPC

and, with 50 ms of latency injected into the sandbox's v1 `project GET` (its fault injection):

8. gateway cached GetProject (h2load) against the official SDK's `Project.get_project()` from 8 threads
9. cache misses (each call a project the gateway never saw) against the same v1 call made directly with a
   pooled aiohttp client, both at 8 concurrent calls: p50 of each.

Targets (ratios in this run): 2 >= 0.8 x 1; 4 >= 0.6 x 3; 6 >= 1.6 x 5; 8 >= 20 x SDK; miss p50 <= direct p50
+ 2 ms. Each gRPC phase through the gateway is checked against the gateway's own count of OK GetProject calls.

    .venv/bin/python bench/scaleout.py [--duration 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
from encord_gateway.cluster import engines, local
from encord_gateway.upstream.signing import Signer, describe_public_key, private_key_to_openssh
from run import PhaseResult, create_projects_direct, run_async_phase, run_thread_phase, v1_get_project
from stack import ManagedProcess, StackError, counter_sum, free_port, run_cli, sandbox_register_user, start_sandbox

ORGANISATION = "bench"
CALLER = "bench-runner"
POLICY = {"grants": [{"organisation": ORGANISATION, "resources": ["*"], "rights": ["read", "write"]}],
          "limits": {"requests_per_second": 1_000_000, "burst": 1_000_000, "max_concurrent": 10_000}}  # fmt: skip
LATENCY_SECONDS = 0.05
CLIENTS, STREAMS = 4, 16  # h2load: connections, and concurrent streams on each
SDK_THREADS = 8
MISS_CONCURRENCY = 8
METHOD_PATH = "/encord.gateway.v1.ProjectService/GetProject"


def log(message: str) -> None:
    print(f"[bench scaleout] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    name: str
    rate: float
    latency_ms: float  # mean (h2load) or p50 (Python phases)
    note: str = ""
    checked: list[str] = field(default_factory=list)


# ---- h2load ---------------------------------------------------------------------------------------------


def h2load(url: str, duration: float, headers: dict[str, str], body: Path | None = None, h1: bool = False) -> Row:
    binary = shutil.which("h2load")
    if binary is None:
        raise StackError("h2load is not installed: `apt-get install nghttp2-client` (make bench does)")
    command = [binary, "-D", f"{duration:g}", "--warm-up-time", "1", "-c", str(CLIENTS), "-m", str(STREAMS)]
    if h1:
        command = [binary, "-D", f"{duration:g}", "--warm-up-time", "1", "-c", str(CLIENTS * 4), "--h1"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if body is not None:
        command += ["-d", str(body)]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=duration + 60, check=False)
    text = done.stdout
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
    counts = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", text)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", text)
    if rate is None or counts is None or mean is None:
        raise StackError(f"h2load said:\n{text}\n{done.stderr}")
    value, unit = re.match(r"([\d.]+)(\w+)", mean.group(1)).groups()  # type: ignore[union-attr]
    mean_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    row = Row("", float(rate.group(1)), mean_ms)
    row.checked.append(f"h2load: {counts.group(3)} succeeded, {counts.group(4)} failed")
    row.note = counts.group(3)  # HTTP-level successes, compared with the gateway's own count below
    return row


def grpc_body(directory: Path, project: str) -> Path:
    """A gRPC-framed GetProjectRequest (uncompressed flag, 4-byte length, message) for h2load's -d."""
    message = projects_pb2.GetProjectRequest(project_hash=project).SerializeToString()
    path = directory / "get_project.grpc"
    path.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    return path


def grpc_headers(token: str | None) -> dict[str, str]:
    headers = {"content-type": "application/grpc", "te": "trailers"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


def ok_calls(metrics: list[str]) -> float:
    total = 0.0
    for url in metrics:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        total += counter_sum(text, "grpc_server_handled_total", grpc_method="GetProject", grpc_code="OK")
    return total


def gateway_grpc_phase(name: str, target: str, token: str, body: Path, duration: float, metrics: list[str]) -> Row:
    before = ok_calls(metrics) if metrics else 0.0
    row = h2load(f"http://{target}{METHOD_PATH}", duration, grpc_headers(token), body)
    row.name = name
    if metrics:
        answered = ok_calls(metrics) - before
        # h2load counts HTTP 200s; a gRPC error is an HTTP 200 too. The gateway's own count says they were OK
        # (it includes h2load's warm-up second, so it must be at least h2load's measured successes).
        verdict = "consistent" if answered >= int(row.note) else "MISMATCH: some answers were gRPC errors"
        row.checked.append(f"gateway counted {answered:.0f} OK GetProject, warm-up included: {verdict}")
    return row


# ---- processes ------------------------------------------------------------------------------------------


def spawn_gateway(workdir: Path, name: str, data_dir: Path, upstream: str, env: dict[str, str],
                  workers: int = 1) -> tuple[ManagedProcess, dict[str, object]]:  # fmt: skip
    log_path = workdir / f"{name}.log"
    command = [sys.executable, "-m", "encord_gateway.cli", "serve", "--upstream", upstream, "--data-dir",
               str(data_dir), "--grpc-port", "0", "--rest-port", "0", "--metrics-port", "0",
               "--workers", str(workers)]  # fmt: skip
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}, **env}
    with log_path.open("ab") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=environment,
                                   stdin=subprocess.DEVNULL)  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise StackError(f"{name} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
    endpoints: dict[str, object] = json.loads(line)
    metrics = endpoints["metrics"]
    for url in metrics if isinstance(metrics, list) else [metrics]:
        _wait_ready(str(url).replace("/metrics", "/readyz"))
    return ManagedProcess(name, process, log_path), endpoints


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise StackError(f"{url} not ready")


def metrics_urls(endpoints: dict[str, object]) -> list[str]:
    metrics = endpoints["metrics"]
    return [str(m) for m in metrics] if isinstance(metrics, list) else [str(metrics)]


def start_bare(workdir: Path, kind: str, payload: bytes) -> tuple[ManagedProcess, int]:
    port = free_port()
    path = workdir / f"bare-{kind}.bin"
    path.write_bytes(payload)
    log_path = workdir / f"bare-{kind}.log"
    with log_path.open("ab") as errors:
        process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare.py")), kind, str(port),
                                    str(path)], stdout=subprocess.PIPE, stderr=errors)  # fmt: skip
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"ready":
        raise StackError(f"bare {kind} server did not start")
    return ManagedProcess(f"bare {kind}", process, log_path), port


def fault(sandbox_url: str, method: str, body: object = None) -> None:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(sandbox_url + "/sandbox/v1/faults", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10):
        pass


def warm(target: str, token: str, project: str) -> tuple[bytes, bool]:
    with grpc.insecure_channel(target) as channel:
        stub = projects_pb2_grpc.ProjectServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        request = projects_pb2.GetProjectRequest(project_hash=project)
        stub.GetProject(request, metadata=metadata, timeout=30)
        answer, call = stub.GetProject.with_call(request, metadata=metadata, timeout=30)
        return answer.SerializeToString(), dict(call.initial_metadata()).get("x-cache") == "hit"


def create_project(target: str, token: str) -> str:
    with grpc.insecure_channel(target) as channel:
        stub = projects_pb2_grpc.ProjectServiceStub(channel)
        created = stub.CreateProject(projects_pb2.CreateProjectRequest(title="bench scale-out"),
                                     metadata=(("authorization", f"Bearer {token}"),), timeout=30)  # fmt: skip
        return str(created.project_hash)


def bench_caller(cluster: local.LocalCluster) -> str:
    """A caller with limits far above the load (the default 200/s would measure the limiter), via the admin API."""

    def post(path: str, body: object) -> dict[str, object]:
        request = urllib.request.Request(cluster.envoy_rest + path, data=json.dumps(body).encode(), method="POST")
        request.add_header("Authorization", f"Bearer {cluster.admin_token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, object] = json.loads(response.read())
            return answer

    policy = {
        **POLICY,
        "grants": [{"organisation": local.ORGANISATION, "resources": ["*"], "rights": ["read", "write"]}],
    }
    post("/admin/v1/callers", {"name": CALLER, "policy": policy})
    return str(post(f"/admin/v1/callers/{CALLER}/tokens", {})["token"])


# ---- the latency phases ---------------------------------------------------------------------------------


def latency_phases(sandbox_url: str, grpc_target: str, token: str, openssh: str, signer: Signer, project: str,
                   body: Path, duration: float, metrics: list[str]) -> list[Row]:  # fmt: skip
    from encord import EncordUserClient

    fresh = asyncio.run(create_projects_direct(sandbox_url, signer, 2000, "bench latency"))
    client = EncordUserClient.create_with_ssh_private_key(openssh, domain=sandbox_url)
    opened = client.get_project(project)
    fault(sandbox_url, "POST", {"match": {"api": "v1", "query_type": "project", "query_method": "GET"},
                                "delay_seconds": LATENCY_SECONDS, "times": 0})  # fmt: skip
    try:
        log("phase: 50 ms upstream, gateway cached gRPC (h2load)")
        cached = gateway_grpc_phase("gateway gRPC cached, 50 ms upstream", grpc_target, token, body, duration, metrics)
        log(f"phase: 50 ms upstream, SDK Project.get_project() from {SDK_THREADS} threads")
        sdk = run_thread_phase("sdk", lambda _: opened.get_project(), threads=SDK_THREADS, duration=duration,
                               max_calls=100_000)  # fmt: skip
        log("phase: 50 ms upstream, gateway cache misses and direct v1 calls, 8 at a time")
        misses = asyncio.run(_misses(grpc_target, token, fresh[: len(fresh) // 2], duration))
        direct = asyncio.run(_direct(sandbox_url, signer, fresh[len(fresh) // 2 :], duration))
    finally:
        fault(sandbox_url, "DELETE")
    return [
        cached,
        Row("SDK Project.get_project(), 8 threads, 50 ms upstream", sdk.rate, sdk.percentile_ms(50)),
        Row("gateway gRPC cache miss, 50 ms upstream (p50)", misses.rate, misses.percentile_ms(50)),
        Row("aiohttp direct v1 project GET, 50 ms upstream (p50)", direct.rate, direct.percentile_ms(50)),
    ]


async def _misses(target: str, token: str, hashes: list[str], duration: float) -> PhaseResult:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = projects_pb2_grpc.ProjectServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)

        async def call(index: int) -> None:
            await stub.GetProject(projects_pb2.GetProjectRequest(project_hash=hashes[index]), metadata=metadata,
                                  timeout=30)  # fmt: skip

        return await run_async_phase("misses", call, concurrency=MISS_CONCURRENCY, duration=duration,
                                     max_calls=len(hashes))  # fmt: skip


async def _direct(sandbox_url: str, signer: Signer, hashes: list[str], duration: float) -> PhaseResult:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MISS_CONCURRENCY)) as session:

        async def call(index: int) -> None:
            await v1_get_project(session, sandbox_url, signer, hashes[index])

        return await run_async_phase("direct", call, concurrency=MISS_CONCURRENCY, duration=duration,
                                     max_calls=len(hashes))  # fmt: skip


# ---- the report -----------------------------------------------------------------------------------------


def verdict(name: str, value: float, target: float, higher: bool = True, unit: str = "x") -> str:
    met = value >= target if higher else value <= target
    relation = ">=" if higher else "<="
    return f"{name}: {value:.2f}{unit} (target {relation} {target:g}{unit}) {'MET' if met else 'MISSED'}"


def report(rows: dict[str, Row]) -> str:
    lines = ["", "| phase | calls/s | latency ms (mean, or p50 where marked) |", "| --- | ---: | ---: |"]
    for row in rows.values():
        lines.append(f"| {row.name} | {row.rate:,.0f} | {row.latency_ms:.2f} |")
    lines.append("")
    get = rows.get
    ratios = [
        ("gRPC cached / bare grpc.aio", "grpc", "bare grpc", 0.8, True, "x"),
        ("REST cached / bare aiohttp", "rest", "bare rest", 0.6, True, "x"),
        ("2 workers / 1 worker (Redis)", "workers2", "workers1", 1.6, True, "x"),
        ("cached at 50 ms / SDK Project.get_project()", "cached50", "sdk50", 20.0, True, "x"),
    ]
    for name, top, bottom, target, higher, unit in ratios:
        a, b = get(top), get(bottom)
        if a and b and b.rate:
            lines.append(verdict(name, a.rate / b.rate, target, higher, unit))
    miss, direct = get("miss50"), get("direct50")
    if miss and direct:
        lines.append(verdict("cache miss p50 - direct p50", miss.latency_ms - direct.latency_ms, 2.0, False, " ms"))
    lines.append("")
    for row in rows.values():
        for check in row.checked:
            lines.append(f"check ({row.name}): {check}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured phase (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 s per phase")
    args = parser.parse_args(argv)
    duration = 2.0 if args.quick else args.duration
    workdir = Path(tempfile.mkdtemp(prefix="encord-gateway-bench-scaleout-"))
    processes: list[ManagedProcess] = []
    rows: dict[str, Row] = {}
    cluster = None
    redis = None
    try:
        key = Ed25519PrivateKey.generate()
        signer, openssh = Signer(key), private_key_to_openssh(key).decode("ascii")
        sandbox, sandbox_url = start_sandbox(workdir)
        processes.append(sandbox)
        sandbox_register_user(sandbox_url, "bench-scaleout@encord-gateway.local",
                              describe_public_key(key.public_key()).openssh)  # fmt: skip
        data_dir = workdir / "gateway"
        data_dir.mkdir(mode=0o700)
        key_file = workdir / "org_key"
        key_file.touch(mode=0o600)
        key_file.write_text(openssh)
        run_cli(["vault", "add-org-key", "--org", ORGANISATION, "--key-file", str(key_file), "--vault-dir",
                 str(data_dir / "vault")])  # fmt: skip
        key_file.unlink()
        policy = workdir / "policy.json"
        policy.write_text(json.dumps(POLICY))
        run_cli(["caller", "create", "--name", CALLER, "--policy-file", str(policy), "--data-dir", str(data_dir)])
        token = run_cli(["token", "issue", "--caller", CALLER, "--data-dir", str(data_dir)]).splitlines()[0].strip()

        log("one process, embedded state")
        gateway, endpoints = spawn_gateway(workdir, "gateway", data_dir, sandbox_url, {})
        processes.append(gateway)
        target, rest, metrics = str(endpoints["grpc"]), str(endpoints["rest"]), metrics_urls(endpoints)
        project = create_project(target, token)
        answer, hit = warm(target, token, project)
        if not hit:
            raise StackError("a repeated GetProject was not a cache hit")
        body = grpc_body(workdir, project)
        with urllib.request.urlopen(urllib.request.Request(f"{rest}/v1/projects/{project}",
                                    headers={"Authorization": f"Bearer {token}"}), timeout=10) as response:  # fmt: skip
            rest_body = response.read()

        bare_grpc, bare_grpc_port = start_bare(workdir, "grpc", answer)
        processes.append(bare_grpc)
        log("phase: bare grpc.aio")
        rows["bare grpc"] = h2load(
            f"http://127.0.0.1:{bare_grpc_port}{METHOD_PATH}", duration, grpc_headers(None), body
        )
        rows["bare grpc"].name = "bare grpc.aio server, fixed answer"
        bare_grpc.stop()
        log("phase: gateway gRPC cached")
        rows["grpc"] = gateway_grpc_phase("gateway gRPC cached, 1 process", target, token, body, duration, metrics)

        bare_rest, bare_rest_port = start_bare(workdir, "rest", rest_body)
        processes.append(bare_rest)
        log("phase: bare aiohttp")
        rows["bare rest"] = h2load(f"http://127.0.0.1:{bare_rest_port}/v1/projects/{project}", duration, {}, h1=True)
        rows["bare rest"].name = "bare aiohttp endpoint, fixed answer"
        bare_rest.stop()
        log("phase: gateway REST cached")
        rows["rest"] = h2load(f"{rest}/v1/projects/{project}", duration, {"authorization": f"Bearer {token}"}, h1=True)
        rows["rest"].name = "gateway REST cached, 1 process"

        for key_name, row in zip(
            ("cached50", "sdk50", "miss50", "direct50"),
            latency_phases(sandbox_url, target, token, openssh, signer, project, body, duration, metrics),
            strict=True,
        ):
            rows[key_name] = row
        gateway.stop()

        redis = engines.start_redis(workdir / "redis")
        shared = {"ENCORD_GATEWAY_REDIS_URL": redis.url}
        for workers in (1, 2):
            log(f"phase: {workers} worker(s) with Redis")
            gateway, endpoints = spawn_gateway(workdir, f"workers-{workers}", data_dir, sandbox_url, shared, workers)
            processes.append(gateway)
            target = str(endpoints["grpc"])
            warm(target, token, project)
            rows[f"workers{workers}"] = gateway_grpc_phase(
                f"gateway gRPC cached, {workers} worker(s), Redis", target, token, body, duration,
                metrics_urls(endpoints),
            )  # fmt: skip
            gateway.stop()

        log("phase: the local cluster through Envoy")
        cluster = local.start(workdir / "cluster")
        cluster_token = bench_caller(cluster)
        cluster_project = create_project(cluster.envoy_grpc, cluster_token)
        for _ in range(4):
            warm(cluster.envoy_grpc, cluster_token, cluster_project)
        rows["cluster"] = gateway_grpc_phase(
            "cluster: 2 replicas behind Envoy, gRPC cached", cluster.envoy_grpc, cluster_token,
            grpc_body(workdir, cluster_project), duration, [r.metrics + "/metrics" for r in cluster.replicas],
        )  # fmt: skip
    except (StackError, engines.EngineError) as exc:
        log(f"error: {exc}")
        return 2
    finally:
        if cluster is not None:
            cluster.stop()
        if redis is not None:
            redis.stop()
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
