"""SealedUntilKek at gateway level (issue 3): a gateway whose vault key-encryption key comes from an
environment variable starts without it (or with a wrong or malformed one), reports not-ready on /readyz
and gRPC health, refuses credential use with FAILED_PRECONDITION naming the seal (reason VAULT_SEALED)
without calling Encord, and becomes ready once restarted with the right key."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

import grpc
import pytest
from encord_gateway._generated.encord.gateway.admin.v1 import credentials_pb2, credentials_pb2_grpc
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import GatewayKit, GatewayProcess, Sandbox

KEK_SOURCE = "ENCORD_GATEWAY_VAULT_KEK_SOURCE"
KEK = "ENCORD_GATEWAY_VAULT_KEK"
ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}


def new_kek() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def health_status(gateway: GatewayProcess, service: str = "") -> int:
    with gateway.channel() as opened:
        answer = health_pb2_grpc.HealthStub(opened).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(answer.status)


def test_gateway_without_its_kek_starts_sealed_refuses_credential_use_and_unseals_when_restarted_with_it(
    gateway_kit: GatewayKit, sandbox: Sandbox, tmp_path: Path
) -> None:
    kek = new_kek()
    cli_env = {**os.environ, KEK_SOURCE: "env", KEK: kek}
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tenant = gateway_kit.add_organisation(tmp_path, data_dir, env=cli_env)  # the vault is made under this KEK
    gateway_kit.create_caller(data_dir, "ops-admin", ADMIN_POLICY)
    admin_token, _ = gateway_kit.issue_token(data_dir, "ops-admin")

    wrong, malformed = new_kek(), "this is not base64 of 32 bytes!"
    for label, value in (("missing", None), ("wrong", wrong), ("malformed", malformed)):
        gateway = gateway_kit.launch(tmp_path, data_dir, [tenant], env={KEK_SOURCE: "env", KEK: value}, wait="live")
        try:
            ready = gateway_kit.http("GET", gateway.metrics_url.replace("/metrics", "/readyz"))
            assert ready.status == 503, (label, ready)
            readiness = ready.json()
            assert readiness["ready"] is False and readiness["vault_sealed"] is True, (label, readiness)
            assert KEK in readiness.get("seal_reason", ""), (label, readiness)  # says what would unseal it
            assert health_status(gateway) == health_pb2.HealthCheckResponse.NOT_SERVING, label
            assert (
                health_status(gateway, "encord.gateway.v1.ProjectService") == health_pb2.HealthCheckResponse.NOT_SERVING
            ), label
            assert "encord_gateway_vault_sealed 1.0" in gateway.metrics(), label

            before = len(sandbox.requests_log())
            with gateway.channel() as opened:
                stub = projects_pb2_grpc.ProjectServiceStub(opened)
                with pytest.raises(grpc.RpcError) as raised:
                    stub.ListProjects(projects_pb2.ListProjectsRequest(), metadata=tenant.auth_metadata, timeout=10)
                details = gateway_kit.grpc_error(raised.value)
                assert (details.code, details.reason) == ("FAILED_PRECONDITION", "VAULT_SEALED"), (label, details)
                assert "sealed" in details.message, (label, details)
                status = credentials_pb2_grpc.CredentialAdminServiceStub(opened).GetVaultStatus(
                    credentials_pb2.GetVaultStatusRequest(), metadata=(("authorization", f"Bearer {admin_token}"),)
                )
                assert status.sealed and status.seal_reason and KEK in status.key_encryption_key, (label, status)
            reply = gateway.rest("POST", "/v1/projects", body={"title": "while sealed"}, token=tenant.token)
            assert reply.status == 400, (label, reply)
            assert gateway_kit.rest_error(reply).reason == "VAULT_SEALED", (label, reply)
            assert len(sandbox.requests_log()) == before, f"{label}: a sealed gateway called Encord"
            for secret in (kek, wrong):
                assert secret not in ready.body.decode() + details.message + reply.body.decode() + str(status)
        finally:
            gateway.stop()
        assert kek not in gateway.log_text() and wrong not in gateway.log_text()

    gateway = gateway_kit.launch(tmp_path, data_dir, [tenant], env={KEK_SOURCE: "env", KEK: kek})
    try:
        ready = gateway_kit.http("GET", gateway.metrics_url.replace("/metrics", "/readyz"))
        assert ready.status == 200 and ready.json()["vault_sealed"] is False, ready
        assert health_status(gateway) == health_pb2.HealthCheckResponse.SERVING
        before = len(sandbox.requests_log())
        with gateway.channel() as opened:
            projects_pb2_grpc.ProjectServiceStub(opened).ListProjects(
                projects_pb2.ListProjectsRequest(), metadata=tenant.auth_metadata, timeout=10
            )
        assert [e["user"] for e in sandbox.requests_log()[before:]] == [tenant.user.email]
    finally:
        gateway.stop()
    assert kek not in gateway.log_text()
