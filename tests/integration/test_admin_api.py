"""The admin API of a running gateway, end to end (issues 3 and 4): organisation keys registered,
listed, rotated (with a canary against the sandbox) and revoked; resource API keys used for the calls
they cover; vault key terms; the audit trail; and refusal for callers without an admin grant.

One gateway serves the module; every test registers its own organisations, so they stay independent.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway._generated.encord.gateway.admin.v1 import (
    callers_pb2,
    callers_pb2_grpc,
    credentials_pb2,
    credentials_pb2_grpc,
)
from encord_gateway._generated.encord.gateway.v1 import datasets_pb2, projects_pb2
from encord_gateway.upstream.signing import describe_public_key, encode_body, private_key_to_openssh, v1_authorization
from google.protobuf import json_format

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, HttpReply, Sandbox, SandboxUser, Stubs

ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}


def seed_hex(user: SandboxUser) -> str:
    from cryptography.hazmat.primitives import serialization

    return user.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    ).hex()


def openssh_body(openssh: str) -> list[str]:
    """The base64 lines of an OpenSSH private key: any one of them appearing anywhere is a leak."""
    return [line for line in openssh.splitlines() if line and not line.startswith("-----")]


@dataclass
class Admin:
    kit: GatewayKit
    gateway: GatewayProcess
    sandbox: Sandbox
    channel: grpc.Channel
    stubs: Stubs
    credentials: credentials_pb2_grpc.CredentialAdminServiceStub
    callers: callers_pb2_grpc.CallerAdminServiceStub
    token: str

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    def rest(self, method: str, path: str, body: Any = None, token: str | None = None) -> HttpReply:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.kit.http(method, self.gateway.rest_url + path, body=body, headers=headers)

    def register(self, organisation: str, user: SandboxUser) -> credentials_pb2.Credential:
        return self.credentials.RegisterOrganisationKey(
            credentials_pb2.RegisterOrganisationKeyRequest(organisation=organisation, private_key=user.openssh),
            metadata=self.md,
        )

    def new_caller(self, organisation: str, rights: tuple[str, ...] = ("read", "write")) -> tuple[str, str]:
        """A caller with `rights` on every resource of `organisation`: (its name, its token)."""
        name = f"svc-{uuid.uuid4().hex[:10]}"
        policy = {"grants": [{"organisation": organisation, "resources": ["*"], "rights": list(rights)}]}
        self.callers.CreateCaller(
            callers_pb2.CreateCallerRequest(name=name, policy=json_format.ParseDict(policy, callers_pb2.Policy())),
            metadata=self.md,
        )
        return name, self.callers.IssueToken(callers_pb2.IssueTokenRequest(caller=name), metadata=self.md).token

    def caller_for(self, organisation: str, rights: tuple[str, ...] = ("read", "write")) -> str:
        return self.new_caller(organisation, rights)[1]

    def list_credentials(self, organisation: str) -> list[credentials_pb2.Credential]:
        return list(
            self.credentials.ListCredentials(
                credentials_pb2.ListCredentialsRequest(organisation=organisation), metadata=self.md
            ).credentials
        )

    def upstream_users(self, since: int) -> list[dict[str, Any]]:
        return self.sandbox.requests_log()[since:]


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def grpc_fails(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


@pytest.fixture(scope="module")
def admin(
    gateway_kit: GatewayKit,
    sandbox: Sandbox,
    tmp_path_factory: pytest.TempPathFactory,
    stubs_for: Callable[[grpc.Channel], Stubs],
) -> Iterator[Admin]:
    gateway = gateway_kit.start(tmp_path_factory.mktemp("admin"))
    gateway_kit.create_caller(gateway.data_dir, "ops-admin", ADMIN_POLICY)
    token, _ = gateway_kit.issue_token(gateway.data_dir, "ops-admin")
    opened = gateway.channel()
    try:
        yield Admin(
            gateway_kit,
            gateway,
            sandbox,
            opened,
            stubs_for(opened),
            credentials_pb2_grpc.CredentialAdminServiceStub(opened),
            callers_pb2_grpc.CallerAdminServiceStub(opened),
            token,
        )
    finally:
        opened.close()
        gateway.stop()


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


def test_registered_organisation_key_is_listed_as_metadata_with_fingerprint_and_never_its_private_key(
    admin: Admin,
) -> None:
    user = admin.sandbox.new_user()
    organisation = new_org()
    public = describe_public_key(user.private_key.public_key())
    reply = admin.rest("POST", f"/admin/v1/organisations/{organisation}/keys", {"private_key": user.openssh})
    assert reply.status == 200, reply
    created = reply.json()
    assert created["organisation"] == organisation
    assert created["public_key_hex"] == user.public_key_hex
    assert created["fingerprint"] == public.fingerprint and created["fingerprint"].startswith("SHA256:")
    assert created["state"] == "active" and created["credential_id"]
    assert "private_key" not in created

    listed = admin.list_credentials(organisation)
    assert [(c.credential_id, c.public_key_hex, c.fingerprint, c.state) for c in listed] == [
        (created["credential_id"], user.public_key_hex, public.fingerprint, "active")
    ]
    over_rest = admin.rest("GET", f"/admin/v1/credentials?organisation={organisation}")
    assert [c["credential_id"] for c in over_rest.json()["credentials"]] == [created["credential_id"]]
    everything = admin.rest("GET", "/admin/v1/credentials?page_size=1000")
    for body in (reply.body, over_rest.body, everything.body, b"".join(c.SerializeToString() for c in listed)):
        assert b"PRIVATE KEY" not in body
        assert seed_hex(user).encode() not in body
        for line in openssh_body(user.openssh):
            assert line.encode() not in body

    # The organisation is usable at once, signed by that key.
    token = admin.caller_for(organisation)
    since = len(admin.sandbox.requests_log())
    admin.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=auth(token))
    assert {e["user"] for e in admin.upstream_users(since)} == {user.email}


def test_revoked_organisation_key_fails_that_organisations_calls_with_failed_precondition_and_no_upstream_call(
    admin: Admin,
) -> None:
    user = admin.sandbox.new_user()
    organisation = new_org()
    credential = admin.register(organisation, user)
    token = admin.caller_for(organisation)
    listing = projects_pb2.ListProjectsRequest()
    project = admin.stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title="doomed"), metadata=auth(token)
    ).project_hash
    admin.stubs.projects.ListProjects(listing, metadata=auth(token))  # now cached
    get = projects_pb2.GetProjectRequest(project_hash=project)
    admin.stubs.projects.GetProject(get, metadata=auth(token))  # cached too

    revoked = admin.credentials.RevokeCredential(
        credentials_pb2.RevokeCredentialRequest(credential_id=credential.credential_id), metadata=admin.md
    )
    assert revoked.credential_id == credential.credential_id and revoked.state == "revoked"
    since = len(admin.sandbox.requests_log())
    for call in (
        lambda: admin.stubs.projects.ListProjects(listing, metadata=auth(token)),
        lambda: admin.stubs.projects.GetProject(get, metadata=auth(token)),
        lambda: admin.stubs.projects.CreateProject(projects_pb2.CreateProjectRequest(title="x"), metadata=auth(token)),
    ):
        details = admin.kit.grpc_error(grpc_fails(call))
        assert details.code == "FAILED_PRECONDITION", details
        assert organisation in details.message
    rest = admin.rest("GET", "/v1/projects", token=token)
    assert rest.status == 400 and admin.kit.rest_error(rest).code == "FAILED_PRECONDITION", rest
    assert [e for e in admin.upstream_users(since) if e["user"] == user.email] == []
    assert [c.state for c in admin.list_credentials(organisation)] == ["revoked"]


def test_rotation_to_a_key_encord_knows_passes_its_canary_and_later_calls_are_signed_by_the_new_key(
    admin: Admin,
) -> None:
    old_user = admin.sandbox.new_user()
    organisation = new_org()
    old = admin.register(organisation, old_user)
    token = admin.caller_for(organisation)
    since = len(admin.sandbox.requests_log())
    admin.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(title_like="%before%"), metadata=auth(token))
    assert {e["user"] for e in admin.upstream_users(since)} == {old_user.email}

    new_user = admin.sandbox.new_user()
    since = len(admin.sandbox.requests_log())
    reply = admin.rest("POST", f"/admin/v1/organisations/{organisation}/keys:rotate", {"private_key": new_user.openssh})
    assert reply.status == 200, reply
    rotated = reply.json()
    assert rotated["new_credential"]["public_key_hex"] == new_user.public_key_hex
    assert rotated["new_credential"]["state"] == "active"
    assert rotated["retired_credential"]["credential_id"] == old.credential_id
    assert rotated["retired_credential"]["state"] in ("revoked", "retiring")
    canary = admin.upstream_users(since)
    assert canary and {e["user"] for e in canary} == {new_user.email}, canary  # the canary used the new key
    assert all(e["outcome"] == "ok" for e in canary), canary

    since = len(admin.sandbox.requests_log())
    admin.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(title_like="%before%"), metadata=auth(token))
    admin.stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest(), metadata=auth(token))
    after = admin.upstream_users(since)
    assert len(after) == 2 and {e["user"] for e in after} == {new_user.email}, after
    states = {c.public_key_hex: c.state for c in admin.list_credentials(organisation)}
    assert states[new_user.public_key_hex] == "active"
    assert states[old_user.public_key_hex] != "active"
    for body in (reply.body,):
        assert seed_hex(new_user).encode() not in body and b"PRIVATE KEY" not in body


def test_rotation_to_a_key_encord_does_not_know_fails_its_canary_and_the_old_key_keeps_working(
    admin: Admin,
) -> None:
    user = admin.sandbox.new_user()
    organisation = new_org()
    admin.register(organisation, user)
    token = admin.caller_for(organisation)
    unknown = Ed25519PrivateKey.generate()
    unknown_hex = describe_public_key(unknown.public_key()).public_key_hex
    request = credentials_pb2.RotateOrganisationKeyRequest(
        organisation=organisation, private_key=private_key_to_openssh(unknown).decode()
    )
    details = admin.kit.grpc_error(
        grpc_fails(lambda: admin.credentials.RotateOrganisationKey(request, metadata=admin.md))
    )
    assert (details.code, details.reason) == ("FAILED_PRECONDITION", "CANARY_FAILED"), details
    assert "old key" in details.message

    since = len(admin.sandbox.requests_log())
    admin.stubs.projects.ListProjects(
        projects_pb2.ListProjectsRequest(title_like="%after-canary%"), metadata=auth(token)
    )
    assert {e["user"] for e in admin.upstream_users(since)} == {user.email}
    active = [c.public_key_hex for c in admin.list_credentials(organisation) if c.state == "active"]
    assert active == [user.public_key_hex]
    assert unknown_hex not in active


def test_vault_key_rotation_and_rewrap_report_terms_and_older_records_stay_usable(admin: Admin) -> None:
    status = admin.rest("GET", "/admin/v1/vault/status").json()
    assert status.get("sealed", False) is False, status  # proto3 JSON leaves false out
    assert status["backend"] == "sqlite" and status["terms"] and status["active_term"] == max(status["terms"])
    first_term = status["active_term"]

    # An organisation stored under the current term, first used only after rotation and rewrap.
    early_user, early = admin.sandbox.new_user(), new_org()
    admin.register(early, early_user)
    early_token = admin.caller_for(early, ("read",))

    rotated = admin.credentials.RotateVaultKey(credentials_pb2.RotateVaultKeyRequest(), metadata=admin.md)
    assert rotated.active_term == first_term + 1
    assert list(rotated.terms) == list(range(1, first_term + 2))
    assert not rotated.sealed and rotated.encryptions_under_active_term >= 0
    assert rotated.rotate_after_encryptions > 0

    late_user, late = admin.sandbox.new_user(), new_org()
    admin.register(late, late_user)  # written under the new term
    late_token = admin.caller_for(late, ("read",))

    rewrap = admin.rest("POST", "/admin/v1/vault:rewrap", {})
    assert rewrap.status == 200, rewrap
    rewrapped = rewrap.json()
    assert rewrapped.get("rewrapped", 0) >= 1, rewrapped  # at least the early organisation's key
    assert rewrapped.get("already_current", 0) >= 1, rewrapped  # at least the late one
    assert rewrapped["status"]["active_term"] == first_term + 1

    since = len(admin.sandbox.requests_log())
    for token in (early_token, late_token):
        admin.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=auth(token))
    assert {e["user"] for e in admin.upstream_users(since)} == {early_user.email, late_user.email}
    again = admin.credentials.GetVaultStatus(credentials_pb2.GetVaultStatusRequest(), metadata=admin.md)
    assert again.active_term == first_term + 1 and not again.sealed


def test_audit_events_record_credential_use_and_admin_actions_with_hashed_identifiers(admin: Admin) -> None:
    user, organisation = admin.sandbox.new_user(), new_org()
    credential = admin.register(organisation, user)
    token = admin.caller_for(organisation, ("read",))
    admin.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(title_like="%audited%"), metadata=auth(token))
    grpc_fails(
        lambda: admin.stubs.projects.CreateProject(projects_pb2.CreateProjectRequest(title="no"), metadata=auth(token))
    )

    events = [
        json_format.MessageToDict(e)
        for e in admin.credentials.ListAuditEvents(
            credentials_pb2.ListAuditEventsRequest(page_size=1000), metadata=admin.md
        ).events
    ]
    kinds = {e.get("event", {}).get("type") for e in events}
    assert {"credential_use", "admin", "access_denied"} <= kinds, kinds
    audit_file = admin.gateway.data_dir / "audit" / "audit.log"

    def hashed(value: str) -> str:
        return admin.kit.cli("audit", "hash", value, "--audit-file", str(audit_file)).strip()

    admin_hash, credential_hash, organisation_hash = (
        hashed("ops-admin"),
        hashed(credential.credential_id),
        hashed(organisation),
    )
    assert admin_hash.startswith("hmac-sha256:")
    registered = [
        e["event"]
        for e in events
        if e["event"].get("type") == "admin"
        and e["event"].get("operation", "").endswith("RegisterOrganisationKey")
        and e["event"].get("organisation") == organisation_hash
    ]
    assert registered and registered[-1]["caller"] == admin_hash and registered[-1]["outcome"] == "OK", registered
    used = [
        e["event"]
        for e in events
        if e["event"].get("type") == "credential_use" and e["event"].get("credential") == credential_hash
    ]
    assert used and used[-1]["operation"].endswith("ListProjects") and used[-1]["kind"], used
    # Identifiers are never in the clear.
    text = json.dumps(events)
    assert organisation not in text and credential.credential_id not in text and "ops-admin" not in text
    over_rest = admin.rest("GET", "/admin/v1/audit-events?page_size=5")
    assert over_rest.status == 200 and len(over_rest.json()["events"]) == 5


def test_admin_api_refuses_callers_without_an_admin_grant(admin: Admin) -> None:
    data_token = admin.gateway.token  # read and write on the gateway's organisation, no admin
    org = admin.gateway.organisation
    other = new_org()
    org_admin_name = f"org-admin-{uuid.uuid4().hex[:6]}"
    admin.callers.CreateCaller(
        callers_pb2.CreateCallerRequest(
            name=org_admin_name,
            policy=json_format.ParseDict(
                {"grants": [{"organisation": org, "resources": ["*"], "rights": ["admin"]}]}, callers_pb2.Policy()
            ),
        ),
        metadata=admin.md,
    )
    org_admin = admin.callers.IssueToken(callers_pb2.IssueTokenRequest(caller=org_admin_name), metadata=admin.md).token
    stranger = admin.sandbox.new_user()
    attempts: list[tuple[str, Callable[[tuple[tuple[str, str], ...]], object]]] = [
        ("GetVaultStatus", lambda md: admin.credentials.GetVaultStatus(credentials_pb2.GetVaultStatusRequest(), metadata=md)),
        ("ListCredentials", lambda md: admin.credentials.ListCredentials(credentials_pb2.ListCredentialsRequest(organisation=other), metadata=md)),
        ("ListAllCredentials", lambda md: admin.credentials.ListCredentials(credentials_pb2.ListCredentialsRequest(), metadata=md)),
        ("RegisterOrganisationKey", lambda md: admin.credentials.RegisterOrganisationKey(credentials_pb2.RegisterOrganisationKeyRequest(organisation=other, private_key=stranger.openssh), metadata=md)),
        ("RotateVaultKey", lambda md: admin.credentials.RotateVaultKey(credentials_pb2.RotateVaultKeyRequest(), metadata=md)),
        ("RewrapVault", lambda md: admin.credentials.RewrapVault(credentials_pb2.RewrapVaultRequest(), metadata=md)),
        ("ListAuditEvents", lambda md: admin.credentials.ListAuditEvents(credentials_pb2.ListAuditEventsRequest(), metadata=md)),
        ("CreateCaller", lambda md: admin.callers.CreateCaller(callers_pb2.CreateCallerRequest(name="intruder", policy=json_format.ParseDict(ADMIN_POLICY, callers_pb2.Policy())), metadata=md)),
        ("IssueToken", lambda md: admin.callers.IssueToken(callers_pb2.IssueTokenRequest(caller="ops-admin"), metadata=md)),
        ("ListCallers", lambda md: admin.callers.ListCallers(callers_pb2.ListCallersRequest(), metadata=md)),
        ("ListTokens", lambda md: admin.callers.ListTokens(callers_pb2.ListTokensRequest(), metadata=md)),
    ]  # fmt: skip
    for name, attempt in attempts:
        details = admin.kit.grpc_error(grpc_fails(lambda attempt=attempt: attempt(auth(data_token))))
        assert (details.code, details.reason) == ("PERMISSION_DENIED", "POLICY_DENIED"), (name, details)
    # An admin of one organisation administers that organisation only.
    for name, attempt in attempts[:4]:
        details = admin.kit.grpc_error(grpc_fails(lambda attempt=attempt: attempt(auth(org_admin))))
        assert details.code == "PERMISSION_DENIED", (name, details)
    mine = admin.credentials.ListCredentials(
        credentials_pb2.ListCredentialsRequest(organisation=org), metadata=auth(org_admin)
    )
    assert [c.organisation for c in mine.credentials] == [org]

    for method, path, body in (
        ("GET", "/admin/v1/vault/status", None),
        ("GET", "/admin/v1/credentials", None),
        ("POST", f"/admin/v1/organisations/{other}/keys", {"private_key": stranger.openssh}),
        ("POST", "/admin/v1/vault:rotate", {}),
        ("POST", "/admin/v1/callers", {"name": "intruder", "policy": ADMIN_POLICY}),
        ("POST", "/admin/v1/callers/ops-admin/tokens", {}),
        ("GET", "/admin/v1/audit-events", None),
    ):
        reply = admin.rest(method, path, body, token=data_token)
        assert reply.status == 403, (method, path, reply)
        assert admin.kit.rest_error(reply).reason == "POLICY_DENIED"
    # Nothing changed: no intruder caller, no key for the other organisation.
    names = {c.name for c in admin.callers.ListCallers(callers_pb2.ListCallersRequest(), metadata=admin.md).callers}
    assert "intruder" not in names
    assert admin.list_credentials(other) == []


def _sandbox_v1(sandbox: Sandbox, user: SandboxUser, query_type: str, method: str, payload: Any) -> Any:
    """A legacy v1 call signed by the user, straight to the sandbox (what an operator does in Encord's app)."""
    body = encode_body({"query_type": query_type, "query_method": method, "values": {"uid": None, "payload": payload}})
    request = urllib.request.Request(sandbox.url + "/public/user", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", v1_authorization(user.signer, body))
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == 200, answer
    return answer["response"]


def test_resource_api_key_signs_get_dataset_and_the_organisation_key_signs_everything_else(admin: Admin) -> None:
    user, organisation = admin.sandbox.new_user(), new_org()
    admin.register(organisation, user)
    token = admin.caller_for(organisation)
    keyed = admin.stubs.datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(title="keyed dataset"), metadata=auth(token)
    ).dataset_hash
    plain = admin.stubs.datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(title="plain dataset"), metadata=auth(token)
    ).dataset_hash
    created = _sandbox_v1(
        admin.sandbox, user, "datasetapikey", "POST",
        {"dataset_hash": keyed, "title": "gateway", "scopes": ["dataset.read"]},
    )  # fmt: skip
    api_key = created["api_key"]

    reply = admin.rest(
        "POST",
        f"/admin/v1/organisations/{organisation}/api-keys",
        {"resource_type": "dataset", "resource_hash": keyed, "api_key": api_key, "scopes": ["dataset.read"]},
    )
    assert reply.status == 200, reply
    registered = reply.json()
    assert registered["resource_hash"] == keyed and registered["scopes"] == ["dataset.read"]
    assert registered["state"] == "active" and registered["credential_id"]
    assert api_key.encode() not in reply.body

    since = len(admin.sandbox.requests_log())
    dataset = admin.stubs.datasets.GetDataset(datasets_pb2.GetDatasetRequest(dataset_hash=keyed), metadata=auth(token))
    assert dataset.title == "keyed dataset"
    admin.stubs.datasets.GetDataset(datasets_pb2.GetDatasetRequest(dataset_hash=plain), metadata=auth(token))
    admin.stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest(), metadata=auth(token))
    admin.stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title="uses keyed", dataset_hashes=[keyed]), metadata=auth(token)
    )
    log = admin.upstream_users(since)
    keyed_gets = [e for e in log if e["resource_id"] == keyed and e["query_type"] == "dataset"]
    assert keyed_gets and all(e["auth"] == "api_key" for e in keyed_gets), log
    others = [e for e in log if e not in keyed_gets]
    assert len(others) >= 3 and all(e["auth"] == "ssh" and e["user"] == user.email for e in others), log
    listed = admin.rest("GET", f"/admin/v1/credentials?organisation={organisation}")
    assert api_key.encode() not in listed.body
    kinds = sorted((c["kind"], c.get("resource_hash", "")) for c in listed.json()["credentials"])
    assert len(kinds) == 2 and ("", keyed) not in kinds and any(h == keyed for _, h in kinds), kinds


