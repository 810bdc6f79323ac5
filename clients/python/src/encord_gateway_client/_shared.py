"""What the sync and asyncio clients share: method descriptions, requests, metadata and the retry decision."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf import message

from ._config import ClientConfig
from ._errors import GatewayError, InvalidArgument

Metadata = Sequence[tuple[str, str]]
RequestT = TypeVar("RequestT", bound=message.Message)
ResponseT = TypeVar("ResponseT", bound=message.Message)

AUTHORIZATION = "authorization"
ORGANISATION_HEADER = "x-encord-organisation"
REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_FIELD = "request_id"


@dataclass(frozen=True)
class MethodInfo(Generic[RequestT, ResponseT]):
    """One RPC as the generated wrappers describe it."""

    path: str
    """`/package.Service/Method`."""
    request_class: type[RequestT]
    response_class: type[ResponseT]
    read: bool
    """From the RPC's options: `access: ACCESS_READ` (or a GET rule without options). Reads may be retried."""
    kind: str
    """unary_unary, unary_stream or stream_unary."""
    items_field: str | None = None
    """For AIP-158 lists, the repeated response field the `iter_...` methods yield."""


def build_request(
    info: MethodInfo[RequestT, Any], request: message.Message | None, fields: Mapping[str, Any]
) -> RequestT:
    """The request message: the one given, or one made from keyword fields (not both)."""
    if request is not None:
        if fields:
            raise TypeError("pass either a request message or keyword fields, not both")
        if not isinstance(request, info.request_class):
            raise TypeError(f"{info.path} takes {info.request_class.__name__}, not {type(request).__name__}")
        return request
    try:
        return info.request_class(**fields)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{info.request_class.DESCRIPTOR.full_name}: {exc}") from None


def call_metadata(
    config: ClientConfig, info: MethodInfo[Any, Any], request: message.Message, request_id: str | None, extra: Metadata
) -> tuple[list[tuple[str, str]], str | None]:
    """Authorization, organisation and request id headers, plus the caller's own; returns them and the id.

    A write always carries a request id (the caller's, else a fresh UUID) as `x-request-id`, and in the
    request's `request_id` field when the message has one (AIP-155), so that retries can be recognised.
    """
    headers: list[tuple[str, str]] = []
    if config.token:
        headers.append((AUTHORIZATION, f"Bearer {config.token}"))
    if config.organisation:
        headers.append((ORGANISATION_HEADER, config.organisation))
    if request_id is None and not info.read:
        request_id = str(uuid.uuid4())
    if request_id is not None:
        headers.append((REQUEST_ID_HEADER, request_id))
        if REQUEST_ID_FIELD in request.DESCRIPTOR.fields_by_name and not getattr(request, REQUEST_ID_FIELD):
            setattr(request, REQUEST_ID_FIELD, request_id)
    headers.extend((key.lower(), value) for key, value in extra)
    return headers, request_id


def retry_delay(
    config: ClientConfig,
    info: MethodInfo[Any, Any],
    error: GatewayError,
    attempt: int,
    caller_request_id: bool,
    remaining: float,
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when the failure must go to the caller.

    Reads are retried; writes only with a caller-given request_id and `retry_writes_with_request_id`.
    The server's RetryInfo delay wins over backoff; a retry that could not start before the deadline
    is not attempted.
    """
    policy = config.retry
    if attempt >= policy.max_attempts or error.code not in policy.retryable_codes:
        return None
    if not info.read and not (caller_request_id and policy.retry_writes_with_request_id):
        return None
    delay = error.retry_delay if error.retry_delay is not None else random.uniform(0, policy.backoff_bound(attempt))
    return delay if delay < remaining else None
