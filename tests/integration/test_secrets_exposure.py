"""NoKeyMaterialAnywhere and AuditChainDetectsTampering at gateway level (issue 3).

One gateway is put through what an operator and its callers do: organisation keys imported with the
CLI and registered through the admin API (one of them passphrase-protected), a rotation that passes its
canary and one that fails it, a resource API key used for a read, malformed registrations, and data
calls that succeed, are denied or fail. Afterwards neither an OpenSSH private key's text (nor any line
of it), nor its raw seed, nor a passphrase, nor an API key appears in the gateway's log, /metrics, the
audit log, any response or error we received, or the CLI's listings. The audit log's chain verifies
after that traffic and fails once one line is edited.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway._generated.encord.gateway.admin.v1 import (
    callers_pb2,
    callers_pb2_grpc,
    credentials_pb2,
    credentials_pb2_grpc,
)
from encord_gateway._generated.encord.gateway.v1 import datasets_pb2, datasets_pb2_grpc, projects_pb2, projects_pb2_grpc
from encord_gateway.upstream.signing import encode_body, private_key_to_openssh, v1_authorization
from google.protobuf import json_format, message

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox, SandboxUser

ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}
PASSPHRASE = "correct horse battery staple 7f3a"


def key_secrets(key: Ed25519PrivateKey, openssh: str) -> list[str]:
    """Every form of a private key that must never show: its OpenSSH text, each base64 line, its seed."""
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    lines = [line for line in openssh.splitlines() if line and not line.startswith("-----")]
    return [openssh.strip(), *lines, seed.hex(), seed.hex().upper()]


@dataclass
class Exposure:
    """Everything a user of the gateway could see after the traffic, and the secrets to look for."""

    gateway: GatewayProcess
    secrets: dict[str, str] = field(default_factory=dict)  # label -> secret text
    received: list[tuple[str, bytes]] = field(default_factory=list)  # what came back: (what, bytes)
    cli_output: list[tuple[str, str]] = field(default_factory=list)
    metrics: str = ""
    log: str = ""
    audit_path: Path = Path()
    identifiers: set[str] = field(default_factory=set)  # organisations, callers, users, resources, credential ids

    def add_key(self, label: str, key: Ed25519PrivateKey, openssh: str) -> None:
        for index, secret in enumerate(key_secrets(key, openssh)):
            self.secrets[f"{label}#{index}"] = secret

    def keep(self, what: str, value: bytes | str | message.Message) -> None:
        if isinstance(value, message.Message):
            self.received.append((what, value.SerializeToString()))
            value = json_format.MessageToJson(value)
        self.received.append((what, value.encode() if isinstance(value, str) else value))

    def keep_error(self, what: str, error: grpc.RpcError) -> None:
        self.keep(what, error.details() or "")
        for key, value in error.trailing_metadata() or ():
            self.keep(f"{what} trailer {key}", value)

    def leaks(self, haystack: str | bytes) -> list[str]:
        text = haystack.decode("utf-8", "replace") if isinstance(haystack, bytes) else haystack
        return [label for label, secret in self.secrets.items() if secret in text]


def _sandbox_v1(sandbox: Sandbox, user: SandboxUser, query_type: str, method: str, payload: Any) -> Any:
    body = encode_body({"query_type": query_type, "query_method": method, "values": {"uid": None, "payload": payload}})
    request = urllib.request.Request(sandbox.url + "/public/user", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", v1_authorization(user.signer, body))
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == 200, answer
    return answer["response"]


@pytest.fixture(scope="module")
def exposure(gateway_kit: GatewayKit, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exposure]:
    directory = tmp_path_factory.mktemp("exposure")
    gateway = gateway_kit.start(directory)  # organisation A's key imported with `vault add-org-key`
    seen = Exposure(gateway)
    a = gateway.tenants[0]
    seen.add_key("cli-imported", a.user.private_key, a.user.openssh)
    data_dir = gateway.data_dir
    gateway_kit.create_caller(data_dir, "ops-admin", ADMIN_POLICY)
    admin_token, _ = gateway_kit.issue_token(data_dir, "ops-admin")
    admin_md = (("authorization", f"Bearer {admin_token}"),)
    seen.audit_path = data_dir / "audit" / "audit.log"
    channel = gateway.channel()
    creds = credentials_pb2_grpc.CredentialAdminServiceStub(channel)
    callers = callers_pb2_grpc.CallerAdminServiceStub(channel)
    projects = projects_pb2_grpc.ProjectServiceStub(channel)
    datasets = datasets_pb2_grpc.DatasetServiceStub(channel)

    def attempt(what: str, call: Any) -> None:
        try:
            seen.keep(what, call())
        except grpc.RpcError as error:
            seen.keep_error(what, error)

    def rest(what: str, method: str, path: str, body: Any = None, token: str = admin_token) -> Any:
        reply = gateway.rest(method, path, body=body, token=token)
        seen.keep(what, reply.body)
        for name, value in reply.headers.items():
            seen.keep(f"{what} header {name}", value)
        return reply

    try:
        # Registered through the admin API: B over gRPC, C (passphrase-protected) over REST.
        b_user, c_user = sandbox.new_user(), sandbox.new_user()
        seen.add_key("registered-grpc", b_user.private_key, b_user.openssh)
        b_org, c_org = f"org-{uuid.uuid4().hex[:8]}", f"org-{uuid.uuid4().hex[:8]}"
        attempt("register B", lambda: creds.RegisterOrganisationKey(
            credentials_pb2.RegisterOrganisationKeyRequest(organisation=b_org, private_key=b_user.openssh),
            metadata=admin_md))  # fmt: skip
        encrypted = c_user.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        ).decode()
        seen.add_key("registered-encrypted", c_user.private_key, encrypted)
        seen.add_key("registered-encrypted-plain", c_user.private_key, c_user.openssh)
        seen.secrets["passphrase"] = PASSPHRASE
        # A wrong passphrase first: refused, and the refusal echoes neither the key nor the passphrase.
        rest("register C wrong passphrase", "POST", f"/admin/v1/organisations/{c_org}/keys",
             {"private_key": encrypted, "passphrase": PASSPHRASE + "x"})  # fmt: skip
        seen.secrets["wrong passphrase"] = PASSPHRASE + "x"
        registered = rest("register C", "POST", f"/admin/v1/organisations/{c_org}/keys",
                          {"private_key": encrypted, "passphrase": PASSPHRASE})  # fmt: skip
        assert registered.status == 200, registered

        # Malformed keys: a damaged one, and one with garbage appended.
        damaged = b_user.openssh.replace(b_user.openssh.splitlines()[2][:8], "AAAAAAAA")
        rest("register damaged", "POST", f"/admin/v1/organisations/org-damaged-{uuid.uuid4().hex[:6]}/keys",
             {"private_key": damaged})  # fmt: skip
        seen.secrets["damaged key"] = damaged.strip()

        # Rotation of B: first to a key Encord does not know (canary fails), then to one it knows.
        unknown = Ed25519PrivateKey.generate()
        unknown_text = private_key_to_openssh(unknown).decode()
        seen.add_key("rotation-unknown", unknown, unknown_text)
        attempt("rotate B unknown", lambda: creds.RotateOrganisationKey(
            credentials_pb2.RotateOrganisationKeyRequest(organisation=b_org, private_key=unknown_text),
            metadata=admin_md))  # fmt: skip
        b2_user = sandbox.new_user()
        seen.add_key("rotation-new", b2_user.private_key, b2_user.openssh)
        rest("rotate B", "POST", f"/admin/v1/organisations/{b_org}/keys:rotate", {"private_key": b2_user.openssh})

        # A resource API key for one of A's datasets, and one refused for a bad scope.
        dataset = datasets.CreateDataset(
            datasets_pb2.CreateDatasetRequest(title="exposed?"), metadata=a.auth_metadata
        ).dataset_hash
        api_key = _sandbox_v1(sandbox, a.user, "datasetapikey", "POST",
                              {"dataset_hash": dataset, "title": "gw", "scopes": ["dataset.read"]})["api_key"]  # fmt: skip
        seen.secrets["api key"] = api_key
        rest("api key bad scope", "POST", f"/admin/v1/organisations/{a.organisation}/api-keys",
             {"resource_type": "dataset", "resource_hash": dataset, "api_key": api_key, "scopes": ["label.write"]})  # fmt: skip
        rest("api key bad hash", "POST", f"/admin/v1/organisations/{a.organisation}/api-keys",
             {"resource_type": "dataset", "resource_hash": "not-a-uuid", "api_key": api_key, "scopes": ["dataset.read"]})  # fmt: skip
        accepted = rest("api key", "POST", f"/admin/v1/organisations/{a.organisation}/api-keys",
                        {"resource_type": "dataset", "resource_hash": dataset, "api_key": api_key, "scopes": ["dataset.read"]})  # fmt: skip
        assert accepted.status == 200, accepted

        # Data calls: good ones (signed by each kind of credential), denied ones, failing ones.
        def caller(organisation: str) -> str:
            name = f"svc-{uuid.uuid4().hex[:8]}"
            policy = {"grants": [{"organisation": organisation, "resources": ["*"], "rights": ["read", "write"]}]}
            callers.CreateCaller(callers_pb2.CreateCallerRequest(
                name=name, policy=json_format.ParseDict(policy, callers_pb2.Policy())), metadata=admin_md)  # fmt: skip
            issued = callers.IssueToken(callers_pb2.IssueTokenRequest(caller=name), metadata=admin_md)
            seen.keep("issue token", issued.metadata)
            seen.identifiers |= {name, issued.metadata.token_id}
            return issued.token

        tokens = {"A": a.token, "B": caller(b_org), "C": caller(c_org)}
        for label, token in tokens.items():
            md = (("authorization", f"Bearer {token}"),)
            attempt(
                f"list {label}", lambda md=md: projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=md)
            )
            attempt(f"create {label}", lambda md=md: projects.CreateProject(
                projects_pb2.CreateProjectRequest(title="exposure"), metadata=md))  # fmt: skip
            attempt(f"missing {label}", lambda md=md: projects.GetProject(
                projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4())), metadata=md))  # fmt: skip
            attempt(f"denied {label}", lambda md=md: projects.ListProjects(
                projects_pb2.ListProjectsRequest(), metadata=(*md, ("x-encord-organisation", "someone-else"))))  # fmt: skip
            rest(f"rest list {label}", "GET", "/v1/projects", token=token)
            rest(f"rest invalid {label}", "GET", "/v1/projects/not-a-hash", token=token)
        attempt("get keyed dataset", lambda: datasets.GetDataset(
            datasets_pb2.GetDatasetRequest(dataset_hash=dataset), metadata=a.auth_metadata))  # fmt: skip
        rest("rest keyed dataset", "GET", f"/v1/datasets/{dataset}", token=a.token)
        rest("bad token", "GET", "/v1/projects", token="egw_" + "0" * 40)

        # Everything an admin can read back.
        attempt("list credentials", lambda: creds.ListCredentials(
            credentials_pb2.ListCredentialsRequest(page_size=1000), metadata=admin_md))  # fmt: skip
        attempt(
            "vault status", lambda: creds.GetVaultStatus(credentials_pb2.GetVaultStatusRequest(), metadata=admin_md)
        )
        attempt("audit events", lambda: creds.ListAuditEvents(
            credentials_pb2.ListAuditEventsRequest(page_size=1000), metadata=admin_md))  # fmt: skip
        attempt("callers", lambda: callers.ListCallers(callers_pb2.ListCallersRequest(), metadata=admin_md))
        attempt("tokens", lambda: callers.ListTokens(callers_pb2.ListTokensRequest(), metadata=admin_md))
        rest("rest credentials", "GET", "/admin/v1/credentials?page_size=1000")
        rest("rest audit", "GET", "/admin/v1/audit-events?page_size=1000")
        seen.metrics = gateway.metrics()
        listed = creds.ListCredentials(credentials_pb2.ListCredentialsRequest(page_size=1000), metadata=admin_md)
        seen.identifiers |= {c.credential_id for c in listed.credentials}
        seen.identifiers |= {a.organisation, b_org, c_org, dataset, "ops-admin", a.user.email, b_user.email}

        vault_dir = str(data_dir / "vault")
        for args in (
            ("vault", "list", "--vault-dir", vault_dir),
            ("vault", "list-credentials", "--vault-dir", vault_dir),
            ("vault", "status", "--vault-dir", vault_dir),
            ("caller", "list", "--data-dir", str(data_dir)),
            ("token", "list", "--data-dir", str(data_dir)),
        ):
            result = gateway_kit.run_cli(*args)
            assert result.returncode == 0, (args, result.stderr)
            seen.cli_output.append((" ".join(args[:2]), result.stdout + result.stderr))
    finally:
        channel.close()
        gateway.stop()
    seen.log = gateway.log_text()
    yield seen


def test_no_key_material_in_any_response_or_error_received(exposure: Exposure) -> None:
    assert len(exposure.received) > 50
    leaked = [(what, exposure.leaks(body)) for what, body in exposure.received if exposure.leaks(body)]
    assert leaked == []


def test_no_key_material_in_the_gateway_log(exposure: Exposure) -> None:
    assert exposure.log.strip()
    assert exposure.leaks(exposure.log) == []
    assert "PRIVATE KEY" not in exposure.log


def test_no_key_material_in_metrics(exposure: Exposure) -> None:
    assert "grpc_server_handled_total" in exposure.metrics
    assert exposure.leaks(exposure.metrics) == []


def test_no_key_material_in_the_audit_log(exposure: Exposure) -> None:
    text = exposure.audit_path.read_text()
    assert text.count("\n") > 20
    assert exposure.leaks(text) == []


def test_no_key_material_in_cli_listings(exposure: Exposure) -> None:
    for command, output in exposure.cli_output:
        assert exposure.leaks(output) == [], command
        assert "PRIVATE KEY" not in output, command


def test_audit_chain_verifies_after_traffic_and_fails_after_one_line_is_edited(
    exposure: Exposure, gateway_kit: GatewayKit, tmp_path: Path
) -> None:
    audit_path = exposure.audit_path
    verified = gateway_kit.run_cli("audit", "verify", str(audit_path))
    assert verified.returncode == 0, verified.stdout + verified.stderr

    copy = tmp_path / "audit.log"
    shutil.copy(audit_path, copy)
    shutil.copy(audit_path.with_name(audit_path.name + ".salt"), tmp_path / "audit.log.salt")
    (tmp_path / "audit.log.salt").chmod(0o600)
    copy.chmod(0o600)
    lines = copy.read_text().splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if '"outcome":"OK"' in line and i > 2)
    lines[target] = lines[target].replace('"outcome":"OK"', '"outcome":"DENIED"', 1)
    copy.write_text("".join(lines))
    tampered = gateway_kit.run_cli("audit", "verify", str(copy))
    assert tampered.returncode != 0, tampered.stdout
    assert str(target + 1) in tampered.stdout + tampered.stderr  # names the first bad line

    # Removing a line from the middle is caught as well.
    original = audit_path.read_text().splitlines(keepends=True)
    copy.write_text("".join(original[:1] + original[2:]))
    assert gateway_kit.run_cli("audit", "verify", str(copy)).returncode != 0


def test_metrics_carry_no_caller_organisation_resource_or_credential_identifier(exposure: Exposure) -> None:
    assert len(exposure.identifiers) > 8
    found = sorted(i for i in exposure.identifiers if i in exposure.metrics)
    assert found == []
