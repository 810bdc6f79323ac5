"""Failed calls as exceptions: one class per gRPC status code, each carrying the google.rpc details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"
GATEWAY_DOMAIN = "gateway.encord-gateway.dev"
"""ErrorInfo.domain of errors the gateway itself produced (bad input, authentication, policy, limits)."""
UPSTREAM_DOMAIN = "api.encord.com"
"""ErrorInfo.domain of errors Encord answered; the reason is Encord's own error code."""


class GatewayError(Exception):
    """A call the gateway (or Encord behind it) refused or failed.

    Branch on `reason` (google.rpc.ErrorInfo.reason: stable, UPPER_SNAKE), never on the message; `domain`
    says who refused the call (GATEWAY_DOMAIN or UPSTREAM_DOMAIN).
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        domain: str = "",
        metadata: Mapping[str, str] | None = None,
        retry_delay: float | None = None,
        field_violations: Sequence[tuple[str, str]] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.retry_delay = retry_delay
        """Seconds the server asked the caller to wait before trying again (google.rpc.RetryInfo)."""
        self.field_violations = tuple(field_violations)
        """(field, description) of each google.rpc.BadRequest violation."""
        self.request_id = request_id

    @property
    def from_upstream(self) -> bool:
        """True when Encord, not the gateway, refused the call."""
        return self.domain == UPSTREAM_DOMAIN

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.reason:
            text += f" (reason={self.reason} domain={self.domain})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r}, domain={self.domain!r})"


def _subclass(name: str, code: grpc.StatusCode) -> type[GatewayError]:
    return type(name, (GatewayError,), {"code": code, "__doc__": f"{code.name}: see GatewayError."})


Cancelled = _subclass("Cancelled", grpc.StatusCode.CANCELLED)
InvalidArgument = _subclass("InvalidArgument", grpc.StatusCode.INVALID_ARGUMENT)
DeadlineExceeded = _subclass("DeadlineExceeded", grpc.StatusCode.DEADLINE_EXCEEDED)
NotFound = _subclass("NotFound", grpc.StatusCode.NOT_FOUND)
AlreadyExists = _subclass("AlreadyExists", grpc.StatusCode.ALREADY_EXISTS)
PermissionDenied = _subclass("PermissionDenied", grpc.StatusCode.PERMISSION_DENIED)
ResourceExhausted = _subclass("ResourceExhausted", grpc.StatusCode.RESOURCE_EXHAUSTED)
FailedPrecondition = _subclass("FailedPrecondition", grpc.StatusCode.FAILED_PRECONDITION)
Aborted = _subclass("Aborted", grpc.StatusCode.ABORTED)
OutOfRange = _subclass("OutOfRange", grpc.StatusCode.OUT_OF_RANGE)
Unimplemented = _subclass("Unimplemented", grpc.StatusCode.UNIMPLEMENTED)
Internal = _subclass("Internal", grpc.StatusCode.INTERNAL)
Unavailable = _subclass("Unavailable", grpc.StatusCode.UNAVAILABLE)
DataLoss = _subclass("DataLoss", grpc.StatusCode.DATA_LOSS)
Unauthenticated = _subclass("Unauthenticated", grpc.StatusCode.UNAUTHENTICATED)

ERROR_CLASSES: dict[grpc.StatusCode, type[GatewayError]] = {
    cls.code: cls
    for cls in (
        Cancelled, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists, PermissionDenied,
        ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented, Internal, Unavailable,
        DataLoss, Unauthenticated,
    )
}  # fmt: skip


def _status(trailing_metadata: Any) -> status_pb2.Status | None:
    for key, value in trailing_metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed trailer must not hide the error itself
                return None
    return None


def _ask(error: grpc.RpcError, name: str) -> Any:
    method = getattr(error, name, None)
    return method() if callable(method) else None


def from_rpc_error(error: grpc.RpcError, request_id: str | None = None) -> GatewayError:
    """The exception for a failed call, with the google.rpc.Status details from its trailers."""
    # grpc's RpcError of a finished call is also a grpc.Call (sync) or grpc.aio.AioRpcError: both have these.
    code: grpc.StatusCode = _ask(error, "code") or grpc.StatusCode.UNKNOWN
    message: str = _ask(error, "details") or ""
    trailers = _ask(error, "trailing_metadata") or ()
    status = _status(trailers)
    reason, domain, metadata, delay, violations = "", "", {}, None, []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [(v.field, v.description) for v in bad.field_violations]
    if status is not None and status.message:
        message = status.message
    cls = ERROR_CLASSES.get(code, GatewayError)
    return cls(
        message,
        code=code,
        reason=reason,
        domain=domain,
        metadata=metadata,
        retry_delay=delay,
        field_violations=violations,
        request_id=request_id,
    )
