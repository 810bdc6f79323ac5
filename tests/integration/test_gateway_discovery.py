"""What a newcomer sees first: reflection through the real grpcurl binary, and the health service."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

if TYPE_CHECKING:
    from conftest import GatewayProcess

SERVICES = (
    "encord.gateway.v1.ProjectService",
    "encord.gateway.v1.DatasetService",
    "encord.gateway.v1.OntologyService",
    "grpc.health.v1.Health",
)


def test_grpcurl_list_shows_the_three_services_and_health(gateway: GatewayProcess, grpcurl: str) -> None:
    result = subprocess.run(
        [grpcurl, "-plaintext", gateway.grpc_target, "list"], capture_output=True, text=True, timeout=20, check=False
    )
    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.split())
    assert set(SERVICES) <= listed, result.stdout


def test_grpcurl_describes_create_project_from_reflection(gateway: GatewayProcess, grpcurl: str) -> None:
    result = subprocess.run(
        [grpcurl, "-plaintext", gateway.grpc_target, "describe", "encord.gateway.v1.CreateProjectRequest"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for field in ("title", "description", "dataset_hashes", "ontology_hash"):
        assert field in result.stdout, result.stdout


def test_health_check_answers_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    overall = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    for service in SERVICES[:3]:
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service


def test_health_check_needs_no_token(gateway: GatewayProcess, grpcurl: str) -> None:
    result = subprocess.run(
        [grpcurl, "-plaintext", gateway.grpc_target, "grpc.health.v1.Health/Check"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"status": "SERVING"' in result.stdout, result.stdout
