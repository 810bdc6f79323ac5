"""Throughput and latency of GetProject: through the gateway (cache hit, cache miss) versus direct calls.

What is measured, in one run against a local sandbox (the Encord-compatible server of this repository):

1. gateway cache hit   -- `ProjectService/GetProject` over one grpc.aio channel, 64 calls in flight, on
   projects whose answer the gateway already holds (warmed first). Measures the gateway's own cost:
   authentication, cache lookup, protobuf encoding, gRPC transport.
2. gateway cache miss  -- the same RPC at the same concurrency, each call on a project the gateway has never
   been asked about (projects created beforehand directly in the sandbox, each read exactly once). Every call
   is a signed upstream v1 `project GET`; the gateway's cache counters are scraped before and after and
   printed, so the claim "all misses" is checked, not assumed.
3. official SDK direct -- `encord==0.1.211` `EncordUserClient.get_project(hash)` from 8 threads on one client:
   what a service without the gateway does. It costs two HTTP calls (v2 GET projects/{h} and v2 GET
   ontologies/{h}). A second row times `Project.get_project()`, the SDK's v1 `project GET` -- the same single
   wire call the gateway makes on a miss. Ratios in the table are relative to the first SDK row.
4. aiohttp direct      -- one pooled `aiohttp.ClientSession`, 64 concurrent signed v1 `project GET` calls: the
   same wire call the gateway makes, without the gateway. Its rate is the sandbox's own ceiling on this
   machine, and the reference the cache-miss row should be compared with.

After them, bench/pipeline_cost.py measures the interceptor pipeline: the gateway's CPU per cached and
uncached call before and after it (the tree before it is extracted from git history), and p50/p99 of
cache-miss reads spread over 1 and 100 organisations whose keys live in a real OpenBao dev server.

Each phase runs for a fixed duration or a fixed number of calls, whichever comes first, after a short warm-up
that is not measured. Load generator, gateway and sandbox share the machine's cores, so absolute numbers are
a property of this machine; the ratios are the point. A second table shows where the CPU went (milliseconds
of CPU per call in the load generator, the gateway and the sandbox, from /proc) and how much CPU unrelated
processes took during each phase, so a noisy run can be recognised as such. The SDK rows' HTTP-call counts
are checked against the sandbox's request log, not assumed.

The org key is an Ed25519 key generated at run time; all state (vault, token store, logs) lives in a temporary
directory that is removed at the end, and both subprocesses are stopped by PID in a `finally` block.

    .venv/bin/python bench/run.py            # full run (about a minute)
    .venv/bin/python bench/run.py --quick    # smoke test (2 s per phase, fewer projects)
    .venv/bin/python bench/run.py --duration 5 --max-calls 10000

Exit status: 0, or 1 when calls failed (the table is still printed), or 2 when the stack could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import credential_cost  # bench/ is on sys.path when this file runs as a script
import grpc
import label_export
import pipeline_cost
import sandbox_store
import upload_files
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.upstream.signing import (
    Signer,
    describe_public_key,
    encode_body,
    private_key_to_openssh,
    v1_authorization,
)
from stack import (
    MACHINE,
    CpuSampler,
    GatewayEndpoints,
    ManagedProcess,
    StackError,
    counter_sum,
    run_cli,
    sandbox_calls_made_by,
    sandbox_register_user,
    scrape,
    start_gateway,
    start_sandbox,
)

try:
    from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
except ImportError:  # pragma: no cover - a fresh checkout without `make proto`
    sys.exit("bench: generated protobuf code is missing; run `.venv/bin/python tools/genproto.py` (or `make proto`)")

ORGANISATION = "bench"
CALLER = "bench-runner"
BENCH_POLICY = {
    "grants": [{"organisation": ORGANISATION, "resources": ["*"], "rights": ["read", "write"]}],
    "limits": {"requests_per_second": 1_000_000, "burst": 1_000_000, "max_concurrent": 10_000},
}
USER_EMAIL = "bench@encord-gateway.local"
SERVICE = "encord.gateway.v1.ProjectService"
ASYNC_CONCURRENCY = 64
SDK_THREADS = 8
MAX_ERRORS_PER_PHASE = 50
OTHER_LOAD_WARNING = 0.25  # cores used by unrelated processes during a phase before the report warns
CALL_TIMEOUT_SECONDS = 30.0
HIT_LABEL = "gateway GetProject, cache hit"
MISS_LABEL = "gateway GetProject, cache miss"
SDK_LABEL = "SDK get_project (2 HTTP calls)"
SDK_V1_LABEL = "SDK Project.get_project() (1 v1 call)"
DIRECT_LABEL = "aiohttp direct v1 project GET"

# CPU seconds of this process and of the subprocesses, sampled around each measured phase.
CPU = CpuSampler()


@dataclass(frozen=True)
class Profile:
    """How long and how much: `duration` and `max_calls` bound every measured phase."""

    duration: float
    max_calls: int
    gateway_projects: int
    warmup_calls: int
    miss_projects: int = 0
    """Projects created directly in the sandbox for the miss phase (derived from the bounds in `main`)."""


FULL = Profile(duration=8.0, max_calls=30_000, gateway_projects=50, warmup_calls=200)
QUICK = Profile(duration=2.0, max_calls=3_000, gateway_projects=20, warmup_calls=64)
# Fresh projects per second of miss phase; the sandbox creates them at roughly 2000/s on 2 cores.
MISS_RATE_CEILING = 1250


@dataclass
class PhaseResult:
    name: str
    latencies: list[float]
    elapsed: float
    errors: int = 0
    first_error: str | None = None
    notes: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds spent during the phase, by process."""

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.calls / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the successful calls' latencies, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def cpu_delta(before: dict[str, float]) -> dict[str, float]:
    after = CPU.sample()
    return {name: after[name] - before[name] for name in before if name in after}


