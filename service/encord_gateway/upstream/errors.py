"""Encord's error envelope (v1 codes, v2 HTTP statuses) mapped to gRPC statuses with ErrorInfo (§3.6, §4)."""

from __future__ import annotations

import grpc

from ..errors import UPSTREAM_DOMAIN, GatewayError

S = grpc.StatusCode

# v1 error codes (`response: ["<CODE>"]`) → gRPC code. Encord rejecting the *gateway's* credential
# (unknown key, bad signature) is not the caller's authentication failing, so it is reported as
# FAILED_PRECONDITION (the organisation's credential needs an operator), never UNAUTHENTICATED.
V1_CODES: dict[str, grpc.StatusCode] = {
    "AUTHENTICATION_ERROR": S.FAILED_PRECONDITION,
    "SSH_KEY_NOT_FOUND_ERROR": S.FAILED_PRECONDITION,
    "DUPLICATE_SSH_KEY_ERROR": S.FAILED_PRECONDITION,
    "AUTHORISATION_ERROR": S.PERMISSION_DENIED,
    "OPERATION_NOT_ALLOWED": S.PERMISSION_DENIED,
    "RESOURCE_NOT_FOUND_ERROR": S.NOT_FOUND,
    "RESOURCE_EXISTS_ERROR": S.ALREADY_EXISTS,
    "METHOD_NOT_ALLOWED_ERROR": S.UNIMPLEMENTED,
    "RATE_LIMIT_ERROR": S.RESOURCE_EXHAUSTED,
    "INVALID_ARGUMENTS_ERROR": S.INVALID_ARGUMENT,
    "INVALID_DATE_FORMAT_ERROR": S.INVALID_ARGUMENT,
    "ANSWER_DICTIONARY_ERROR": S.INVALID_ARGUMENT,
    "CORRUPTED_LABEL_ERROR": S.INVALID_ARGUMENT,
    "FILE_TYPE_NOT_SUPPORTED_ERROR": S.INVALID_ARGUMENT,
    "FILE_SIZE_NOT_SUPPORTED_ERROR": S.INVALID_ARGUMENT,
    "FEATURE_DOES_NOT_EXIST_ERROR": S.INVALID_ARGUMENT,
    "MODEL_WEIGHTS_INCONSISTENT_ERROR": S.INVALID_ARGUMENT,
    "MODEL_FEATURES_INCONSISTENT_ERROR": S.INVALID_ARGUMENT,
    "DETECTION_RANGE_INVALID_ERROR": S.INVALID_ARGUMENT,
    "MUST_SET_DETECTION_RANGE_ERROR": S.INVALID_ARGUMENT,
    "MULTI_LABEL_LIMIT_ERROR": S.INVALID_ARGUMENT,
    "UPLOAD_OPERATION_NOT_SUPPORTED_ERROR": S.FAILED_PRECONDITION,
    "WRONG_PROJECT_TYPE_ERROR": S.FAILED_PRECONDITION,
    "UNKNOWN_ERROR": S.UNKNOWN,
}

# v2 HTTP statuses → (gRPC code, ErrorInfo reason). 401 is the gateway's credential (see above);
# 502/503 are transient and worth a retry by the caller, other 5xx are not known to be.
HTTP_STATUSES: dict[int, tuple[grpc.StatusCode, str]] = {
    400: (S.INVALID_ARGUMENT, "INVALID_ARGUMENTS_ERROR"),
    401: (S.FAILED_PRECONDITION, "AUTHENTICATION_ERROR"),
    403: (S.PERMISSION_DENIED, "AUTHORISATION_ERROR"),
    404: (S.NOT_FOUND, "RESOURCE_NOT_FOUND_ERROR"),
    405: (S.UNIMPLEMENTED, "METHOD_NOT_ALLOWED_ERROR"),
    409: (S.ALREADY_EXISTS, "RESOURCE_EXISTS_ERROR"),
    413: (S.INVALID_ARGUMENT, "PAYLOAD_TOO_LARGE"),
    429: (S.RESOURCE_EXHAUSTED, "RATE_LIMIT_ERROR"),
    500: (S.UNKNOWN, "UPSTREAM_SERVER_ERROR"),
    502: (S.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
    503: (S.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
    504: (S.UNAVAILABLE, "UPSTREAM_TIMEOUT"),
}

CREDENTIAL_HINT = "Encord did not accept the organisation's credential; ask the gateway operator to check it"


def upstream_error(
    code: grpc.StatusCode,
    reason: str,
    message: str,
    *,
    label: str,
    http_status: int | None = None,
    retry_after: float | None = None,
) -> GatewayError:
    metadata = {"operation": label}
    if http_status is not None:
        metadata["http_status"] = str(http_status)
    return GatewayError(
        code, message, reason=reason, domain=UPSTREAM_DOMAIN, metadata=metadata, retry_after=retry_after
    )


def from_v1_code(code: str, payload: object, *, label: str) -> GatewayError:
    status = V1_CODES.get(code, S.UNKNOWN)
    if status == S.FAILED_PRECONDITION and code in ("AUTHENTICATION_ERROR", "SSH_KEY_NOT_FOUND_ERROR"):
        message = f"{CREDENTIAL_HINT} ({code})"
    else:
        detail = payload if isinstance(payload, str) and payload else None
        message = f"Encord answered {code}" + (f": {detail}" if detail else "")
    error = upstream_error(status, code, message, label=label)
    if isinstance(payload, dict):
        # Scalar members of an object payload (MULTI_LABEL_LIMIT_ERROR's maximum_labels_allowed) are
        # facts a caller or the engine acts on; they go into ErrorInfo.metadata as text.
        for key, value in payload.items():
            if isinstance(key, str) and isinstance(value, str | int | float) and not isinstance(value, bool):
                error.metadata.setdefault(key, str(value))
    return error


def from_http_status(
    status: int, server_message: str | None, *, label: str, retry_after: float | None = None
) -> GatewayError:
    code, reason = HTTP_STATUSES.get(status, (S.UNKNOWN, "UPSTREAM_SERVER_ERROR"))
    if status == 401:
        message = CREDENTIAL_HINT
    else:
        message = f"Encord answered HTTP {status}" + (f": {server_message}" if server_message else "")
    return upstream_error(code, reason, message, label=label, http_status=status, retry_after=retry_after)


def malformed(detail: str, *, label: str, http_status: int | None = None) -> GatewayError:
    return upstream_error(
        S.UNAVAILABLE,
        "UPSTREAM_MALFORMED_RESPONSE",
        f"Encord's answer could not be read: {detail}",
        label=label,
        http_status=http_status,
    )
