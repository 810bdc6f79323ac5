"""Mutual TLS (issue 4): a client certificate mapped to a caller gets the same decisions as a bearer
token with the same policy, over gRPC and REST; no certificate means no connection, and a certificate
the gateway does not know is UNAUTHENTICATED.

The CA, the server certificate (SAN IP:127.0.0.1) and the client certificates are made at test time.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from encord_gateway._generated.encord.gateway.admin.v1 import callers_pb2, callers_pb2_grpc
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, HttpReply, Sandbox, Tenant

CLIENT_IDENTITY = "DNS:svc-a.internal"


@dataclass(frozen=True)
class Pem:
    certificate: bytes
    key: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(common_name: str) -> tuple[Pem, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Pem(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key, certificate


def make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_certificate: x509.Certificate,
    common_name: str,
    san: x509.GeneralName,
    usage: x509.ObjectIdentifier,
) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Pem(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))


@dataclass
class MtlsWorld:
    kit: GatewayKit
    gateway: GatewayProcess
    directory: Path
    ca: Pem
    mapped: Pem  # SAN DNS:svc-a.internal, mapped to the caller "cert-a"
    unmapped: Pem  # same CA, SAN DNS:svc-x.internal, mapped to nobody
    rogue: Pem  # SAN DNS:svc-a.internal, signed by a CA the gateway does not trust
    late: Pem  # same CA, SAN DNS:svc-late.internal, mapped only by a test through the admin API
    a: Tenant
    b: Tenant
    token_a: str  # bearer token of "token-a", whose policy equals cert-a's
    admin_token: str
    a_project: str

    def channel(self, client: Pem | None) -> grpc.Channel:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.ca.certificate,
            private_key=None if client is None else client.key,
            certificate_chain=None if client is None else client.certificate,
        )
        return grpc.secure_channel(self.gateway.grpc_target, credentials)

    def ssl_context(self, client: Pem | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca.certificate.decode())
        if client is not None:
            cert_file = self.directory / f"client-{id(client)}.pem"
            cert_file.write_bytes(client.certificate + client.key)
            cert_file.chmod(0o600)
            context.load_cert_chain(str(cert_file))
        return context

    def rest(
        self, client: Pem | None, path: str, *, token: str | None = None, organisation: str | None = None
    ) -> HttpReply:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if organisation is not None:
            headers["x-encord-organisation"] = organisation
        return self.kit.http("GET", self.gateway.rest_url + path, headers=headers, context=self.ssl_context(client))


@pytest.fixture(scope="module")
def mtls(gateway_kit: GatewayKit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MtlsWorld]:
    directory = tmp_path_factory.mktemp("mtls")
    ca, ca_key, ca_certificate = make_ca("gateway test CA")
    server = make_leaf(
        ca_key, ca_certificate, "127.0.0.1", x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ExtendedKeyUsageOID.SERVER_AUTH,
    )  # fmt: skip
    mapped = make_leaf(ca_key, ca_certificate, "svc-a", x509.DNSName("svc-a.internal"), ExtendedKeyUsageOID.CLIENT_AUTH)
    unmapped = make_leaf(
        ca_key, ca_certificate, "svc-x", x509.DNSName("svc-x.internal"), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    late = make_leaf(
        ca_key, ca_certificate, "svc-late", x509.DNSName("svc-late.internal"), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    _, rogue_key, rogue_certificate = make_ca("someone else's CA")
    rogue = make_leaf(
        rogue_key, rogue_certificate, "svc-a", x509.DNSName("svc-a.internal"), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    files = {}
    for name, content in (("ca.pem", ca.certificate), ("server.pem", server.certificate), ("server.key", server.key)):
        path = directory / name
        path.write_bytes(content)
        path.chmod(0o600)
        files[name] = str(path)

    data_dir = directory / "data"
    data_dir.mkdir()
    a = gateway_kit.add_organisation(directory, data_dir)
    b = gateway_kit.add_organisation(directory, data_dir)
    read_a = {"grants": [{"organisation": a.organisation, "resources": ["*"], "rights": ["read"]}]}
    gateway_kit.create_caller(data_dir, "cert-a", read_a)
    gateway_kit.create_caller(data_dir, "token-a", read_a)
    token_a, _ = gateway_kit.issue_token(data_dir, "token-a")
    gateway_kit.create_caller(
        data_dir, "ops-admin", {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}
    )
    admin_token, _ = gateway_kit.issue_token(data_dir, "ops-admin")
    gateway_kit.cli(
        "caller", "map-cert", "--identity", CLIENT_IDENTITY, "--name", "cert-a", "--data-dir", str(data_dir)
    )

    env: dict[str, str | None] = {
        "ENCORD_GATEWAY_TLS_CERT": files["server.pem"],
        "ENCORD_GATEWAY_TLS_KEY": files["server.key"],
        "ENCORD_GATEWAY_TLS_CLIENT_CA": files["ca.pem"],
    }
    gateway = gateway_kit.launch(directory, data_dir, [a, b], env=env, tls=True)
    world = MtlsWorld(
        gateway_kit, gateway, directory, ca, mapped, unmapped, rogue, late, a, b, token_a, admin_token, ""
    )
    try:
        # A's project, made by A's own read/write caller (over mTLS: any trusted certificate plus its token).
        with world.channel(mapped) as opened:
            world.a_project = (
                projects_pb2_grpc.ProjectServiceStub(opened)
                .CreateProject(projects_pb2.CreateProjectRequest(title="mtls project"), metadata=a.auth_metadata)
                .project_hash
            )
        yield world
    finally:
        gateway.stop()


Decision = tuple[str, str]


def _decide(call: Callable[[], Any], kit: GatewayKit) -> Decision:
    try:
        response = call()
    except grpc.RpcError as error:
        details = kit.grpc_error(error)
        return details.code, details.reason
    return "OK", type(response).__name__


def test_certificate_caller_gets_the_same_decisions_as_a_token_caller_with_the_same_policy(mtls: MtlsWorld) -> None:
    b = mtls.b.organisation
    get = projects_pb2.GetProjectRequest(project_hash=mtls.a_project)
    create = projects_pb2.CreateProjectRequest(title="not allowed: read only")
    listing = projects_pb2.ListProjectsRequest()

    def decisions(stub: projects_pb2_grpc.ProjectServiceStub, auth: tuple[tuple[str, str], ...]) -> list[Decision]:
        return [
            _decide(lambda: stub.GetProject(get, metadata=auth), mtls.kit),
            _decide(lambda: stub.ListProjects(listing, metadata=auth), mtls.kit),
            _decide(lambda: stub.ListProjects(listing, metadata=(*auth, ("x-encord-organisation", b))), mtls.kit),
            _decide(lambda: stub.CreateProject(create, metadata=auth), mtls.kit),
        ]

    with mtls.channel(mtls.mapped) as opened:
        stub = projects_pb2_grpc.ProjectServiceStub(opened)
        by_certificate = decisions(stub, ())
        by_token = decisions(stub, (("authorization", f"Bearer {mtls.token_a}"),))
        project = stub.GetProject(get)
        assert project.title == "mtls project"
        listed = {p.project_hash for p in stub.ListProjects(listing).projects}
        assert listed == {p.project_hash for p in stub.ListProjects(listing, metadata=(("authorization", f"Bearer {mtls.token_a}"),)).projects}  # fmt: skip
        # The refusal names the certificate's caller: the identity came from the certificate.
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListProjects(listing, metadata=(("x-encord-organisation", b),))
        assert "cert-a" in mtls.kit.grpc_error(raised.value).message
    assert by_certificate == [
        ("OK", "Project"),
        ("OK", "ListProjectsResponse"),
        ("PERMISSION_DENIED", "POLICY_DENIED"),
        ("PERMISSION_DENIED", "POLICY_DENIED"),
    ]
    assert by_token == by_certificate
    assert mtls.a_project in listed

    # REST over mutual TLS: the same decisions.
    path = f"/v1/projects/{mtls.a_project}"
    by_certificate_rest = [
        mtls.rest(mtls.mapped, path).status,
        mtls.rest(mtls.mapped, "/v1/projects").status,
        mtls.rest(mtls.mapped, "/v1/projects", organisation=b).status,
    ]
    by_token_rest = [
        mtls.rest(mtls.mapped, path, token=mtls.token_a).status,
        mtls.rest(mtls.mapped, "/v1/projects", token=mtls.token_a).status,
        mtls.rest(mtls.mapped, "/v1/projects", token=mtls.token_a, organisation=b).status,
    ]
    assert by_certificate_rest == by_token_rest == [200, 200, 403]
    assert mtls.rest(mtls.mapped, path).json()["title"] == "mtls project"


def test_connection_without_a_client_certificate_is_refused(mtls: MtlsWorld) -> None:
    with mtls.channel(None) as opened:
        stub = projects_pb2_grpc.ProjectServiceStub(opened)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListProjects(projects_pb2.ListProjectsRequest(), metadata=mtls.a.auth_metadata, timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE  # no TLS session, so no call at all
    with pytest.raises(OSError):  # urllib's URLError, ssl.SSLError and ConnectionResetError are all OSErrors
        reply = mtls.rest(None, "/v1/projects", token=mtls.a.token)
        pytest.fail(f"answered without a client certificate: {reply}")
    # Nor does a certificate from an untrusted CA get in, whatever identity it claims.
    with mtls.channel(mtls.rogue) as opened:
        stub = projects_pb2_grpc.ProjectServiceStub(opened)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListProjects(projects_pb2.ListProjectsRequest(), timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(OSError):
        mtls.rest(mtls.rogue, "/v1/projects")


def test_trusted_but_unmapped_certificate_is_unauthenticated(mtls: MtlsWorld, sandbox: Sandbox) -> None:
    before = len(sandbox.requests_log())
    with mtls.channel(mtls.unmapped) as opened:
        stub = projects_pb2_grpc.ProjectServiceStub(opened)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListProjects(projects_pb2.ListProjectsRequest(), timeout=5)
        details = mtls.kit.grpc_error(raised.value)
        assert (details.code, details.reason) == ("UNAUTHENTICATED", "UNKNOWN_CERTIFICATE"), details
        # The health service stays reachable for an authenticated TLS session (probes need no caller).
        health = health_pb2_grpc.HealthStub(opened).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    reply = mtls.rest(mtls.unmapped, "/v1/projects")
    assert reply.status == 401, reply
    assert mtls.kit.rest_error(reply).reason == "UNKNOWN_CERTIFICATE"
    assert len(sandbox.requests_log()) == before


def test_certificate_identity_mapped_through_the_admin_api_acts_as_its_caller_at_once(mtls: MtlsWorld) -> None:
    listing = projects_pb2.ListProjectsRequest()
    with mtls.channel(mtls.late) as opened:
        stub = projects_pb2_grpc.ProjectServiceStub(opened)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListProjects(listing, timeout=5)
        assert mtls.kit.grpc_error(raised.value).code == "UNAUTHENTICATED"

        admin = callers_pb2_grpc.CallerAdminServiceStub(opened)
        admin_md = (("authorization", f"Bearer {mtls.admin_token}"),)
        policy = {"grants": [{"organisation": mtls.b.organisation, "resources": ["*"], "rights": ["read"]}]}
        admin.CreateCaller(
            callers_pb2.CreateCallerRequest(name="late-b", policy=json_format.ParseDict(policy, callers_pb2.Policy())),
            metadata=admin_md,
        )
        mapped = admin.MapCertificateIdentity(
            callers_pb2.MapCertificateIdentityRequest(caller="late-b", identity="DNS:svc-late.internal"),
            metadata=admin_md,
        )
        assert list(mapped.certificate_identities) == ["DNS:svc-late.internal"]

        # Now a caller of organisation B: B's list, and A's project is out of bounds.
        assert mtls.a_project not in {p.project_hash for p in stub.ListProjects(listing, timeout=5).projects}
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListProjects(listing, metadata=(("x-encord-organisation", mtls.a.organisation),), timeout=5)
        assert mtls.kit.grpc_error(raised.value).code == "PERMISSION_DENIED"
    assert mtls.rest(mtls.late, "/v1/projects").status == 200
    assert mtls.rest(mtls.late, "/v1/projects", organisation=mtls.a.organisation).status == 403
