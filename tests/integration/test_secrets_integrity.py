"""Integrity at gateway level (issue 3): one flipped byte anywhere in an organisation key's stored
ciphertext (key term, format version, nonce, ciphertext body or tag) makes the gateway refuse that
organisation's calls with FAILED_PRECONDITION (reason CREDENTIAL_UNUSABLE) instead of signing with
garbage, nothing reaches Encord for it, and the other organisations carry on."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import GatewayKit, Sandbox, Tenant

# Offsets into a stored value: term (4 bytes) ‖ format version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16).
FLIPS = {"term": 3, "version": 4, "nonce": 10, "body": 40, "tag": -1}


def list_projects(target: str, tenant: Tenant) -> projects_pb2.ListProjectsResponse:
    with grpc.insecure_channel(target) as opened:
        return projects_pb2_grpc.ProjectServiceStub(opened).ListProjects(
            projects_pb2.ListProjectsRequest(), metadata=tenant.auth_metadata, timeout=10
        )


def flip(vault_db: Path, organisation: str, offset: int) -> None:
    """Flip one bit of one byte of the organisation key's stored ciphertext (the gateway is stopped)."""
    with sqlite3.connect(vault_db) as conn:
        rows = conn.execute(
            "SELECT id, ciphertext FROM records WHERE kind = 'org_ssh_key' AND organisation = ?", (organisation,)
        ).fetchall()
        assert len(rows) == 1, rows
        record_id, ciphertext = rows[0]
        damaged = bytearray(ciphertext)
        damaged[offset] ^= 0x01
        conn.execute(
            "UPDATE records SET ciphertext = ? WHERE kind = 'org_ssh_key' AND organisation = ? AND id = ?",
            (bytes(damaged), organisation, record_id),
        )
    conn.close()


def test_one_flipped_ciphertext_byte_makes_the_gateway_refuse_that_credential_and_call_nothing_upstream(
    gateway_kit: GatewayKit, sandbox: Sandbox, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tenants = [gateway_kit.add_organisation(tmp_path, data_dir) for _ in range(len(FLIPS) + 1)]
    intact, damaged = tenants[0], dict(zip(FLIPS, tenants[1:], strict=True))

    gateway = gateway_kit.launch(tmp_path, data_dir, tenants)
    try:
        for tenant in tenants:  # every key works before the damage
            list_projects(gateway.grpc_target, tenant)
    finally:
        gateway.stop()
    for where, tenant in damaged.items():
        flip(data_dir / "vault" / "vault.db", tenant.organisation, FLIPS[where])

    gateway = gateway_kit.launch(tmp_path, data_dir, tenants)
    try:
        damaged_users = {tenant.user.email for tenant in damaged.values()}
        before = len(sandbox.requests_log())
        for where, tenant in damaged.items():
            with pytest.raises(grpc.RpcError) as raised:
                list_projects(gateway.grpc_target, tenant)
            details = gateway_kit.grpc_error(raised.value)
            assert (details.code, details.reason) == ("FAILED_PRECONDITION", "CREDENTIAL_UNUSABLE"), (where, details)
            assert tenant.organisation in details.message, (where, details)
            reply = gateway.rest("GET", "/v1/projects", token=tenant.token)
            assert reply.status == 400, (where, reply)
            assert gateway_kit.rest_error(reply).reason == "CREDENTIAL_UNUSABLE", (where, reply)
            # Asking again does not turn the refusal into anything else (no half-resolved credential kept).
            with pytest.raises(grpc.RpcError) as again:
                list_projects(gateway.grpc_target, tenant)
            assert gateway_kit.grpc_error(again.value).reason == "CREDENTIAL_UNUSABLE", where
        assert not [e for e in sandbox.requests_log()[before:] if e["user"] in damaged_users]
        assert len(sandbox.requests_log()) == before, "a damaged credential produced an upstream call"

        # The undamaged organisation is unaffected, and the gateway stays ready.
        list_projects(gateway.grpc_target, intact)
        assert [e["user"] for e in sandbox.requests_log()[before:]] == [intact.user.email]
        ready = gateway_kit.http("GET", gateway.metrics_url.replace("/metrics", "/readyz"))
        assert ready.status == 200, ready
    finally:
        gateway.stop()
    assert "Traceback" not in gateway.log_text()
