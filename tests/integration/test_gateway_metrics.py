"""Prometheus metrics as an operator scrapes them: server, upstream and cache series, and nothing identifying."""

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import projects_pb2
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import GatewayProcess, Stubs

PROJECTS = "encord.gateway.v1.ProjectService"
ONTOLOGIES = "encord.gateway.v1.OntologyService"
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

Samples = list[tuple[str, dict[str, str], float]]


def scrape(gateway: GatewayProcess) -> Samples:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(gateway.metrics())
        for sample in family.samples
    ]


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 when there is none)."""
    return sum(v for n, ls, v in samples if n == name and all(ls.get(k) == want for k, want in labels.items()))


def test_metrics_count_grpc_and_rest_calls_upstream_requests_and_cache(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    before = scrape(gateway)

    # gRPC: a create, a get twice (miss then hit), an unknown project, an unauthenticated call.
    project_hash = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=make_title("metrics")), metadata=md
    ).project_hash
    for _ in range(2):
        stubs.projects.GetProject(projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=md)
    with pytest.raises(grpc.RpcError):
        stubs.projects.GetProject(projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4())), metadata=md)
    with pytest.raises(grpc.RpcError):
        stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=(("authorization", "Bearer nope"),))

    # REST only: an ontology created and read over REST is counted under OntologyService's methods.
    created = gateway.rest("POST", "/v1/ontologies", body={"title": make_title("metrics-onto")})
    assert created.status == 200, created.body
    ontology_hash = created.json()["ontology_hash"]
    assert gateway.rest("GET", f"/v1/ontologies/{ontology_hash}").status == 200
    assert gateway.rest("GET", f"/v1/projects/{project_hash}").headers.get("x-cache") == "hit"

    after = scrape(gateway)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    unary = {"grpc_type": "unary"}
    # Server series, named and labelled as grpc-prometheus does.
    assert delta("grpc_server_started_total", grpc_service=PROJECTS, grpc_method="CreateProject", **unary) == 1
    assert delta("grpc_server_started_total", grpc_service=PROJECTS, grpc_method="GetProject", **unary) == 4
    assert delta("grpc_server_handled_total", grpc_service=PROJECTS, grpc_method="GetProject", grpc_code="OK") == 3
    assert (
        delta("grpc_server_handled_total", grpc_service=PROJECTS, grpc_method="GetProject", grpc_code="NOT_FOUND") == 1
    )
    assert (
        delta(
            "grpc_server_handled_total", grpc_service=PROJECTS, grpc_method="ListProjects", grpc_code="UNAUTHENTICATED"
        )
        == 1
    )
    assert delta("grpc_server_handling_seconds_count", grpc_service=PROJECTS, grpc_method="GetProject") == 4
    assert delta("grpc_server_handling_seconds_bucket", grpc_service=PROJECTS, grpc_method="GetProject", le="+Inf") == 4
    # REST calls are counted under the RPC they map to.
    for method in ("CreateOntology", "GetOntology"):
        assert delta("grpc_server_started_total", grpc_service=ONTOLOGIES, grpc_method=method) == 1, method
        assert delta("grpc_server_handled_total", grpc_service=ONTOLOGIES, grpc_method=method, grpc_code="OK") == 1
        assert delta("grpc_server_handling_seconds_count", grpc_service=ONTOLOGIES, grpc_method=method) == 1

    # Upstream series, by API generation, query type and method: one project GET reached Encord per
    # distinct project (the hit did not), the unknown one included.
    v1_get = {"api": "v1", "query_type": "project", "query_method": "GET"}
    assert delta("encord_upstream_requests_total", **v1_get) == 2
    assert delta("encord_upstream_request_seconds_count", **v1_get) == 2
    assert delta("encord_upstream_requests_total", api="v1", query_type="project", query_method="POST") == 1
    v2_create = {"api": "v2", "query_type": "ontologies", "query_method": "POST"}
    assert delta("encord_upstream_requests_total", **v2_create) == 1
    assert delta("encord_upstream_request_seconds_count", **v2_create) == 1

    # Cache lookups: GetProject missed twice (the new project, the unknown one) and hit twice.
    cache = {"grpc_service": PROJECTS, "grpc_method": "GetProject"}
    cache_series = [n for n, _, _ in after if n.startswith("encord_gateway_cache_requests")]
    assert cache_series, "no cache hit/miss series"
    assert delta("encord_gateway_cache_requests_total", result="miss", **cache) == 2
    assert delta("encord_gateway_cache_requests_total", result="hit", **cache) == 2

    # Nothing identifying in any label: no resource hash, no token, no user.
    exposition = gateway.metrics()
    assert gateway.token not in exposition
    assert gateway.user.email not in exposition
    for name, labels, _ in after:
        for label, text in labels.items():
            assert not UUID.search(text), (name, label, text)
            assert project_hash not in text and ontology_hash not in text


def test_metrics_endpoint_serves_prometheus_text_without_a_token(gateway: GatewayProcess) -> None:
    with urllib.request.urlopen(gateway.metrics_url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert b"# TYPE grpc_server_handled_total counter" in response.read()
    base = gateway.metrics_url.rsplit("/", 1)[0]
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            assert response.status == 200, path
