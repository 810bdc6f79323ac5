"""Encord's error envelope (v1 codes, v2 HTTP statuses) mapped to gRPC statuses with ErrorInfo (§3.6, §4).

What Encord says is relayed, never trusted: its codes, messages and payloads are shortened and
stripped of control characters before they reach a caller (a status travels in gRPC metadata,
which is small, and into logs and terminals). Errors the gateway observes itself on the way to
Encord (no connection, no answer in time) carry the gateway's domain; errors in Encord's answers
carry Encord's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc

from .. import jsontext
from ..errors import GATEWAY_DOMAIN, UPSTREAM_DOMAIN, GatewayError

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


@dataclass(frozen=True)
class HttpOutcome:
    """What one HTTP status from Encord means: the caller's gRPC code and reason, and whether it is
    transient (a read meeting it is retried, and a run of them counts against the host's circuit)."""

    code: grpc.StatusCode
    reason: str
    transient: bool = False


# Encord's HTTP statuses (either API) → what the caller gets. This table is the one place that decides:
# the retry policy (upstream/retry.py) and the circuit breaker read `transient` from it, and the edge
# maps the code to HTTP (edge/status.py). 401 is the gateway's credential (see above). 500, 502 and 503
# are transient, as Encord's own SDK treats them (wire reference §4.2-4.3: retried when retryable), so
# the caller gets UNAVAILABLE (retry later) for all three. 504 is Encord's own timeout: the SDK does not
# retry it, and whether a write took effect is unknown, so it is DEADLINE_EXCEEDED like the gateway's own
# upstream timeout. 413 is not retried: the same body is too large the next time too.
HTTP_STATUSES: dict[int, HttpOutcome] = {
    400: HttpOutcome(S.INVALID_ARGUMENT, "INVALID_ARGUMENTS_ERROR"),
    401: HttpOutcome(S.FAILED_PRECONDITION, "AUTHENTICATION_ERROR"),
    403: HttpOutcome(S.PERMISSION_DENIED, "AUTHORISATION_ERROR"),
    404: HttpOutcome(S.NOT_FOUND, "RESOURCE_NOT_FOUND_ERROR"),
    405: HttpOutcome(S.UNIMPLEMENTED, "METHOD_NOT_ALLOWED_ERROR"),
    409: HttpOutcome(S.ALREADY_EXISTS, "RESOURCE_EXISTS_ERROR"),
    413: HttpOutcome(S.INVALID_ARGUMENT, "PAYLOAD_TOO_LARGE"),
    429: HttpOutcome(S.RESOURCE_EXHAUSTED, "RATE_LIMIT_ERROR", transient=True),
    500: HttpOutcome(S.UNAVAILABLE, "UPSTREAM_SERVER_ERROR", transient=True),
    502: HttpOutcome(S.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", transient=True),
    503: HttpOutcome(S.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", transient=True),
    504: HttpOutcome(S.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT"),
}
OTHER_STATUS = HttpOutcome(S.UNKNOWN, "UPSTREAM_SERVER_ERROR")
"""Any status the table does not name (another 4xx or 5xx, a 3xx that is never followed): not known to be
worth a retry."""

UNREACHABLE = "UPSTREAM_UNREACHABLE"
"""The reason of a call that never got an answer (no connection, a reset): transient by nature."""


def http_outcome(status: int) -> HttpOutcome:
    """The meaning of an HTTP status from Encord (the table above, or its fallbacks)."""
    return HTTP_STATUSES.get(status, OTHER_STATUS)


def is_transient(error: GatewayError) -> bool:
    """Whether `error` is one a repeat may not meet: no answer at all, or a status the table marks transient."""
    if error.reason == UNREACHABLE:
        return True
    status = error.metadata.get("http_status", "")
    return status.isdigit() and http_outcome(int(status)).transient


CREDENTIAL_HINT = "Encord did not accept the organisation's credential; ask the gateway operator to check it"

MAX_UPSTREAM_TEXT = 300
"""Characters of an Encord message relayed to the caller; the rest is cut (marked with an ellipsis)."""
MAX_PAYLOAD_FACTS = 8
"""Scalar members of a v1 error payload copied into ErrorInfo.metadata, at most."""
UNREADABLE_CODE = "UNRECOGNISED_UPSTREAM_ERROR"
"""The reason of an envelope whose code is not an UPPER_SNAKE identifier (its text goes to the message)."""

_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,79}")
_METADATA_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


def clean_text(text: str, limit: int = MAX_UPSTREAM_TEXT) -> str:
    """Text from Encord fit for a caller (see jsontext.clean_text)."""
    return jsontext.clean_text(text, limit)


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


def gateway_observed(code: grpc.StatusCode, reason: str, message: str, *, label: str) -> GatewayError:
    """A failure the gateway itself saw on its way to Encord (no connection, no answer in time): the
    gateway's domain, since Encord said nothing."""
    return GatewayError(code, message, reason=reason, domain=GATEWAY_DOMAIN, metadata={"operation": label})


def from_v1_code(code: str, payload: object, *, label: str) -> GatewayError:
    reason = code if _CODE.fullmatch(code) else UNREADABLE_CODE
    status = V1_CODES.get(reason, S.UNKNOWN)
    if status == S.FAILED_PRECONDITION and reason in ("AUTHENTICATION_ERROR", "SSH_KEY_NOT_FOUND_ERROR"):
        message = f"{CREDENTIAL_HINT} ({reason})"
    else:
        detail = clean_text(payload) if isinstance(payload, str) else ""
        message = f"Encord answered {clean_text(code, 80) or 'an empty error code'}" + (f": {detail}" if detail else "")
    error = upstream_error(status, reason, message, label=label)
    if isinstance(payload, dict):
        # Scalar members of an object payload (MULTI_LABEL_LIMIT_ERROR's maximum_labels_allowed) are
        # facts a caller or the engine acts on; they go into ErrorInfo.metadata as text.
        facts = [
            (key, value)
            for key, value in payload.items()
            if isinstance(key, str) and _METADATA_KEY.fullmatch(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool)
        ]
        for key, value in facts[:MAX_PAYLOAD_FACTS]:
            error.metadata.setdefault(key, clean_text(str(value), 80))
    return error


def from_http_status(
    status: int, server_message: str | None, *, label: str, retry_after: float | None = None
) -> GatewayError:
    outcome = http_outcome(status)
    code, reason = outcome.code, outcome.reason
    if status == 401:
        message = CREDENTIAL_HINT
    else:
        detail = clean_text(server_message) if server_message else ""
        message = f"Encord answered HTTP {status}" + (f": {detail}" if detail else "")
    return upstream_error(code, reason, message, label=label, http_status=status, retry_after=retry_after)


def malformed(detail: str, *, label: str, http_status: int | None = None) -> GatewayError:
    return upstream_error(
        S.UNAVAILABLE,
        "UPSTREAM_MALFORMED_RESPONSE",
        f"Encord's answer could not be read: {clean_text(detail)}",
        label=label,
        http_status=http_status,
    )


def too_large(limit: int, *, label: str, http_status: int | None = None) -> GatewayError:
    """An answer longer than the gateway reads (ENCORD_GATEWAY_UPSTREAM_MAX_RESPONSE_BYTES)."""
    error = upstream_error(
        S.RESOURCE_EXHAUSTED,
        "UPSTREAM_RESPONSE_TOO_LARGE",
        f"Encord's answer is larger than the {limit} bytes the gateway reads; ask for less (a smaller page)",
        label=label,
        http_status=http_status,
    )
    error.metadata["limit_bytes"] = str(limit)
    return error