# ---- load generators ----------------------------------------------------------------------------


async def run_async_phase(
    name: str,
    call: Callable[[int], Awaitable[None]],
    *,
    concurrency: int,
    duration: float,
    max_calls: int,
    first_index: int = 0,
) -> PhaseResult:
    """`concurrency` coroutines issue `call(i)` for i = first_index, first_index+1, ... until either bound."""
    result = PhaseResult(name, [], 0.0)
    next_index = 0
    start = time.perf_counter()
    deadline = start + duration

    async def worker() -> None:
        nonlocal next_index
        while next_index < max_calls and time.perf_counter() < deadline and result.errors < MAX_ERRORS_PER_PHASE:
            index = first_index + next_index
            next_index += 1
            t0 = time.perf_counter()
            try:
                await call(index)
            except Exception as exc:
                result.errors += 1
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                continue
            result.latencies.append(time.perf_counter() - t0)

    cpu_before = CPU.sample()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - start
    result.cpu = cpu_delta(cpu_before)
    return result


def run_thread_phase(
    name: str, call: Callable[[int], object], *, threads: int, duration: float, max_calls: int
) -> PhaseResult:
    """`threads` threads issue blocking `call(i)` until either bound (the SDK is synchronous)."""
    result = PhaseResult(name, [], 0.0)
    lock = threading.Lock()
    counter = [0]
    start = time.perf_counter()
    deadline = start + duration

    def worker() -> None:
        mine: list[float] = []
        while time.perf_counter() < deadline:
            with lock:
                if counter[0] >= max_calls or result.errors >= MAX_ERRORS_PER_PHASE:
                    break
                index = counter[0]
                counter[0] += 1
            t0 = time.perf_counter()
            try:
                call(index)
            except Exception as exc:
                with lock:
                    result.errors += 1
                    result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                continue
            mine.append(time.perf_counter() - t0)
        with lock:
            result.latencies.extend(mine)

    pool = [threading.Thread(target=worker, name=f"bench-sdk-{i}", daemon=True) for i in range(threads)]
    cpu_before = CPU.sample()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    result.elapsed = time.perf_counter() - start
    result.cpu = cpu_delta(cpu_before)
    return result


# ---- direct v1 calls on the sandbox (what the gateway sends upstream) ----------------------------


def v1_headers(signer: Signer, body: bytes, resource_type: str, resource_id: str) -> dict[str, str]:
    return {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "ResourceType": resource_type,
        "ResourceID": resource_id,
        "Authorization": v1_authorization(signer, body),
    }


