"""What HTTP callers can rely on besides the RPCs (edge/conventions.py): Retry-After on 429 and 503, 405 with
Allow, Request-Timeout, CORS for configured origins only, and a Server header without versions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox

APP_ORIGIN = "http://app.example.test"


def test_an_unsupported_method_is_405_with_allow(gateway: GatewayProcess) -> None:
    reply = gateway.rest("DELETE", "/v1/projects")
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD, POST"  # ListProjects, CreateProject
    assert reply.json()["details"][0]["reason"] == "METHOD_NOT_ALLOWED"


def test_the_server_header_names_no_versions(gateway: GatewayProcess) -> None:
    for path in ("/v1/projects", "/openapi.json", "/no/such/route"):
        assert gateway.rest("GET", path).headers["server"] == "encord-gateway"


def test_429_carries_retry_after_from_the_retry_info(gateway: GatewayProcess, gateway_kit: GatewayKit) -> None:
    name = f"limited-{uuid.uuid4().hex[:8]}"
    policy = {
        "grants": [{"organisation": gateway.organisation, "resources": ["*"], "rights": ["read"]}],
        "limits": {"requests_per_second": 0.5, "burst": 1},
    }
    gateway_kit.create_caller(gateway.data_dir, name, policy)
    token, _ = gateway_kit.issue_token(gateway.data_dir, name)
    assert gateway.rest("GET", "/v1/projects", token=token).status == 200
    refused = gateway.rest("GET", "/v1/projects", token=token)
    assert refused.status == 429
    delay = gateway_kit.rest_error(refused).retry_delay
    assert delay is not None and 1 < delay <= 2  # one token every two seconds
    assert refused.headers["retry-after"] == "2"  # whole seconds, rounded up


def test_503_carries_retry_after(gateway_factory: Any, free_port: Any) -> None:
    unreachable = gateway_factory(upstream=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    reply = unreachable.rest("POST", "/v1/projects", body={"title": "never made"})  # a write: not retried
    assert reply.status == 503, reply.body
    assert reply.headers["retry-after"] == "1"


@pytest.fixture
def slow_project_reads(sandbox: Sandbox) -> Iterator[None]:
    status, answer = sandbox.control(
        "POST",
        "/sandbox/v1/faults",
        {"match": {"query_type": "project", "query_method": "GET"}, "times": 1, "delay_seconds": 3},
    )
    assert status == 201, answer
    yield
    assert sandbox.control("DELETE", "/sandbox/v1/faults")[0] == 204


def test_request_timeout_bounds_a_call(
    gateway: GatewayProcess, gateway_kit: GatewayKit, slow_project_reads: None
) -> None:
    project_hash = gateway.rest("POST", "/v1/projects", body={"title": f"timeout-{uuid.uuid4().hex[:8]}"}).json()
    path = f"/v1/projects/{project_hash['project_hash']}"
    headers = {"Authorization": f"Bearer {gateway.token}", "Request-Timeout": "0.5"}
    http = gateway_kit.http
    late = http("GET", gateway.rest_url + path, headers=headers)
    assert late.status == 504
    # The deadline reaches the upstream call, as a gRPC deadline does: Encord's answer was waited for until then.
    assert late.json()["details"][0]["reason"] == "UPSTREAM_TIMEOUT"
    refused = http("GET", gateway.rest_url + path, headers={**headers, "Request-Timeout": "soon"})
    assert refused.status == 400
    assert refused.json()["details"][1]["field_violations"][0]["field"] == "Request-Timeout"


@pytest.fixture(scope="module")
def cors_gateway(gateway_kit: GatewayKit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory: Path = tmp_path_factory.mktemp("cors")
    data_dir = directory / "data"
    data_dir.mkdir()
    tenant = gateway_kit.add_organisation(directory, data_dir)
    server = gateway_kit.launch(directory, data_dir, [tenant], env={"ENCORD_GATEWAY_CORS_ORIGINS": APP_ORIGIN})
    yield server
    server.stop()


def test_cors_answers_configured_origins_only(cors_gateway: GatewayProcess, gateway_kit: GatewayKit) -> None:
    http = gateway_kit.http
    url = cors_gateway.rest_url + "/v1/projects"
    preflight = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
    allowed = http("OPTIONS", url, headers=preflight)
    assert allowed.status == 204
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN

    listed = http("GET", url, headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {cors_gateway.token}"})
    assert listed.status == 200
    assert listed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "x-cache" in listed.headers["access-control-expose-headers"]

    other = {"Origin": "http://elsewhere.example.test", "Authorization": f"Bearer {cors_gateway.token}"}
    assert "access-control-allow-origin" not in http("GET", url, headers=other).headers
    assert http("OPTIONS", url, headers={**preflight, "Origin": "http://elsewhere.example.test"}).status == 405
