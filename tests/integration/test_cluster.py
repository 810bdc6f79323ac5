"""The local cluster of `make cluster` (two replicas behind Envoy over Redis, PostgreSQL and OpenBao), under load.

A bounded load generator (a few threads, each one call at a time, for at most a few seconds) runs while
each property is checked:

- a write through one replica invalidates the other replica's cached read at once;
- a token revoked through one replica is refused by the other on its next call;
- a caller limited to N requests per second gets N across the cluster, not N per replica;
- a write retried on the other replica with its request id is carried out once;
- a replica SIGKILLed mid-load loses no acknowledged write, reads fail over through Envoy, and the
  errors stay within the calls that were in flight on it;
- Redis stopped and started again: the replicas keep serving (uncached) and recover by themselves.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import datasets_pb2, datasets_pb2_grpc, projects_pb2
from encord_gateway._generated.encord.gateway.v1 import projects_pb2_grpc as projects_grpc
from encord_gateway.cluster import local
from encord_gateway.cluster.local import LocalCluster, Replica

CALL_TIMEOUT = 10.0
RECOVERY_SECONDS = 15.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = local.start(tmp_path_factory.mktemp("cluster"))
    try:
        yield running
    finally:
        running.stop()


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def projects(target: str) -> projects_grpc.ProjectServiceStub:
    return projects_grpc.ProjectServiceStub(grpc.insecure_channel(target))


def admin(cluster: LocalCluster, replica: Replica, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(replica.rest + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {cluster.admin_token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=CALL_TIMEOUT) as response:
        return json.loads(response.read() or b"null")


def get(stub: projects_grpc.ProjectServiceStub, project: str, token: str) -> tuple[projects_pb2.Project, str]:
    """GetProject, and whether the replica answered from its cache (`x-cache`)."""
    answer, call = stub.GetProject.with_call(
        projects_pb2.GetProjectRequest(project_hash=project), metadata=auth(token), timeout=CALL_TIMEOUT
    )
    return answer, dict(call.initial_metadata()).get("x-cache", "")


@dataclass
class Load:
    """A bounded load generator: `threads` threads, each calling `call(i)` one at a time until stopped."""

    call: Callable[[int], object]
    threads: int = 4
    limit_seconds: float = 20.0
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        deadline = time.monotonic() + self.limit_seconds

        def work(worker: int) -> None:
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    self.call(worker * 1_000_000 + n)
                    with self._lock:
                        self.ok += 1
                except grpc.RpcError as error:
                    with self._lock:
                        self.errors.append(f"{error.code().name}: {error.details()}")
                n += 1

        self._pool = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(self.threads)]
        for thread in self._pool:
            thread.start()
        return self

    def run_out(self) -> None:
        """Let the load run until its time limit."""
        for thread in self._pool:
            thread.join()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._pool:
            thread.join()


def background_reads(cluster: LocalCluster, project: str) -> Load:
    stub = projects(cluster.envoy_grpc)
    return Load(lambda _: get(stub, project, cluster.token))


def new_project(stub: projects_grpc.ProjectServiceStub, token: str, title: str = "cluster") -> str:
    created = stub.CreateProject(projects_pb2.CreateProjectRequest(title=title), metadata=auth(token),
                                 timeout=CALL_TIMEOUT)  # fmt: skip
    return str(created.project_hash)


# ---- coherence ----------------------------------------------------------------------------------------


def test_a_write_on_one_replica_invalidates_the_cached_read_on_the_other_at_once(cluster: LocalCluster) -> None:
    a, b = cluster.replicas[:2]
    on_a, on_b = projects(a.grpc), projects(b.grpc)
    project = new_project(on_a, cluster.token)
    dataset = (
        datasets_pb2_grpc.DatasetServiceStub(grpc.insecure_channel(a.grpc))
        .CreateDataset(
            datasets_pb2.CreateDatasetRequest(title="attached"), metadata=auth(cluster.token), timeout=CALL_TIMEOUT
        )
        .dataset_hash
    )

    with background_reads(cluster, project) as load:
        get(on_b, project, cluster.token)
        before, cache = get(on_b, project, cluster.token)
        assert cache == "hit" and list(before.datasets) == []

        on_a.AddProjectDatasets(
            projects_pb2.AddProjectDatasetsRequest(project_hash=project, dataset_hashes=[dataset]),
            metadata=auth(cluster.token), timeout=CALL_TIMEOUT,
        )  # fmt: skip
        after, _ = get(on_b, project, cluster.token)  # the very next read on the other replica

    # Fresh, whether fetched now or cached again by a background read that came after the write.
    assert [d.dataset_hash for d in after.datasets] == [dataset]
    assert load.ok > 0 and load.errors == []


def test_a_token_revoked_through_one_replica_is_refused_by_the_other_on_its_next_call(cluster: LocalCluster) -> None:
    a, b = cluster.replicas[:2]
    issued = admin(cluster, a, "POST", f"/admin/v1/callers/{local.CALLER}/tokens", {})
    token, token_id = issued["token"], issued["metadata"]["token_id"]
    on_b = projects(b.grpc)
    project = new_project(projects(a.grpc), token)

    with background_reads(cluster, project) as load:
        get(on_b, project, token)
        admin(cluster, a, "POST", f"/admin/v1/tokens/{token_id}:revoke", {})
        with pytest.raises(grpc.RpcError) as refused:
            get(on_b, project, token)

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert load.ok > 0 and load.errors == []


def test_a_caller_limited_to_n_per_second_gets_n_across_the_cluster(cluster: LocalCluster) -> None:
    rate, burst = 10, 10
    a, b = cluster.replicas[:2]
    policy = {"grants": [{"organisation": local.ORGANISATION, "resources": ["*"], "rights": ["read", "write"]}],
              "limits": {"requests_per_second": rate, "burst": burst}}  # fmt: skip
    admin(cluster, a, "POST", "/admin/v1/callers", {"name": "limited", "policy": policy})
    token = admin(cluster, b, "POST", "/admin/v1/callers/limited/tokens", {})["token"]
    project = new_project(projects(a.grpc), cluster.token)
    stubs = [projects(a.grpc), projects(b.grpc)]  # every other call on each replica
    admitted = [0, 0]
    lock = threading.Lock()

    def call(i: int) -> None:
        try:
            get(stubs[i % 2], project, token)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            return
        with lock:
            admitted[i % 2] += 1

    started = time.monotonic()
    with Load(call, threads=6, limit_seconds=2.0) as load:
        load.run_out()
    elapsed = time.monotonic() - started

    attempts = load.ok
    total = sum(admitted)
    allowed = burst + rate * elapsed
    assert load.errors == []
    assert attempts > 2 * allowed, f"the load ({attempts} calls) must exceed twice the limit for this to show anything"
    assert min(admitted) > 0  # both replicas admitted some...
    assert total <= allowed + 1, f"{total} calls admitted in {elapsed:.2f} s; the cluster-wide limit is {allowed:.0f}"
    assert total >= burst + rate * 1.0  # ...and the budget refilled: this is a rate, not a one-off quota


def test_a_write_retried_on_the_other_replica_with_its_request_id_is_carried_out_once(cluster: LocalCluster) -> None:
    a, b = cluster.replicas[:2]
    title = f"idempotent {uuid.uuid4().hex[:8]}"
    request = projects_pb2.CreateProjectRequest(title=title)
    retried = (*auth(cluster.token), ("x-request-id", str(uuid.uuid4())))

    first = projects(a.grpc).CreateProject(request, metadata=retried, timeout=CALL_TIMEOUT)
    again, call = projects(b.grpc).CreateProject.with_call(request, metadata=retried, timeout=CALL_TIMEOUT)
    with pytest.raises(grpc.RpcError) as reused:  # the same id for another write, on either replica
        projects(b.grpc).CreateProject(
            projects_pb2.CreateProjectRequest(title=title + " (other)"), metadata=retried, timeout=CALL_TIMEOUT
        )

    assert again.project_hash == first.project_hash
    assert dict(call.initial_metadata())["x-idempotent-replay"] == "true"
    assert reused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = projects(a.grpc).ListProjects(
        projects_pb2.ListProjectsRequest(title_eq=title), metadata=auth(cluster.token), timeout=CALL_TIMEOUT
    )
    assert [p.project_hash for p in listed.projects] == [first.project_hash]  # Encord saw one create


# ---- faults -------------------------------------------------------------------------------------------


def test_a_replica_killed_mid_load_loses_no_acknowledged_write_and_reads_fail_over(cluster: LocalCluster) -> None:
    stub = projects(cluster.envoy_grpc)
    known = [new_project(stub, cluster.token, f"seed {n}") for n in range(4)]
    acknowledged: list[str] = []
    reads_after_kill = {"ok": 0, "failed": 0}
    killed = threading.Event()
    lock = threading.Lock()

    def call(i: int) -> None:
        if i % 2 == 0:  # writers
            project = new_project(stub, cluster.token, f"load {i}")
            with lock:
                acknowledged.append(project)
        else:
            try:
                get(stub, known[i % len(known)], cluster.token)
            except grpc.RpcError:
                if killed.is_set():
                    reads_after_kill["failed"] += 1
                raise
            if killed.is_set():
                with lock:
                    reads_after_kill["ok"] += 1

    threads = 6
    victim = cluster.replicas[1]
    with Load(call, threads=threads, limit_seconds=8.0) as load:
        _until(lambda: load.ok >= 30)
        cluster.kill_replica(victim)
        killed.set()
        _until(lambda: reads_after_kill["ok"] >= 30)
    cluster.start_replica(victim)  # for the tests after this one

    assert reads_after_kill["ok"] >= 30
    # Only calls in flight on the killed replica may fail: at most one per load thread.
    assert len(load.errors) <= threads, load.errors
    for project in acknowledged:  # every write that was answered is there
        answer, _ = get(stub, project, cluster.token)
        assert answer.project_hash == project


def test_redis_stopped_and_started_again_the_cluster_serves_uncached_and_recovers_by_itself(
    cluster: LocalCluster,
) -> None:
    stub = projects(cluster.envoy_grpc)
    project = new_project(stub, cluster.token)
    get(stub, project, cluster.token)

    with background_reads(cluster, project) as load:
        cluster.redis.stop()
        assert _until(lambda: all(_cache_available(r) == 0 for r in cluster.replicas))
        _, cache = get(stub, project, cluster.token)
        assert cache == "miss"  # served, from Encord: without Redis nothing is cached
        cluster.restart_redis()
        assert _until(lambda: all(_cache_available(r) == 1 for r in cluster.replicas))
        get(stub, project, cluster.token)
        _, cache = get(stub, project, cluster.token)
    assert cache == "hit"
    assert load.ok > 0 and load.errors == [], load.errors[:5]


def _cache_available(replica: Replica) -> float:
    with urllib.request.urlopen(replica.metrics + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("encord_gateway_cache_available "):
                return float(line.split()[1])
    return -1.0


def _until(condition: Callable[[], bool], within: float = RECOVERY_SECONDS) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_cluster_banner_names_every_endpoint_and_no_secret_but_the_tokens(cluster: LocalCluster) -> None:
    banner = cluster.banner()
    for endpoint in (cluster.envoy_grpc, cluster.envoy_rest, cluster.redis.url, cluster.openbao.url,
                     *(r.grpc for r in cluster.replicas)):  # fmt: skip
        assert endpoint in banner
    assert cluster.token in banner
    assert cluster.openbao.secret not in banner
    assert cluster.environment["ENCORD_GATEWAY_AUDIT_KEY"] not in banner
