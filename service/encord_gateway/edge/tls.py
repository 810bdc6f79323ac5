"""TLS and mutual TLS for both edges, and the client certificate's identity (subject and SANs)."""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from cryptography import x509

from ..config import Settings
from ..pipeline.call import Peer

SAN_PREFIX: dict[type, str] = {
    x509.DNSName: "DNS",
    x509.UniformResourceIdentifier: "URI",
    x509.RFC822Name: "email",
    x509.IPAddress: "IP",
}


def peer_from_der(der: bytes | None) -> Peer | None:
    """The identity a client certificate presents: RFC 4514 subject, and SANs as `DNS:...`, `URI:...`."""
    if not der:
        return None
    certificate = x509.load_der_x509_certificate(der)
    return peer_from_certificate(certificate)


def peer_from_pem(pem: bytes | None) -> Peer | None:
    if not pem:
        return None
    return peer_from_certificate(x509.load_pem_x509_certificate(pem))


def peer_from_certificate(certificate: x509.Certificate) -> Peer:
    sans: list[str] = []
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        for name in extension.value:
            prefix = SAN_PREFIX.get(type(name))
            if prefix is not None:
                sans.append(f"{prefix}:{name.value}")
    return Peer(certificate.subject.rfc4514_string(), tuple(sans))


def read(path: object) -> bytes:
    with open(str(path), "rb") as handle:
        return handle.read()


def grpc_credentials(settings: Settings) -> object:
    """grpc.ssl_server_credentials for the settings (client certificates required under mutual TLS)."""
    import grpc

    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    pair = [(read(settings.tls_key_file), read(settings.tls_cert_file))]
    if settings.tls_client_ca_file is None:
        return grpc.ssl_server_credentials(pair)
    return grpc.ssl_server_credentials(
        pair, root_certificates=read(settings.tls_client_ca_file), require_client_auth=True
    )


def rest_ssl_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    context.load_cert_chain(str(settings.tls_cert_file), str(settings.tls_key_file))
    if settings.tls_client_ca_file is not None:
        context.load_verify_locations(str(settings.tls_client_ca_file))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def grpc_peer(auth_context: dict[str, Sequence[bytes]]) -> Peer | None:
    """gRPC exposes the verified client certificate as `x509_pem_cert` in the auth context."""
    pem = next(iter(auth_context.get("x509_pem_cert", ())), None)
    return peer_from_pem(pem)
