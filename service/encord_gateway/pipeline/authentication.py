"""Authentication: the caller, from headers alone (bearer token or client certificate), before any request
body is read, so that nothing an anonymous caller sends is ever parsed or held."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import grpc

from ..errors import GatewayError
from .call import Call, CallerIdentity, Peer, Proceed

BEARER_PREFIX = "bearer "
MAX_AUTHORIZATION_LENGTH = 4096


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> CallerIdentity | None: ...
    async def caller_for_certificate(self, subject: str, sans: Sequence[str]) -> CallerIdentity | None: ...


def unauthenticated(text: str, reason: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.UNAUTHENTICATED, text, reason=reason)


async def authenticate(authenticator: Authenticator, header: str | None, peer: Peer | None) -> CallerIdentity:
    """The caller named by an `authorization: Bearer` header, else by the mTLS client certificate."""
    if header:
        token = header[len(BEARER_PREFIX) :].strip()
        if (
            len(header) > MAX_AUTHORIZATION_LENGTH
            or header[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX
            or not (token.isascii() and token.isprintable())  # tokens are ASCII; bytes that are not never match
        ):
            raise unauthenticated("authorization must be 'Bearer <token>'", "MALFORMED_CREDENTIALS")
        caller = await authenticator.authenticate(token)
        if caller is None:
            raise unauthenticated("the bearer token is not valid (unknown, expired or revoked)", "INVALID_TOKEN")
        return caller
    if peer is not None and peer.certificate_subject is not None:
        caller = await authenticator.caller_for_certificate(peer.certificate_subject, peer.certificate_sans)
        if caller is None:
            raise unauthenticated("the client certificate is not mapped to a caller", "UNKNOWN_CERTIFICATE")
        return caller
    raise unauthenticated("missing 'authorization: Bearer <token>'", "MISSING_CREDENTIALS")


class Authentication:
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        call.caller = await authenticate(self._authenticator, call.metadata.get("authorization"), call.peer)
        await proceed(call)
