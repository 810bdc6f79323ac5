"""Upstream faults as a caller notices them: which calls are retried, which status comes back, and no hangs.

The gateways here talk to a sandbox of this module's own, so injected faults never reach the session sandbox.
Faults are cleared around every test; the sandbox's request log is the witness of every upstream attempt
(each test counts only the entries of its own calls, so a delayed fault answered late cannot blur another test).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import ErrorDetails, GatewayKit, GatewayProcess, HttpReply, Sandbox

UPSTREAM_DOMAIN = "api.encord.com"
GATEWAY_DOMAIN = "gateway.encord-gateway.dev"
# A connection that fails is the gateway's own observation (Encord said nothing): the gateway's domain.
GATEWAY_OBSERVED = {"UPSTREAM_UNREACHABLE"}
MAX_ATTEMPTS = 3  # the gateway's retry bound for reads (upstream/retry.py)
V1_PROJECT_GET = {"api": "v1", "query_type": "project", "query_method": "GET"}
V1_PROJECT_CREATE = {"api": "v1", "query_type": "project", "query_method": "POST"}
V2_PROJECT_LIST = {"api": "v2", "method": "GET", "path_prefix": "/v2/public/projects"}
HTML_500 = "<html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1></body></html>"
NEVER = {"INTERNAL"}  # what an upstream fault must never turn into


# --- a sandbox and gateways of this module's own -------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A fresh sandbox for fault injection (the same `Sandbox` handle as the session's, on another process)."""
    directory = tmp_path_factory.mktemp("fault-sandbox")
    port = free_local_port()
    command = [sys.executable, "-m", "encord_gateway.sandbox", "--host", "127.0.0.1", "--port", str(port)]
    with (directory / "sandbox.log").open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    server = type(sandbox)(f"http://127.0.0.1:{port}", process.pid, port, None, process)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "the fault sandbox exited during start-up"
            try:
                with urllib.request.urlopen(server.url + "/sandbox/v1/health", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the fault sandbox did not become healthy"
            time.sleep(0.05)
        yield server
    finally:
        server.stop()  # by PID: SIGTERM, then SIGKILL


def free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def kit(gateway_kit: GatewayKit, upstream: Sandbox) -> GatewayKit:
    """The operator's tools, registering keys with the fault sandbox (the one the gateways below talk to)."""
    return type(gateway_kit)(upstream)


@pytest.fixture(scope="module")
def gw(kit: GatewayKit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway in front of the fault sandbox, with the default 30 s timeout."""
    server = kit.start(tmp_path_factory.mktemp("fault-gateway"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def quick_gw(kit: GatewayKit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway whose default timeout (applied when a caller sends no deadline, e.g. over REST) is 1 s."""
    directory = tmp_path_factory.mktemp("fault-gateway-quick")
    data_dir = directory / "data"
    data_dir.mkdir()
    tenant = kit.add_organisation(directory, data_dir)
    server = kit.launch(directory, data_dir, [tenant], env={"ENCORD_GATEWAY_DEFAULT_TIMEOUT": "1"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def projects(gw: GatewayProcess) -> Iterator[projects_pb2_grpc.ProjectServiceStub]:
    with gw.channel() as opened:
        yield projects_pb2_grpc.ProjectServiceStub(opened)


@pytest.fixture(autouse=True)
def no_leftover_faults(upstream: Sandbox) -> Iterator[None]:
    clear_faults(upstream)
    yield
    clear_faults(upstream)


# --- helpers -------------------------------------------------------------------------------------------------


def add_fault(sandbox: Sandbox, match: dict[str, str], **spec: Any) -> str:
    status, answer = sandbox.control("POST", "/sandbox/v1/faults", {"match": match, **spec})
    assert status == 201, answer
    fault_id: str = answer["id"]
    return fault_id


def clear_faults(sandbox: Sandbox) -> None:
    status, _ = sandbox.control("DELETE", "/sandbox/v1/faults")
    assert status == 204


def fault_hits(sandbox: Sandbox, fault_id: str) -> int:
    status, listed = sandbox.control("GET", "/sandbox/v1/faults")
    assert status == 200
    return int(next(f["hits"] for f in listed if f["id"] == fault_id))


def attempts(sandbox: Sandbox, keep: Callable[[dict[str, Any]], bool]) -> list[tuple[str, int | None, str | None]]:
    """(outcome, HTTP status, fault id) of every upstream request `keep` selects, in arrival order."""
    return [(e["outcome"], e["status"], e["fault"]) for e in sandbox.requests_log() if keep(e)]


def gets_of(project_hash: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (
        e["api"] == "v1" and e["query_type"] == "project" and e["query_method"] == "GET"
        and e["resource_id"] == project_hash
    )  # fmt: skip


def creates(e: dict[str, Any]) -> bool:
    return e["api"] == "v1" and e["query_type"] == "project" and e["query_method"] == "POST"


def lists(e: dict[str, Any]) -> bool:
    return e["api"] == "v2" and e["method"] == "GET" and e["path"] == "/v2/public/projects"


def new_project(projects: projects_pb2_grpc.ProjectServiceStub, gw: GatewayProcess) -> str:
    """A project made before any fault is set, so a GetProject of it is never a cache hit from another test."""
    request = projects_pb2.CreateProjectRequest(title=f"faults-{uuid.uuid4().hex[:10]}")
    project_hash: str = projects.CreateProject(request, metadata=gw.auth_metadata, timeout=10).project_hash
    assert project_hash
    return project_hash


def grpc_failure(kit: GatewayKit, call: Callable[[], Any]) -> ErrorDetails:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return kit.grpc_error(raised.value)


def assert_upstream_error(details: ErrorDetails, code: str, reasons: set[str]) -> None:
    assert details.code not in NEVER, details
    assert details.code == code, details
    assert details.reason in reasons, details
    assert details.domain == (GATEWAY_DOMAIN if details.reason in GATEWAY_OBSERVED else UPSTREAM_DOMAIN), details


def x_cache(call: grpc.Call) -> str | None:
    return dict(call.initial_metadata() or ()).get("x-cache")


def upstream_outcomes(gw: GatewayProcess, query_type: str, query_method: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(gw.metrics()):
        for sample in family.samples:
            if (
                sample.name == "encord_upstream_requests_total"
                and sample.labels.get("query_type") == query_type
                and sample.labels.get("query_method") == query_method
            ):
                outcome = sample.labels["outcome"]
                counts[outcome] = counts.get(outcome, 0.0) + sample.value
    return counts


def rest_get_project(gw: GatewayProcess, project_hash: str) -> HttpReply:
    return gw.rest("GET", f"/v1/projects/{project_hash}")


# --- reads are retried on transient failures -----------------------------------------------------------------


def test_a_read_meeting_one_503_is_retried_and_succeeds(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox
) -> None:
    project_hash = new_project(projects, gw)
    fault = add_fault(upstream, V1_PROJECT_GET, status=503, body="Service Unavailable")

    project = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=10
    )

    assert project.project_hash == project_hash
    assert attempts(upstream, gets_of(project_hash)) == [("fault", 503, fault), ("ok", 200, None)]


def test_a_v2_read_meeting_one_503_is_retried_and_succeeds(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox
) -> None:
    title = f"faults-list-{uuid.uuid4().hex[:10]}"
    projects.CreateProject(projects_pb2.CreateProjectRequest(title=title), metadata=gw.auth_metadata, timeout=10)
    upstream.clear_requests_log()
    fault = add_fault(upstream, V2_PROJECT_LIST, status=503, body='{"message": "overloaded"}')

    listed = projects.ListProjects(
        projects_pb2.ListProjectsRequest(title_eq=title), metadata=gw.auth_metadata, timeout=10
    )

    assert [p.title for p in listed.projects] == [title]
    assert attempts(upstream, lists) == [("fault", 503, fault), ("ok", 200, None)]


def test_a_read_meeting_429_with_retry_after_twice_then_succeeds_after_waiting(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox
) -> None:
    project_hash = new_project(projects, gw)
    fault = add_fault(upstream, V1_PROJECT_GET, times=2, status=429, headers={"Retry-After": "1"})

    started = time.monotonic()
    project = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=10
    )
    elapsed = time.monotonic() - started

    assert project.project_hash == project_hash
    assert attempts(upstream, gets_of(project_hash)) == [
        ("fault", 429, fault),
        ("fault", 429, fault),
        ("ok", 200, None),
    ]
    assert 1.8 <= elapsed < 5.0, f"Retry-After: 1 twice should cost about 2 s, took {elapsed:.2f}s"


def test_a_persistent_429_is_resource_exhausted_with_retry_info_after_at_most_3_attempts(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    project_hash = new_project(projects, gw)
    fault = add_fault(upstream, V1_PROJECT_GET, times=0, status=429, headers={"Retry-After": "1"})

    details = grpc_failure(
        kit,
        lambda: projects.GetProject(
            projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=10
        ),
    )

    assert_upstream_error(details, "RESOURCE_EXHAUSTED", {"RATE_LIMIT_ERROR"})
    assert details.retry_delay == pytest.approx(1.0), details
    seen = attempts(upstream, gets_of(project_hash))
    assert 2 <= len(seen) <= MAX_ATTEMPTS, seen  # a read: retried, but bounded
    assert set(seen) == {("fault", 429, fault)}


def test_retry_after_beyond_the_callers_deadline_is_not_waited_out(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    """Retry-After: 1 with a 1.5 s deadline: one retry fits, the next would not, so the 429 comes back in time."""
    project_hash = new_project(projects, gw)
    fault = add_fault(upstream, V1_PROJECT_GET, times=0, status=429, headers={"Retry-After": "1"})

    details = grpc_failure(
        kit,
        lambda: projects.GetProject(
            projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=1.5
        ),
    )

    assert_upstream_error(details, "RESOURCE_EXHAUSTED", {"RATE_LIMIT_ERROR"})
    assert details.retry_delay == pytest.approx(1.0), details
    # Had it slept past the 1.5 s deadline, the caller would have seen DEADLINE_EXCEEDED instead.
    assert attempts(upstream, gets_of(project_hash)) == [("fault", 429, fault), ("fault", 429, fault)]


def test_rest_persistent_429_is_http_429_with_retry_info(
    gw: GatewayProcess, upstream: Sandbox, kit: GatewayKit
) -> None:
    project_hash = str(uuid.uuid4())
    fault = add_fault(upstream, V1_PROJECT_GET, times=0, status=429, headers={"Retry-After": "1"})

    reply = rest_get_project(gw, project_hash)

    assert reply.status == 429, reply
    details = kit.rest_error(reply)
    assert_upstream_error(details, "RESOURCE_EXHAUSTED", {"RATE_LIMIT_ERROR"})
    assert details.retry_delay == pytest.approx(1.0), details
    seen = attempts(upstream, gets_of(project_hash))
    assert 2 <= len(seen) <= MAX_ATTEMPTS and set(seen) == {("fault", 429, fault)}, seen


@pytest.mark.parametrize("status", [500, 503])
def test_a_read_meeting_a_5xx_that_carries_a_v1_error_envelope_is_still_retried(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, status: int
) -> None:
    """Encord's own 5xx can carry a JSON envelope (the sandbox answers its failures so); it is a 5xx all the same.

    Wire reference §4.2: "500, 502, 503 | retried if retryable; finally JSON-envelope check".
    """
    project_hash = new_project(projects, gw)
    envelope = f'{{"status": {status}, "response": ["UNKNOWN_ERROR"]}}'
    fault = add_fault(
        upstream, V1_PROJECT_GET, status=status, body=envelope, headers={"Content-Type": "application/json"}
    )

    project = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=10
    )

    assert project.project_hash == project_hash
    assert attempts(upstream, gets_of(project_hash)) == [("fault", status, fault), ("ok", 200, None)]


# --- writes are never retried blindly ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault_spec", "code", "reasons"),
    [
        pytest.param({"status": 503}, "UNAVAILABLE", {"UPSTREAM_UNAVAILABLE"}, id="503"),
        pytest.param(
            {"status": 429, "headers": {"Retry-After": "1"}}, "RESOURCE_EXHAUSTED", {"RATE_LIMIT_ERROR"}, id="429"
        ),
        pytest.param(
            {"status": 500, "body": HTML_500, "headers": {"Content-Type": "text/html"}},
            "UNAVAILABLE",
            {"UPSTREAM_SERVER_ERROR"},
            id="html-500",
        ),
        pytest.param({"reset": True}, "UNAVAILABLE", {"UPSTREAM_UNREACHABLE"}, id="reset"),
    ],
)
def test_a_write_meeting_a_transient_failure_is_not_retried(
    gw: GatewayProcess,
    projects: projects_pb2_grpc.ProjectServiceStub,
    upstream: Sandbox,
    kit: GatewayKit,
    fault_spec: dict[str, Any],
    code: str,
    reasons: set[str],
) -> None:
    upstream.clear_requests_log()
    fault = add_fault(upstream, V1_PROJECT_CREATE, times=0, **fault_spec)

    details = grpc_failure(
        kit,
        lambda: projects.CreateProject(
            projects_pb2.CreateProjectRequest(title="never-twice"), metadata=gw.auth_metadata, timeout=10
        ),
    )

    assert_upstream_error(details, code, reasons)
    assert attempts(upstream, creates) == [("fault", fault_spec.get("status"), fault)]  # exactly one attempt


def test_rest_write_meeting_503_is_http_503_after_one_attempt(
    gw: GatewayProcess, upstream: Sandbox, kit: GatewayKit
) -> None:
    upstream.clear_requests_log()
    fault = add_fault(upstream, V1_PROJECT_CREATE, times=0, status=503)

    reply = gw.rest("POST", "/v1/projects", body={"title": "never-twice-rest"})

    assert reply.status == 503, reply
    assert_upstream_error(kit.rest_error(reply), "UNAVAILABLE", {"UPSTREAM_UNAVAILABLE"})
    assert attempts(upstream, creates) == [("fault", 503, fault)]


# --- unreadable answers and resets give a clear status, never INTERNAL -----------------------------------------


def test_a_persistent_html_500_page_is_unavailable_upstream_server_error(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    project_hash = new_project(projects, gw)
    fault = add_fault(
        upstream, V1_PROJECT_GET, times=0, status=500, body=HTML_500, headers={"Content-Type": "text/html"}
    )

    details = grpc_failure(
        kit,
        lambda: projects.GetProject(
            projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=10
        ),
    )

    # A 500 is transient, as Encord's SDK treats it (wire reference §4.2): retried, then UNAVAILABLE.
    assert_upstream_error(details, "UNAVAILABLE", {"UPSTREAM_SERVER_ERROR"})
    assert "<html" not in details.message.lower(), details  # the page is not echoed to the caller
    seen = attempts(upstream, gets_of(project_hash))
    assert len(seen) == MAX_ATTEMPTS and set(seen) == {("fault", 500, fault)}, seen

    reply = rest_get_project(gw, project_hash)
    assert reply.status == 503, reply
    rest = kit.rest_error(reply)
    assert rest.code == details.code and rest.reason == details.reason, rest


MALFORMED_READS = [
    pytest.param(V1_PROJECT_GET, '{"status": 200, "response": {"project_hash": "', id="v1-truncated-json"),
    pytest.param(V1_PROJECT_GET, "<html><body>OK</body></html>", id="v1-html-with-200"),
    pytest.param(V1_PROJECT_GET, '{"detail": "not an envelope"}', id="v1-json-without-envelope"),
    pytest.param(V1_PROJECT_GET, '{"status": 200, "response": "a string, not a project"}', id="v1-wrong-shape"),
    pytest.param(V1_PROJECT_GET, '{"status": 400, "response": "NOT_A_LIST"}', id="v1-error-without-code-list"),
    pytest.param(V2_PROJECT_LIST, '{"results": [{"project_hash": "', id="v2-truncated-json"),
    pytest.param(V2_PROJECT_LIST, '["not", "a", "page"]', id="v2-wrong-shape"),
    pytest.param(V2_PROJECT_LIST, '{"results": [{"title": {"nested": true}}]}', id="v2-wrong-field-type"),
]


@pytest.mark.parametrize(("match", "body"), MALFORMED_READS)
def test_an_unreadable_200_answer_is_a_clear_upstream_status_never_internal(
    gw: GatewayProcess,
    projects: projects_pb2_grpc.ProjectServiceStub,
    upstream: Sandbox,
    kit: GatewayKit,
    match: dict[str, str],
    body: str,
) -> None:
    project_hash = new_project(projects, gw)
    upstream.clear_requests_log()
    fault = add_fault(upstream, match, times=0, status=200, body=body, headers={"Content-Type": "application/json"})
    md = gw.auth_metadata
    keep: Callable[[dict[str, Any]], bool]
    if match is V2_PROJECT_LIST:
        title = f"malformed-{uuid.uuid4().hex[:8]}"

        def call() -> Any:
            return projects.ListProjects(projects_pb2.ListProjectsRequest(title_eq=title), metadata=md, timeout=10)

        keep = lists
    else:

        def call() -> Any:
            return projects.GetProject(
                projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=md, timeout=10
            )

        keep = gets_of(project_hash)

    details = grpc_failure(kit, call)

    assert details.code in {"UNAVAILABLE", "UNKNOWN"}, details
    assert_upstream_error(details, details.code, {"UPSTREAM_MALFORMED_RESPONSE", "UPSTREAM_SERVER_ERROR"})
    seen = attempts(upstream, keep)
    assert 1 <= len(seen) <= MAX_ATTEMPTS and set(seen) == {("fault", 200, fault)}, seen


def test_a_connection_reset_on_a_read_is_retried_and_succeeds(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox
) -> None:
    project_hash = new_project(projects, gw)
    fault = add_fault(upstream, V1_PROJECT_GET, reset=True)

    project = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=10
    )

    assert project.project_hash == project_hash
    assert attempts(upstream, gets_of(project_hash)) == [("fault", None, fault), ("ok", 200, None)]


def test_persistent_resets_on_a_v1_read_are_unavailable_after_at_most_3_attempts(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    project_hash = new_project(projects, gw)
    fault = add_fault(upstream, V1_PROJECT_GET, times=0, reset=True)

    details = grpc_failure(
        kit,
        lambda: projects.GetProject(
            projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=10
        ),
    )

    assert_upstream_error(details, "UNAVAILABLE", {"UPSTREAM_UNREACHABLE"})
    seen = attempts(upstream, gets_of(project_hash))
    assert 2 <= len(seen) <= MAX_ATTEMPTS and set(seen) == {("fault", None, fault)}, seen


def test_persistent_resets_on_a_v2_read_are_unavailable_after_at_most_3_attempts(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    # Warm the pool so the reset meets a kept-alive connection, as it would in production.
    projects.ListProjects(projects_pb2.ListProjectsRequest(title_eq="warm-up"), metadata=gw.auth_metadata, timeout=10)
    upstream.clear_requests_log()
    fault = add_fault(upstream, V2_PROJECT_LIST, times=0, reset=True)

    details = grpc_failure(
        kit,
        lambda: projects.ListProjects(
            projects_pb2.ListProjectsRequest(title_eq=f"reset-{uuid.uuid4().hex[:8]}"),
            metadata=gw.auth_metadata,
            timeout=10,
        ),
    )

    assert_upstream_error(details, "UNAVAILABLE", {"UPSTREAM_UNREACHABLE"})
    seen = attempts(upstream, lists)
    assert 2 <= len(seen) <= MAX_ATTEMPTS and set(seen) == {("fault", None, fault)}, seen


# --- slow upstreams end at the deadline, not later ------------------------------------------------------------


def test_a_slow_upstream_ends_at_the_grpc_callers_deadline(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    project_hash = new_project(projects, gw)
    slow_hash = str(uuid.uuid4())  # its late, normal answer (after 5 s) must not count for any other call
    fault = add_fault(upstream, V1_PROJECT_GET, delay_seconds=5)
    before = upstream_outcomes(gw, "project", "GET").get("UPSTREAM_TIMEOUT", 0.0)

    details = grpc_failure(
        kit,
        lambda: projects.GetProject(
            projects_pb2.GetProjectRequest(project_hash=slow_hash), metadata=gw.auth_metadata, timeout=0.5
        ),
    )

    assert details.code == "DEADLINE_EXCEEDED", details
    assert fault_hits(upstream, fault) == 1  # the request did reach the (slow) upstream
    # The gateway abandons its own upstream request at the deadline too (rather than holding it for 5 s).
    give_up = time.monotonic() + 2.0
    while upstream_outcomes(gw, "project", "GET").get("UPSTREAM_TIMEOUT", 0.0) <= before:
        assert time.monotonic() < give_up, "the gateway's upstream request outlived the caller's deadline"
        time.sleep(0.05)
    # And it serves the next call at once.
    started = time.monotonic()
    project = projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=5
    )
    assert project.project_hash == project_hash
    assert time.monotonic() - started < 4.0  # not queued behind the 5 s upstream answer


def test_a_slow_upstream_over_rest_ends_at_the_gateways_default_timeout_with_504(
    quick_gw: GatewayProcess, upstream: Sandbox, kit: GatewayKit
) -> None:
    fault = add_fault(upstream, V1_PROJECT_GET, times=2, delay_seconds=5)

    started = time.monotonic()
    reply = rest_get_project(quick_gw, str(uuid.uuid4()))
    elapsed = time.monotonic() - started

    assert reply.status == 504, reply
    details = kit.rest_error(reply)
    assert details.code == "DEADLINE_EXCEEDED", details
    assert 0.8 <= elapsed < 4.5, f"ENCORD_GATEWAY_DEFAULT_TIMEOUT=1 but the call took {elapsed:.2f}s"

    # A gRPC caller asking for more than the default gets the default as the upper bound.
    with quick_gw.channel() as opened:
        stub = projects_pb2_grpc.ProjectServiceStub(opened)
        started = time.monotonic()
        details = grpc_failure(
            kit,
            lambda: stub.GetProject(
                projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4())),
                metadata=quick_gw.auth_metadata,
                timeout=10,
            ),
        )
        elapsed = time.monotonic() - started
    assert details.code == "DEADLINE_EXCEEDED", details
    assert elapsed < 4.5, f"a 10 s caller deadline was not capped by the 1 s default ({elapsed:.2f}s)"
    assert fault_hits(upstream, fault) == 2


# --- Encord's error envelopes map per the table -------------------------------------------------------------


def test_a_real_not_found_envelope_is_not_found_and_not_retried(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    unknown = str(uuid.uuid4())

    details = grpc_failure(
        kit,
        lambda: projects.GetProject(
            projects_pb2.GetProjectRequest(project_hash=unknown), metadata=gw.auth_metadata, timeout=10
        ),
    )

    assert_upstream_error(details, "NOT_FOUND", {"RESOURCE_NOT_FOUND_ERROR"})
    assert attempts(upstream, gets_of(unknown)) == [("RESOURCE_NOT_FOUND_ERROR", 200, None)]
    reply = rest_get_project(gw, unknown)
    assert reply.status == 404, reply
    assert_upstream_error(kit.rest_error(reply), "NOT_FOUND", {"RESOURCE_NOT_FOUND_ERROR"})


@pytest.mark.parametrize(
    ("envelope_code", "code"),
    [
        ("AUTHENTICATION_ERROR", "FAILED_PRECONDITION"),
        ("SSH_KEY_NOT_FOUND_ERROR", "FAILED_PRECONDITION"),
        ("AUTHORISATION_ERROR", "PERMISSION_DENIED"),
        ("RESOURCE_NOT_FOUND_ERROR", "NOT_FOUND"),
        ("INVALID_ARGUMENTS_ERROR", "INVALID_ARGUMENT"),
        ("RATE_LIMIT_ERROR", "RESOURCE_EXHAUSTED"),
        ("METHOD_NOT_ALLOWED_ERROR", "UNIMPLEMENTED"),
        ("A_CODE_FROM_THE_FUTURE_ERROR", "UNKNOWN"),
    ],
)
def test_v1_error_envelopes_map_per_the_table(
    gw: GatewayProcess,
    projects: projects_pb2_grpc.ProjectServiceStub,
    upstream: Sandbox,
    kit: GatewayKit,
    envelope_code: str,
    code: str,
) -> None:
    """Envelopes in the sandbox's own error form (HTTP 200, `status` 400, a one-element `response` list)."""
    project_hash = new_project(projects, gw)
    envelope = f'{{"status": 400, "response": ["{envelope_code}"], "payload": "refused"}}'
    fault = add_fault(
        upstream, V1_PROJECT_GET, times=0, status=200, body=envelope, headers={"Content-Type": "application/json"}
    )

    details = grpc_failure(
        kit,
        lambda: projects.GetProject(
            projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gw.auth_metadata, timeout=10
        ),
    )

    assert_upstream_error(details, code, {envelope_code})
    assert details.code != "UNAUTHENTICATED"  # the caller's own token was fine
    assert attempts(upstream, gets_of(project_hash)) == [("fault", 200, fault)]  # an answer, not a transient


def test_a_401_on_a_v2_call_is_failed_precondition_not_the_callers_authentication(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    upstream.clear_requests_log()
    fault = add_fault(upstream, V2_PROJECT_LIST, times=0, status=401, body='{"message": "signature rejected"}')

    details = grpc_failure(
        kit,
        lambda: projects.ListProjects(
            projects_pb2.ListProjectsRequest(title_eq=f"denied-{uuid.uuid4().hex[:8]}"),
            metadata=gw.auth_metadata,
            timeout=10,
        ),
    )

    assert_upstream_error(details, "FAILED_PRECONDITION", {"AUTHENTICATION_ERROR"})
    assert "operator" in details.message, details  # who has to act: the gateway's operator, not the caller
    assert attempts(upstream, lists) == [("fault", 401, fault)]

    reply = gw.rest("GET", f"/v1/projects?title_eq=denied-{uuid.uuid4().hex[:8]}")
    assert reply.status == 400, reply  # FAILED_PRECONDITION, not 401: the caller's token was accepted
    assert_upstream_error(kit.rest_error(reply), "FAILED_PRECONDITION", {"AUTHENTICATION_ERROR"})


# --- no sticky failure, no poisoned cache -------------------------------------------------------------------


def test_after_faults_are_cleared_the_same_calls_succeed_and_no_failure_was_cached(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub, upstream: Sandbox, kit: GatewayKit
) -> None:
    md = gw.auth_metadata
    title = f"faults-heal-{uuid.uuid4().hex[:10]}"
    project_hash = projects.CreateProject(projects_pb2.CreateProjectRequest(title=title), metadata=md).project_hash
    get = projects_pb2.GetProjectRequest(project_hash=project_hash)
    listing = projects_pb2.ListProjectsRequest(title_eq=title)
    upstream.clear_requests_log()
    add_fault(upstream, {}, times=0, status=503)  # every Encord call fails

    for call in (
        lambda: projects.GetProject(get, metadata=md, timeout=10),
        lambda: projects.ListProjects(listing, metadata=md, timeout=10),
        lambda: projects.CreateProject(projects_pb2.CreateProjectRequest(title=title + "-2"), metadata=md, timeout=10),
    ):
        assert_upstream_error(grpc_failure(kit, call), "UNAVAILABLE", {"UPSTREAM_UNAVAILABLE"})
    reply = rest_get_project(gw, project_hash)
    assert reply.status == 503, reply
    failed_gets = len(attempts(upstream, gets_of(project_hash)))

    clear_faults(upstream)

    project, got = projects.GetProject.with_call(get, metadata=md, timeout=10)
    assert project.project_hash == project_hash and project.title == title
    assert x_cache(got) == "miss", "a failed read was served from the cache"
    assert attempts(upstream, gets_of(project_hash))[failed_gets:] == [("ok", 200, None)]
    _, again = projects.GetProject.with_call(get, metadata=md, timeout=10)
    assert x_cache(again) == "hit"  # the success, and only it, is cached

    listed, got = projects.ListProjects.with_call(listing, metadata=md, timeout=10)
    assert [p.project_hash for p in listed.projects] == [project_hash]
    assert x_cache(got) == "miss"
    assert rest_get_project(gw, project_hash).status == 200
    created = projects.CreateProject(projects_pb2.CreateProjectRequest(title=title + "-2"), metadata=md, timeout=10)
    assert created.project_hash


# --- streams: deadlines, cancellation, metrics and audit as for unary calls -----------------------------------


def samples(gw: GatewayProcess, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(gw.metrics()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def handled_streams(gw: GatewayProcess, code: str) -> float:
    return samples(
        gw, "grpc_server_handled_total", grpc_type="server_stream", grpc_method="StreamProjects", grpc_code=code
    )


def wait_for(condition: Callable[[], bool], what: str, bound: float = 10.0) -> None:
    """Poll until `condition` holds (the gateway reports in its metrics); fail after `bound` seconds."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"not within {bound}s: {what}"
        time.sleep(0.02)


def test_a_stream_stops_at_the_callers_deadline_when_encord_stalls(
    upstream: Sandbox, kit: GatewayKit, gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub
) -> None:
    add_fault(upstream, V2_PROJECT_LIST, delay_seconds=20)
    before = handled_streams(gw, "DEADLINE_EXCEEDED")
    started = time.monotonic()

    details = grpc_failure(
        kit,
        lambda: list(projects.StreamProjects(projects_pb2.ListProjectsRequest(), metadata=gw.auth_metadata, timeout=1)),
    )

    assert details.code == "DEADLINE_EXCEEDED", details
    assert time.monotonic() - started < 10  # the 20 s stall was not waited out
    wait_for(lambda: handled_streams(gw, "DEADLINE_EXCEEDED") == before + 1, "the stream counted DEADLINE_EXCEEDED")


def test_a_stream_the_caller_cancels_is_counted_and_audited_as_cancelled(
    upstream: Sandbox, gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub
) -> None:
    add_fault(upstream, V2_PROJECT_LIST, delay_seconds=20)
    started = samples(gw, "grpc_server_started_total", grpc_type="server_stream", grpc_method="StreamProjects")
    cancelled = handled_streams(gw, "CANCELLED")
    uses = samples(gw, "encord_gateway_credential_uses_total", grpc_code="CANCELLED")

    stream = projects.StreamProjects(projects_pb2.ListProjectsRequest(), metadata=gw.auth_metadata, timeout=30)
    wait_for(
        lambda: (
            samples(gw, "grpc_server_started_total", grpc_type="server_stream", grpc_method="StreamProjects")
            == started + 1
        ),
        "the gateway started the stream",
    )
    stream.cancel()

    wait_for(lambda: handled_streams(gw, "CANCELLED") == cancelled + 1, "the stream counted CANCELLED")
    wait_for(
        lambda: samples(gw, "encord_gateway_credential_uses_total", grpc_code="CANCELLED") == uses + 1,
        "the credential use recorded (metrics and audit share the report) as CANCELLED",
    )


def test_a_finished_stream_is_counted_ok_with_one_credential_use(
    gw: GatewayProcess, projects: projects_pb2_grpc.ProjectServiceStub
) -> None:
    title = f"stream-ok-{uuid.uuid4().hex[:10]}"
    projects.CreateProject(projects_pb2.CreateProjectRequest(title=title), metadata=gw.auth_metadata, timeout=10)
    ok = handled_streams(gw, "OK")
    uses = samples(gw, "encord_gateway_credential_uses_total", grpc_code="OK")

    streamed = list(
        projects.StreamProjects(projects_pb2.ListProjectsRequest(title_eq=title), metadata=gw.auth_metadata, timeout=10)
    )

    assert [p.title for p in streamed] == [title]
    assert handled_streams(gw, "OK") == ok + 1
    assert samples(gw, "encord_gateway_credential_uses_total", grpc_code="OK") == uses + 1