def v1_result(answer: Any) -> Any:
    if not isinstance(answer, dict) or answer.get("status") != 200:
        raise RuntimeError(f"v1 call failed: {str(answer)[:200]}")
    return answer["response"]


PROJECT_GET_BODY = {
    "query_type": "project",
    "query_method": "GET",
    "values": {"uid": None, "payload": {"include_labels_metadata": False}},
}


async def v1_get_project(session: aiohttp.ClientSession, url: str, signer: Signer, project_hash: str) -> None:
    """v1 `project GET` (P-01), signed per call exactly as the gateway does."""
    body = encode_body(PROJECT_GET_BODY)
    async with session.post(url + "/public", data=body, headers=v1_headers(signer, body, "project", project_hash)) as r:
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}")
        v1_result(await r.json())


async def create_projects_direct(sandbox_url: str, signer: Signer, count: int, prefix: str) -> list[str]:
    """v1 `project POST` at /public/user (U-01) straight to the sandbox: fast, and unseen by the gateway."""
    hashes: list[str] = []
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def create(index: int) -> None:
            payload = {"title": f"{prefix} {index}", "description": "", "dataset_hashes": [], "workflow_type": "manual"}
            body = encode_body(
                {"query_type": "project", "query_method": "POST", "values": {"uid": None, "payload": payload}}
            )
            async with session.post(
                sandbox_url + "/public/user", data=body, headers=v1_headers(signer, body, "", "")
            ) as r:
                hashes.append(str(v1_result(await r.json())))

        result = await run_async_phase("create", create, concurrency=32, duration=120.0, max_calls=count)
    if result.errors:
        raise StackError(f"creating projects in the sandbox failed: {result.first_error}")
    return hashes


# ---- gateway phases ------------------------------------------------------------------------------


@dataclass
class CacheCounters:
    hit: float
    miss: float
    upstream: float

    @classmethod
    def read(cls, endpoints: GatewayEndpoints) -> CacheCounters:
        text = scrape(endpoints.metrics)
        cache = {"grpc_service": SERVICE, "grpc_method": "GetProject"}
        return cls(
            hit=counter_sum(text, "encord_gateway_cache_requests_total", result="hit", **cache),
            miss=counter_sum(text, "encord_gateway_cache_requests_total", result="miss", **cache),
            upstream=counter_sum(
                text, "encord_upstream_requests_total", api="v1", query_type="project", query_method="GET"
            ),
        )

    def since(self, before: CacheCounters) -> str:
        return (
            f"gateway metrics during the phase: cache hit={self.hit - before.hit:.0f} "
            f"miss={self.miss - before.miss:.0f}, upstream v1 project GET={self.upstream - before.upstream:.0f}"
        )


