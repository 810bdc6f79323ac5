"""One error model for the whole gateway: a gRPC status with google.rpc details, gateway- or upstream-origin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

# ErrorInfo.domain tells the caller who produced the error: the gateway itself (bad input, auth,
# policy) or Encord upstream (its error code is the reason).
GATEWAY_DOMAIN = "gateway.encord-gateway.dev"
UPSTREAM_DOMAIN = "api.encord.com"


class GatewayError(Exception):
    """A failed call, carrying everything the edge needs to build google.rpc.Status."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str,
        domain: str = GATEWAY_DOMAIN,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[tuple[str, str]] = (),
        retry_after: float | None = None,
        omitted_violations: int = 0,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.field_violations = list(field_violations)
        self.retry_after = retry_after
        # Violations found but not listed (there were too many to carry); said as one last entry.
        self.omitted_violations = omitted_violations

    def to_status(self) -> status_pb2.Status:
        details: list[any_pb2.Any] = []
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=self.domain, metadata=self.metadata)
        details.append(_pack(info))
        if self.field_violations:
            listed = list(self.field_violations)
            if self.omitted_violations:
                listed.append(("(request)", f"{self.omitted_violations} more fields are invalid"))
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in listed
                ]
            )
            details.append(_pack(bad_request))
        if self.retry_after is not None:
            seconds = max(0.0, self.retry_after)
            delay = duration_pb2.Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))
            details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=details)


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def invalid_argument(violations: Sequence[tuple[str, str]], omitted: int = 0) -> GatewayError:
    """INVALID_ARGUMENT naming every offending field (google.rpc.BadRequest), or the first of them and how
    many more there are."""
    summary = "; ".join(f"{field}: {description}" for field, description in violations)
    return GatewayError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"invalid request: {summary}",
        reason="INVALID_REQUEST",
        field_violations=violations,
        metadata={"fields": ",".join(field for field, _ in violations)},
        omitted_violations=omitted,
    )


def code_number(code: grpc.StatusCode) -> int:
    return int(code.value[0])
