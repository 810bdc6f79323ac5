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
# gRPC sends a status twice in the trailers: the message percent-encoded in grpc-message (up to 3 bytes
# per UTF-8 byte) and the whole Status base64-encoded in grpc-status-details-bin (4 bytes per 3), and
# clients refuse trailers over 8 KiB (grpc's default metadata limit) with RESOURCE_EXHAUSTED in place of
# our error. Each field's own cap is not enough (20 violations of 500 characters are 10 kB), so the
# message and the encoded Status have byte budgets too: 3 x 800 + 4/3 x 2400 leaves room for the rest.
MAX_MESSAGE_BYTES = 800
MAX_STATUS_BYTES = 2400
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
    result = GatewayError(
        error.code,
        _within_bytes(clean_text(error.message, MAX_MESSAGE_CHARS), MAX_MESSAGE_BYTES),
        reason=clean_text(error.reason, MAX_METADATA_CHARS),
        domain=error.domain,
        metadata=metadata,
        field_violations=violations,
        retry_after=error.retry_after,
    )
    # The first violations are kept, as the message names them first and a caller fixes those and tries
    # again; how many more there are is said in a last entry, so nobody takes the list for complete.
    result.omitted_violations = error.omitted_violations + len(error.field_violations) - len(violations)
    while len(result.field_violations) > 1 and _too_big(result):
        result.field_violations.pop()
        result.omitted_violations += 1
    if "fields" in result.metadata:
        result.metadata["fields"] = clean_text(",".join(f for f, _ in result.field_violations), MAX_METADATA_CHARS)
    for key in list(result.metadata)[::-1]:
        if not _too_big(result):
            break
        del result.metadata[key]
    return result


def _too_big(error: GatewayError) -> bool:
    return error.to_status().ByteSize() > MAX_STATUS_BYTES


def _within_bytes(text: str, limit: int) -> str:
    """`text` cut, at a character boundary, to at most `limit` bytes of UTF-8, an ellipsis marking the cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", errors="ignore").rstrip() + "…"


def status_of(error: GatewayError) -> status_pb2.Status:
    """The google.rpc.Status a caller receives for `error`."""
    return bounded(error).to_status()