async def gateway_phases(
    endpoints: GatewayEndpoints, token: str, sandbox_url: str, signer: Signer, profile: Profile
) -> tuple[list[PhaseResult], list[str]]:
    """Create projects through the gateway, then the cache-hit and cache-miss phases. Returns the results
    and the hashes of the gateway-created projects (reused by the direct phases)."""
    metadata = (("authorization", f"Bearer {token}"),)
    results: list[PhaseResult] = []
    async with grpc.aio.insecure_channel(endpoints.grpc) as channel:
        await asyncio.wait_for(channel.channel_ready(), 10)
        stub = projects_pb2_grpc.ProjectServiceStub(channel)

        log(f"creating {profile.gateway_projects} projects through the gateway (CreateProject)")
        hashes: list[str] = []
        for index in range(profile.gateway_projects):
            created = await stub.CreateProject(
                projects_pb2.CreateProjectRequest(title=f"bench {index}"),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
            hashes.append(created.project_hash)

        requests = [projects_pb2.GetProjectRequest(project_hash=h) for h in hashes]

        # Warm the cache: one call per project, then check that a repeat call is a hit.
        for request in requests:
            await stub.GetProject(request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS)
        probe = stub.GetProject(requests[0], metadata=metadata, timeout=CALL_TIMEOUT_SECONDS)
        await probe
        probe_cache = dict(await probe.initial_metadata()).get("x-cache")
        if probe_cache != "hit":
            log(f"warning: a repeated GetProject answered x-cache={probe_cache!r}, expected 'hit'")

        async def get_cached(index: int) -> None:
            await stub.GetProject(requests[index % len(requests)], metadata=metadata, timeout=CALL_TIMEOUT_SECONDS)

        log("phase 1/5: gateway cache hit")
        await run_async_phase(
            "warmup", get_cached, concurrency=ASYNC_CONCURRENCY, duration=2.0, max_calls=profile.warmup_calls
        )
        before = CacheCounters.read(endpoints)
        hit = await run_async_phase(
            HIT_LABEL,
            get_cached,
            concurrency=ASYNC_CONCURRENCY,
            duration=profile.duration,
            max_calls=profile.max_calls,
        )
        hit.notes.append(CacheCounters.read(endpoints).since(before))
        results.append(hit)

        log(f"creating {profile.miss_projects} fresh projects directly in the sandbox (v1 project POST)")
        t0 = time.perf_counter()
        fresh = await create_projects_direct(sandbox_url, signer, profile.miss_projects, "bench miss")
        log(f"  created in {time.perf_counter() - t0:.1f} s")
        fresh_requests = [projects_pb2.GetProjectRequest(project_hash=h) for h in fresh]

        async def get_fresh(index: int) -> None:
            await stub.GetProject(fresh_requests[index], metadata=metadata, timeout=CALL_TIMEOUT_SECONDS)

        log("phase 2/5: gateway cache miss")
        warmup = profile.warmup_calls
        await run_async_phase("warmup", get_fresh, concurrency=ASYNC_CONCURRENCY, duration=2.0, max_calls=warmup)
        before = CacheCounters.read(endpoints)
        miss = await run_async_phase(
            MISS_LABEL,
            get_fresh,
            concurrency=ASYNC_CONCURRENCY,
            duration=profile.duration,
            max_calls=min(profile.max_calls, len(fresh_requests) - warmup),
            first_index=warmup,
        )
        after = CacheCounters.read(endpoints)
        miss.notes.append(after.since(before))
        if after.hit - before.hit > 0 or after.miss - before.miss < miss.calls:
            miss.notes.append("WARNING: the cache counters do not show one miss per call")
        if miss.calls == len(fresh_requests) - warmup and miss.elapsed < profile.duration * 0.9:
            miss.notes.append(f"ran out of fresh projects after {miss.elapsed:.1f} s (bounded by count, not time)")
        results.append(miss)
    return results, hashes


# ---- direct phases -------------------------------------------------------------------------------


def sdk_phases(sandbox_url: str, openssh: str, hashes: list[str], profile: Profile) -> list[PhaseResult]:
    from encord import EncordUserClient

    client = EncordUserClient.create_with_ssh_private_key(openssh, domain=sandbox_url)
    client.get_project(hashes[0])  # warm: connection pool, imports
    # Check, rather than assume, what one call costs on the wire (the sandbox is idle at this point).
    sdk_wire = sandbox_calls_made_by(sandbox_url, lambda: client.get_project(hashes[0]))

    log(f"phase 3/5: SDK get_project from {SDK_THREADS} threads")
    sdk = run_thread_phase(
        SDK_LABEL,
        lambda i: client.get_project(hashes[i % len(hashes)]),
        threads=SDK_THREADS,
        duration=profile.duration,
        max_calls=profile.max_calls,
    )

    log(f"phase 4/5: SDK Project.get_project() (v1) from {SDK_THREADS} threads")
    opened = [client.get_project(h) for h in hashes]
    opened[0].get_project()
    v1_wire = sandbox_calls_made_by(sandbox_url, opened[0].get_project)
    v1 = run_thread_phase(
        SDK_V1_LABEL,
        lambda i: opened[i % len(opened)].get_project(),
        threads=SDK_THREADS,
        duration=profile.duration,
        max_calls=profile.max_calls,
    )
    sdk.notes.append(f"one call = {len(sdk_wire)} HTTP call(s): {', '.join(sdk_wire)}")
    v1.notes.append(f"one call = {len(v1_wire)} HTTP call(s): {', '.join(v1_wire)}")
    return [sdk, v1]


async def aiohttp_phase(sandbox_url: str, signer: Signer, hashes: list[str], profile: Profile) -> PhaseResult:
    log(f"phase 5/5: pooled aiohttp, {ASYNC_CONCURRENCY} concurrent v1 project GET")
    connector = aiohttp.TCPConnector(limit=ASYNC_CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def get(index: int) -> None:
            await v1_get_project(session, sandbox_url, signer, hashes[index % len(hashes)])

        await run_async_phase(
            "warmup", get, concurrency=ASYNC_CONCURRENCY, duration=2.0, max_calls=profile.warmup_calls
        )
        return await run_async_phase(
            DIRECT_LABEL,
            get,
            concurrency=ASYNC_CONCURRENCY,
            duration=profile.duration,
            max_calls=profile.max_calls,
        )


# ---- report --------------------------------------------------------------------------------------


def render(results: list[PhaseResult]) -> str:
    sdk_rate = next((r.rate for r in results if r.name == SDK_LABEL), 0.0)
    header = ["workload", "calls", "calls/s", "p50 ms", "p99 ms", "ratio vs SDK"]
    rows = [
        [
            r.name,
            str(r.calls),
            f"{r.rate:.0f}",
            f"{r.percentile_ms(50):.2f}",
            f"{r.percentile_ms(99):.2f}",
            f"{r.rate / sdk_rate:.2f}x" if sdk_rate else "n/a",
        ]
        for r in results
    ]
    return table(header, rows)


def render_cpu(results: list[PhaseResult]) -> str:
    """Where the CPU went: milliseconds of CPU per successful call by process, and cores kept busy.

    "other" is CPU used during the phase by processes that are not part of the benchmark; when it is well
    above zero, something else was running and the rates above are lower than this machine can do.
    """
    names = ["load generator", "gateway", "sandbox"]
    header = ["CPU ms per call", *names, "cores busy", "other (cores)"]
    rows = []
    for r in results:
        per_call = [f"{r.cpu[n] * 1000 / r.calls:.2f}" if n in r.cpu and r.calls else "n/a" for n in names]
        ours = own_cpu(r)
        busy = ours / r.elapsed if r.elapsed else 0.0
        other = f"{max(0.0, r.cpu[MACHINE] - ours) / r.elapsed:.2f}" if MACHINE in r.cpu and r.elapsed else "n/a"
        rows.append([r.name, *per_call, f"{busy:.2f}", other])
    return table(header, rows)


def own_cpu(result: PhaseResult) -> float:
    """CPU seconds the benchmark's own processes used during a phase."""
    return sum(v for k, v in result.cpu.items() if k != MACHINE)


def table(header: list[str], rows: list[list[str]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 s per phase, fewer projects")
    parser.add_argument("--only-labels", action="store_true", help="run only the label export workload")
    parser.add_argument("--duration", type=float, help="seconds per measured phase (default 8, quick 2; at most 60)")
    parser.add_argument("--max-calls", type=int, help="calls per measured phase at most (default 30000, quick 3000)")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.duration is not None:
        if not 0 < args.duration <= 60:
            parser.error("--duration must be in (0, 60]")
        profile = replace(profile, duration=args.duration)
    if args.max_calls is not None:
        if not 0 < args.max_calls <= 200_000:
            parser.error("--max-calls must be in [1, 200000]")
        profile = replace(profile, max_calls=args.max_calls)
    # Enough never-seen projects to keep the miss phase time-bound at up to MISS_RATE_CEILING calls/s.
    miss_projects = min(profile.max_calls, round(MISS_RATE_CEILING * profile.duration)) + profile.warmup_calls
    profile = replace(profile, miss_projects=miss_projects)

    workdir = Path(tempfile.mkdtemp(prefix="encord-gateway-bench-"))
    processes: list[ManagedProcess] = []
    results: list[PhaseResult] = []
    started = time.perf_counter()
    try:
        key = Ed25519PrivateKey.generate()  # never committed: made now, gone with the temp dir
        signer = Signer(key)
        openssh = private_key_to_openssh(key).decode("ascii")
        key_file = workdir / "org_key"
        key_file.touch(mode=0o600)
        key_file.write_text(openssh)
        data_dir = workdir / "gateway"
        data_dir.mkdir(mode=0o700)

        sandbox, sandbox_url = start_sandbox(workdir)
        processes.append(sandbox)
        CPU.watch("sandbox", sandbox.pid)
        log(f"sandbox pid {sandbox.pid} on {sandbox_url}")
        sandbox_register_user(sandbox_url, USER_EMAIL, describe_public_key(key.public_key()).openssh)
        run_cli(
            [
                "vault",
                "add-org-key",
                "--org",
                ORGANISATION,
                "--key-file",
                str(key_file),
                "--vault-dir",
                str(data_dir / "vault"),
            ]
        )
        key_file.unlink()  # the vault has it now
        # The load generator is one caller making thousands of calls a second: give it limits far above
        # the defaults (200/s), or the benchmark would measure the rate limiter instead of the gateway.
        policy_file = workdir / "bench-policy.json"
        policy_file.write_text(json.dumps(BENCH_POLICY))
        run_cli(["caller", "create", "--name", CALLER, "--policy-file", str(policy_file), "--data-dir", str(data_dir)])
        issued = run_cli(["token", "issue", "--caller", CALLER, "--data-dir", str(data_dir)])
        token = issued.splitlines()[0].strip() if issued.strip() else ""
        if not token:
            raise StackError("`token issue` printed no token")

        gateway, endpoints = start_gateway(workdir, data_dir, sandbox_url)
        processes.append(gateway)
        CPU.watch("gateway", gateway.pid)
        log(f"gateway pid {gateway.pid}: gRPC {endpoints.grpc}, metrics {endpoints.metrics}")

        labels = label_export.measure(
            sandbox_url, endpoints.grpc, token, signer, openssh, gateway.pid, quick=args.quick
        )
        if args.only_labels:
            print(label_export.render(labels))
            return 0
        uploads = upload_files.measure(
            sandbox_url, endpoints.grpc, token, signer, openssh, gateway.pid, workdir, quick=args.quick
        )
        gateway_results, hashes = asyncio.run(gateway_phases(endpoints, token, sandbox_url, signer, profile))
        results += gateway_results
        results += sdk_phases(sandbox_url, openssh, hashes, profile)
        results.append(asyncio.run(aiohttp_phase(sandbox_url, signer, hashes, profile)))
    except StackError as exc:
        log(f"error: {exc}")
        return 2
    finally:
        for proc in reversed(processes):
            proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(render(results))
    print()
    print(render_cpu(results))
    by_name = {r.name: r for r in results}
    hit, direct = by_name[HIT_LABEL], by_name[DIRECT_LABEL]
    miss = by_name[MISS_LABEL]
    print()
    if direct.rate:
        print(f"ratio gateway cache hit / aiohttp direct:  {hit.rate / direct.rate:.2f}x")
        print(f"ratio gateway cache miss / aiohttp direct: {miss.rate / direct.rate:.2f}x")
    for r in results:
        for note in r.notes:
            print(f"note ({r.name}): {note}")
    busy_elsewhere = [
        r for r in results if r.elapsed and r.cpu.get(MACHINE, 0.0) - own_cpu(r) > OTHER_LOAD_WARNING * r.elapsed
    ]
    if busy_elsewhere:
        print(
            "warning: other processes kept more than "
            f"{OTHER_LOAD_WARNING:.2f} cores busy during: {', '.join(r.name for r in busy_elsewhere)}; "
            "those rates understate this machine (see the 'other' column)"
        )
    failed = [r for r in results if r.errors]
    for r in failed:
        print(f"ERRORS ({r.name}): {r.errors} failed calls, first: {r.first_error}")
    print()
    print(label_export.render(labels))
    print()
    print(upload_files.render(uploads))
    print()
    print(credential_cost.render(credential_cost.measure()))
    print()
    print(sandbox_store.render(sandbox_store.measure()))
    print()
    try:
        print(pipeline_cost.render(pipeline_cost.measure(quick=args.quick)))
    except StackError as exc:
        log(f"pipeline measurements failed: {exc}")
        return 2
    cores = os.cpu_count()
    print(
        f"\n{profile.duration:.0f} s or {profile.max_calls} calls per phase; async phases {ASYNC_CONCURRENCY} in flight, "
        f"SDK {SDK_THREADS} threads; load generator, gateway and sandbox share {cores} cores; "
        f"total {time.perf_counter() - started:.0f} s."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