def test_damaged_private_key_is_refused_as_invalid_with_a_truthful_reason(admin: Admin) -> None:
    """A key whose text is damaged is INVALID_ARGUMENT; the message must not send the operator hunting
    for a missing package (bcrypt is installed, and the key is not passphrase-protected)."""
    user = admin.sandbox.new_user()
    lines = user.openssh.splitlines()
    lines[2] = "AAAAAAAA" + lines[2][8:]  # zeroes part of the key type name inside the key blob
    damaged = "\n".join(lines) + "\n"
    request = credentials_pb2.RegisterOrganisationKeyRequest(organisation=new_org(), private_key=damaged)
    details = admin.kit.grpc_error(
        grpc_fails(lambda: admin.credentials.RegisterOrganisationKey(request, metadata=admin.md))
    )
    assert (details.code, details.reason) == ("INVALID_ARGUMENT", "INVALID_KEY"), details
    assert seed_hex(user) not in details.message and lines[1] not in details.message
    assert "not installed" not in details.message and "passphrase-protected" not in details.message, details.message


def test_refused_admin_attempts_are_audited(admin: Admin) -> None:
    """Data calls refused by policy leave an `access_denied` audit event; admin calls refused for want of
    an admin grant must leave one too (an operator reviewing the log needs to see who tried)."""
    name, token = admin.new_caller(admin.gateway.organisation, ("read",))
    grpc_fails(lambda: admin.credentials.RotateVaultKey(credentials_pb2.RotateVaultKeyRequest(), metadata=auth(token)))
    audit_file = admin.gateway.data_dir / "audit" / "audit.log"
    caller_hash = admin.kit.cli("audit", "hash", name, "--audit-file", str(audit_file)).strip()
    events = [
        json_format.MessageToDict(e)["event"]
        for e in admin.credentials.ListAuditEvents(
            credentials_pb2.ListAuditEventsRequest(page_size=50), metadata=admin.md
        ).events
    ]
    attempts = [
        e for e in events if e.get("caller") == caller_hash and e.get("operation", "").endswith("RotateVaultKey")
    ]
    assert attempts, f"no audit event for {name}'s refused RotateVaultKey; events by that caller: " + str(
        [e for e in events if e.get("caller") == caller_hash]
    )
