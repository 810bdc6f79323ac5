"""One error type for both APIs: a v1 envelope code plus the HTTP status the v2 API gives it."""

from __future__ import annotations

from typing import Any

from .requestlog import NO_ROUTE

# v1 error code (§4.1) → v2 HTTP status (§3.6). The request log uses the code for both APIs.
HTTP_STATUS: dict[str, int] = {
    "INVALID_ARGUMENTS_ERROR": 400,
    "INVALID_DATE_FORMAT_ERROR": 400,
    "AUTHENTICATION_ERROR": 401,
    "SSH_KEY_NOT_FOUND_ERROR": 401,
    "DUPLICATE_SSH_KEY_ERROR": 401,
    "AUTHORISATION_ERROR": 403,
    "RESOURCE_NOT_FOUND_ERROR": 404,
    "METHOD_NOT_ALLOWED_ERROR": 405,
    "RESOURCE_EXISTS_ERROR": 409,
}

CODE_FOR_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENTS_ERROR",
    401: "AUTHENTICATION_ERROR",
    403: "AUTHORISATION_ERROR",
    404: "RESOURCE_NOT_FOUND_ERROR",
    405: "METHOD_NOT_ALLOWED_ERROR",
    409: "RESOURCE_EXISTS_ERROR",
}


class ApiError(Exception):
    """A refusal a real Encord server would give; never carries key material."""

    def __init__(self, code: str, message: str, payload: Any = None, *, outcome: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.payload = message if payload is None else payload
        self.outcome = code if outcome is None else outcome
        """What the request log records: the code, unless the refusal is of a kind the wire cannot tell apart."""

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENTS_ERROR", message)


def not_found(kind: str, resource_hash: object) -> ApiError:
    return ApiError("RESOURCE_NOT_FOUND_ERROR", f"{kind} {resource_hash} not found")


def forbidden(message: str) -> ApiError:
    return ApiError("AUTHORISATION_ERROR", message)


def operation_not_allowed(message: str) -> ApiError:
    # The one v1 code without the `_ERROR` suffix (§4.1): an API key without the scope a call needs.
    return ApiError("OPERATION_NOT_ALLOWED", message)


def no_route(path: str) -> ApiError:
    """A v2 path no route matches: Encord's 404, logged apart from a handler's RESOURCE_NOT_FOUND_ERROR."""
    return ApiError("RESOURCE_NOT_FOUND_ERROR", f"no such endpoint: {path}", outcome=NO_ROUTE)
