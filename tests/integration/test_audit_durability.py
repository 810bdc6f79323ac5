"""The audit trail of a gateway that is SIGKILLed while it makes admin writes, and of a damaged log.

- Every committed write has its audit entry: the intent is durable before the write is committed, so a
  kill between the commit and the outcome's append leaves the intent behind.
- ListAuditEvents reports a damaged line and goes on (no INTERNAL), and `seq` is an integer field.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from encord_gateway._generated.encord.gateway.admin.v1 import (
    callers_pb2,
    callers_pb2_grpc,
    credentials_pb2,
    credentials_pb2_grpc,
)
from encord_gateway.access.tokens import TokenStore
from encord_gateway.vault.audit import check_chain, hash_identifier, load_salt, read_recent

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess

ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}
READ_POLICY = {"grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read"]}]}
KILLS = 10
ACKNOWLEDGED_PER_ROUND = 4
WRITERS = 4


def prepared(gateway_kit: GatewayKit, directory: Path) -> tuple[GatewayProcess, str]:
    """A gateway's data directory with an admin caller; the gateway itself is stopped."""
    gateway = gateway_kit.start(directory)
    gateway.stop()
    gateway_kit.create_caller(gateway.data_dir, "ops-admin", ADMIN_POLICY)
    token, _ = gateway_kit.issue_token(gateway.data_dir, "ops-admin")
    return gateway, token


def create_callers_until_killed(gateway: GatewayProcess, token: str, prefix: str) -> None:
    """WRITERS threads create callers as fast as the gateway acknowledges; SIGKILL after a few acks."""
    acknowledged = threading.Semaphore(0)
    stop = threading.Event()
    metadata = (("authorization", f"Bearer {token}"),)

    def writer(number: int) -> None:
        with grpc.insecure_channel(gateway.grpc_target) as channel:
            stub = callers_pb2_grpc.CallerAdminServiceStub(channel)
            n = 0
            while not stop.is_set():
                request = callers_pb2.CreateCallerRequest(name=f"{prefix}-{number}-{n}")
                request.policy.grants.add(organisation="acme", resources=["*"], rights=["read"])
                n += 1
                try:
                    stub.CreateCaller(request, metadata=metadata, timeout=10)
                except grpc.RpcError:
                    return  # the gateway is gone
                acknowledged.release()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(ACKNOWLEDGED_PER_ROUND):
            assert acknowledged.acquire(timeout=30), f"no admin write acknowledged:\n{gateway.log_text()}"
    finally:
        os.kill(gateway.pid, signal.SIGKILL)  # while the writers' next calls are in flight
        gateway.process.wait(10)
        stop.set()
        for thread in threads:
            thread.join(30)


def test_every_committed_admin_write_has_its_audit_entry_after_sigkills(
    gateway_kit: GatewayKit, tmp_path: Path
) -> None:
    stopped, token = prepared(gateway_kit, tmp_path)
    for round_number in range(KILLS):
        gateway = gateway_kit.launch(tmp_path, stopped.data_dir, stopped.tenants)
        create_callers_until_killed(gateway, token, f"k{round_number}")

    with TokenStore.open(stopped.data_dir / "access") as store:
        committed, page = [], ""
        while True:
            found, page = store.list_callers(1000, page)
            committed += [info.name for info in found if info.name.startswith("k")]
            if not page:
                break
    audit_file = stopped.data_dir / "audit" / "audit.log"
    salt = load_salt(audit_file)
    creations = [
        line.entry["event"]
        for line in read_recent(audit_file, 100_000)
        if line.entry is not None and line.entry["event"].get("operation", "").endswith("CreateCaller")
    ]
    audited = {event.get("name") for event in creations}
    assert {event.get("phase") for event in creations} == {"intent", None}  # readable, like type and outcome
    assert len(committed) >= KILLS * ACKNOWLEDGED_PER_ROUND
    missing = [name for name in committed if hash_identifier(salt, name) not in audited]
    assert not missing, f"{len(missing)} of {len(committed)} committed callers have no audit entry: {missing}"
    assert check_chain(audit_file).ok, check_chain(audit_file)


def test_listing_audit_events_reports_a_damaged_line_and_goes_on(gateway_kit: GatewayKit, tmp_path: Path) -> None:
    stopped, token = prepared(gateway_kit, tmp_path)
    gateway = gateway_kit.launch(tmp_path, stopped.data_dir, stopped.tenants)
    try:
        metadata = (("authorization", f"Bearer {token}"),)
        audit_file = stopped.data_dir / "audit" / "audit.log"
        with grpc.insecure_channel(gateway.grpc_target) as channel:
            credentials = credentials_pb2_grpc.CredentialAdminServiceStub(channel)
            credentials.GetVaultStatus(credentials_pb2.GetVaultStatusRequest(), metadata=metadata)
            lines_before = len(audit_file.read_bytes().splitlines())
            with audit_file.open("ab") as handle:
                handle.write(b"[1, 2]\n\x00\x00garbage \xff\n")
            credentials.GetVaultStatus(credentials_pb2.GetVaultStatusRequest(), metadata=metadata)

            listed = credentials.ListAuditEvents(
                credentials_pb2.ListAuditEventsRequest(page_size=1000), metadata=metadata
            )

        damaged = [(e.line, e.damage) for e in listed.events if e.damage]
        assert damaged == [
            (lines_before + 1, "not an audit entry (a JSON list, not an object)"),
            (lines_before + 2, "contains NUL bytes"),
        ]
        last = listed.events[-1]
        assert (last.event["type"], last.event["outcome"]) == ("admin", "OK")  # read past the damage
        assert last.seq > 1 and last.line == lines_before + 3

        over_rest = gateway.rest("GET", "/admin/v1/audit-events?page_size=1000", token=token)
        assert over_rest.status == 200, over_rest
        events = over_rest.json()["events"]
        assert [(int(e["line"]), e["damage"]) for e in events if "damage" in e] == damaged
        # seq is an integer field (int64: a JSON string of digits, as proto3 maps it), never 179.0
        assert [e["seq"] for e in events if "seq" in e] == [str(n) for n in range(1, len(events) - 1)]
    finally:
        gateway.stop()
