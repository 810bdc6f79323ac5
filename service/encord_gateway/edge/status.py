"""What a caller receives when a call fails: google.rpc.Status, bounded, and its HTTP status for REST.

The gRPC code → HTTP status table is grpc-gateway's (runtime/errors.go). Every status is bounded
before it leaves: gRPC carries it in metadata (a few kilobytes at most) and REST callers print it,
so messages, metadata values and field violations are cut to size and stripped of control characters.
"""

from __future__ import annotations

import grpc
from google.rpc import status_pb2

from ..errors import GatewayError
from ..jsontext import clean_text

S = grpc.StatusCode

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    S.OK: 200,
    # 499 is nginx's "client closed request": the caller went away, nothing failed on our side.
    S.CANCELLED: 499,
    S.UNKNOWN: 500,
    S.INVALID_ARGUMENT: 400,
    S.DEADLINE_EXCEEDED: 504,
    S.NOT_FOUND: 404,
    S.ALREADY_EXISTS: 409,
    S.PERMISSION_DENIED: 403,
    S.UNAUTHENTICATED: 401,
    S.RESOURCE_EXHAUSTED: 429,
    # Deliberately not 412 Precondition Failed, which is about HTTP conditional headers.
    S.FAILED_PRECONDITION: 400,
    S.ABORTED: 409,
    S.OUT_OF_RANGE: 400,
    S.UNIMPLEMENTED: 501,
    S.INTERNAL: 500,
    S.UNAVAILABLE: 503,
    S.DATA_LOSS: 500,
}

# Failures of the HTTP exchange itself, where HTTP has a more precise status than the code's:
# a body that did not arrive in time is the client's 408, not the upstream's 504; a body over the
# route's limit is 413 and a request line or header over aiohttp's is 414/431, so that proxies and
# clients recognise them.
HTTP_STATUS_BY_REASON: dict[str, int] = {
    "REQUEST_BODY_TIMEOUT": 408,
    "REQUEST_BODY_TOO_LARGE": 413,
    "REQUEST_LINE_TOO_LONG": 414,
    "REQUEST_HEADER_TOO_LARGE": 431,
}

MAX_MESSAGE_CHARS = 1000
MAX_METADATA_ENTRIES = 16
MAX_METADATA_CHARS = 200
MAX_FIELD_VIOLATIONS = 20
MAX_FIELD_CHARS = 200
MAX_DESCRIPTION_CHARS = 300


def http_status(code: grpc.StatusCode, reason: str = "") -> int:
    return HTTP_STATUS_BY_REASON.get(reason) or HTTP_STATUS.get(code, 500)


def bounded(error: GatewayError) -> GatewayError:
    """The same error, cut to sizes that fit gRPC metadata and a terminal, as printable text."""
    metadata = {
        clean_text(key, MAX_METADATA_CHARS): clean_text(value, MAX_METADATA_CHARS)
        for key, value in list(error.metadata.items())[:MAX_METADATA_ENTRIES]
    }
    violations = [
        (clean_text(field, MAX_FIELD_CHARS), clean_text(description, MAX_DESCRIPTION_CHARS))
        for field, description in error.field_violations[:MAX_FIELD_VIOLATIONS]
    ]
    if "fields" in metadata:  # invalid_argument() lists the violated fields here too
        metadata["fields"] = clean_text(",".join(field for field, _ in violations), MAX_METADATA_CHARS)
    return GatewayError(
        error.code,
        clean_text(error.message, MAX_MESSAGE_CHARS),
        reason=clean_text(error.reason, MAX_METADATA_CHARS),
        domain=error.domain,
        metadata=metadata,
        field_violations=violations,
        retry_after=error.retry_after,
    )


def status_of(error: GatewayError) -> status_pb2.Status:
    """The google.rpc.Status a caller receives for `error`."""
    return bounded(error).to_status()
