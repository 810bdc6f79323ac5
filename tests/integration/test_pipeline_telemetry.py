"""What an operator sees of a running `encord-gateway serve`: one JSON access-log line per call (never a
secret in it), and traces exported by OTLP/HTTP to a collector when one is configured (a real OTLP/HTTP
receiver in this test, decoding the protobuf the exporter sends)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

if TYPE_CHECKING:
    from conftest import GatewayKit

EXPORT_WAIT_SECONDS = 20.0


def access_lines(log_text: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "encord_gateway.access"]


def test_json_logs_have_one_line_per_call_with_the_request_id_and_never_a_token(
    gateway_kit: GatewayKit, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tenant = gateway_kit.add_organisation(tmp_path, data_dir)
    gateway = gateway_kit.launch(tmp_path, data_dir, [tenant], env={"ENCORD_GATEWAY_LOG_FORMAT": "json"})
    try:
        with gateway.channel() as channel:
            projects = projects_pb2_grpc.ProjectServiceStub(channel)
            md = (*tenant.auth_metadata, ("x-request-id", "logged-1"))
            created = projects.CreateProject(projects_pb2.CreateProjectRequest(title="logged"), metadata=md)
            read = projects_pb2.GetProjectRequest(project_hash=created.project_hash)
            for suffix in ("2", "3"):
                projects.GetProject(read, metadata=(*tenant.auth_metadata, ("x-request-id", f"logged-{suffix}")))
            with pytest.raises(grpc.RpcError):
                projects.GetProject(read, metadata=(("authorization", "Bearer wrong"), ("x-request-id", "logged-4")))
    finally:
        gateway.stop()  # access lines are written in batches: all of them by the time it has stopped
    text = gateway.log_text()

    by_id = {line["request_id"]: line for line in access_lines(text)}
    assert set(by_id) >= {"logged-1", "logged-2", "logged-3", "logged-4"}
    create, miss, hit, refused = (by_id[f"logged-{n}"] for n in range(1, 5))
    assert {key: create[key] for key in ("method", "edge", "caller", "organisation", "code", "upstream_attempts")} == {
        "method": "encord.gateway.v1.ProjectService/CreateProject",
        "edge": "grpc",
        "caller": f"svc-{tenant.organisation}",
        "organisation": tenant.organisation,
        "code": "OK",
        "upstream_attempts": 1,
    }
    assert (miss["cache"], miss["upstream_attempts"]) == ("miss", 2)  # GetProject: the project and its ontology
    assert (hit["cache"], hit["upstream_attempts"]) == ("hit", 0)
    assert (refused["code"], refused["reason"], refused["caller"]) == ("UNAUTHENTICATED", "INVALID_TOKEN", "")
    assert all(line["duration_ms"] >= 0 for line in (create, miss, hit, refused))
    assert tenant.token not in text and "Bearer" not in text


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP traces receiver: keeps every ExportTraceServiceRequest it is sent."""

    received: list[trace_service_pb2.ExportTraceServiceRequest]
    arrived: threading.Event

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/x-protobuf":
            self.received.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            self.arrived.set()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test's output is the assertions."""


@pytest.fixture
def collector() -> Iterator[tuple[str, type[Collector]]]:
    handler = type("TestCollector", (Collector,), {"received": [], "arrived": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", handler
    finally:
        server.shutdown()
        server.server_close()


def test_traces_are_exported_by_otlp_when_an_endpoint_is_configured(
    gateway_kit: GatewayKit, tmp_path: Path, collector: tuple[str, type[Collector]]
) -> None:
    endpoint, received = collector
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tenant = gateway_kit.add_organisation(tmp_path, data_dir)
    env = {"ENCORD_GATEWAY_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    gateway = gateway_kit.launch(tmp_path, data_dir, [tenant], env=env)
    trace_id = uuid.uuid4().hex
    try:
        with gateway.channel() as channel:
            traceparent = ("traceparent", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
            projects_pb2_grpc.ProjectServiceStub(channel).CreateProject(
                projects_pb2.CreateProjectRequest(title="traced"), metadata=(*tenant.auth_metadata, traceparent)
            )
        assert received.arrived.wait(EXPORT_WAIT_SECONDS), "no traces reached the collector"
    finally:
        gateway.stop()  # flushes what is still buffered

    spans = {
        span.name: (resource.resource, span)
        for request in received.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
        if span.trace_id.hex() == trace_id
    }
    resource, call = spans["/encord.gateway.v1.ProjectService/CreateProject"]
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "encord-gateway"
    attributes = {a.key: a.value for a in call.attributes}
    assert attributes["encord_gateway.request_id"].string_value == trace_id
    assert {"credential resolve", "encord project POST", "POST"} <= set(spans)
