"""gRPC code → HTTP status, as grpc-gateway's runtime/errors.go maps them, for the REST edge."""

from __future__ import annotations

import grpc

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


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)
