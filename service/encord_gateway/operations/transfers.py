"""Transfer steps: bytes sent to a URL an earlier answer gave (a signed upload URL, §4.6), never to Encord.

A transfer carries no Encord credential: its session has no default headers, and it sends only the headers
its declaration names and those the answer gives (`uploadHeaders`). The bytes come from a body that can be
read again from the start (a spooled file or a request field), so that a failed attempt can be repeated:
transient failures are retried as the SDK retries them, and a URL that is refused as expired is renewed by
running the step that gave it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import grpc
from google.protobuf import descriptor

from .._generated.encord.gateway.v1 import options_pb2
from ..errors import GATEWAY_DOMAIN, GatewayError
from ..upstream.client import BROKEN_CONNECTION, retry_after_seconds
from ..upstream.errors import malformed
from .descriptors import FieldDescriptor, MessageDescriptor
from .plan import Entry, PlanError, build_object, parse_entry
from .refs import MISSING, Reference, ReferenceError, Scope, parse_reference

FD = descriptor.FieldDescriptor

RETRY_STATUSES = frozenset({413, 429, 500, 502, 503})
"""What the SDK's urllib3 policy retries (§4.3); anything else but a renewal status is final."""
DEFAULT_RENEW_STATUSES = frozenset({403})
"""S3 and Azure refuse an expired signature with 403."""
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF_SECONDS = 1.5
DEFAULT_MAX_RENEWALS = 1
MAX_WAIT_SECONDS = 120.0
"""urllib3's cap on one backoff wait."""
CHUNK_BYTES = 256 * 1024
MAX_ANSWER_BYTES = 64 * 1024
"""Most bytes read of a storage provider's answer to a PUT (only its status matters)."""
LABEL = "signed URL PUT"
"""How a transfer is named in errors: never by its URL, which is a credential for the object."""


# ---- the declaration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferPlan:
    """One `transfer` step, checked at start-up."""

    url: Reference
    method: str
    headers: tuple[Entry, ...]
    header_map: Reference | None
    body_field: FieldDescriptor | None
    renew_step: str
    renew_statuses: frozenset[int]
    max_renewals: int
    max_retries: int
    backoff_seconds: float

    def references(self) -> list[Reference]:
        found = [self.url, *([self.header_map] if self.header_map is not None else [])]
        return found + [e.source.reference for e in self.headers if e.source.reference is not None]


def _reference(text: str, context: str) -> Reference:
    try:
        return parse_reference(text)
    except ReferenceError as exc:
        raise PlanError(f"{context}: {exc}") from None


def transfer_plan(
    transfer: options_pb2.Transfer, request: MessageDescriptor, earlier: set[str], *, file_stream: bool, context: str
) -> TransferPlan:
    """Parse and check a transfer: its references name the request or earlier steps, its renewal an earlier step,
    and its bytes a bytes field (or, in a file stream, the file)."""
    if not transfer.url.startswith("$"):
        raise PlanError(f"{context}: a transfer's url is a $reference to an earlier answer")
    method = transfer.method or "PUT"
    if method not in ("PUT", "POST"):
        raise PlanError(f"{context}: a transfer sends with PUT or POST, not {method!r}")
    body_field = None
    if transfer.body_field:
        body_field = request.fields_by_name.get(transfer.body_field)
        if body_field is None or body_field.type != FD.TYPE_BYTES or body_field.is_repeated:
            raise PlanError(
                f"{context}: body_field {transfer.body_field!r} is not a bytes field of {request.full_name}"
            )
    elif not file_stream:
        raise PlanError(f"{context}: a transfer outside a file stream sends a body_field")
    if transfer.renew_step and transfer.renew_step not in earlier:
        raise PlanError(f"{context}: renew_step {transfer.renew_step!r} is not an earlier step")
    plan = TransferPlan(
        url=_reference(transfer.url, context),
        method=method,
        headers=tuple(parse_entry(raw, request, camel=True) for raw in transfer.headers),
        header_map=_reference(transfer.header_map, context) if transfer.header_map else None,
        body_field=body_field,
        renew_step=transfer.renew_step,
        renew_statuses=frozenset(transfer.renew_statuses) or DEFAULT_RENEW_STATUSES,
        max_renewals=transfer.max_renewals if transfer.HasField("max_renewals") else DEFAULT_MAX_RENEWALS,
        max_retries=transfer.max_retries if transfer.HasField("max_retries") else DEFAULT_MAX_RETRIES,
        backoff_seconds=(transfer.backoff_seconds if transfer.HasField("backoff_seconds") else DEFAULT_BACKOFF_SECONDS),
    )
    if any(len(entry.path) != 1 or entry.append for entry in plan.headers):
        raise PlanError(f"{context}: transfer headers are `Name=value` entries")
    for reference in plan.references():
        try:
            reference.check(request, earlier)
        except ReferenceError as exc:
            raise PlanError(f"{context}: {exc}") from None
    return plan


# ---- bodies --------------------------------------------------------------------------------------


class Body(Protocol):
    """Bytes that can be read from the start as often as a transfer needs."""

    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    def chunks(self) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class BytesBody:
    """Bytes already in memory (a request field)."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), CHUNK_BYTES):
            yield self.data[start : start + CHUNK_BYTES]


# ---- sending -------------------------------------------------------------------------------------

Renew = Callable[[str], Awaitable[None]]
"""Runs the named earlier step again; its new answer replaces the old one in the scope."""


class TransferFailed(GatewayError):
    """The bytes did not reach the storage provider."""


def _failure(code: grpc.StatusCode, reason: str, message: str, status: int | None = None) -> TransferFailed:
    metadata = {"operation": LABEL}
    if status is not None:
        metadata["http_status"] = str(status)
    return TransferFailed(code, message, reason=reason, domain=GATEWAY_DOMAIN, metadata=metadata)


def _text(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    return value if isinstance(value, str) else str(value)


def request_target(plan: TransferPlan, scope: Scope) -> tuple[str, dict[str, str]]:
    """The URL and headers of the next attempt, read from the scope now (a renewal changes them)."""
    url = plan.url.resolve(scope)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise malformed("it gives no http(s) URL to upload to", label=LABEL)  # Encord's answer, Encord's domain
    headers = {key: text for key, value in build_object(plan.headers, scope, True, False).items()
               if (text := _text(value)) is not None}  # fmt: skip
    extra = plan.header_map.resolve(scope) if plan.header_map is not None else MISSING
    if isinstance(extra, dict):
        headers.update({str(key): text for key, value in extra.items() if (text := _text(value)) is not None})
    return url, headers


def backoff(plan: TransferPlan, failures: int) -> float:
    """urllib3's schedule as the SDK configures it: the first retry at once, then factor * 2^(n-1)."""
    if failures <= 1:
        return 0.0
    return float(min(MAX_WAIT_SECONDS, plan.backoff_seconds * 2 ** (failures - 1)))


async def _attempt(
    session: aiohttp.ClientSession, plan: TransferPlan, url: str, headers: dict[str, str], body: Body, deadline: float
) -> tuple[int, float | None]:
    """One PUT of the whole body: (HTTP status, Retry-After seconds)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _failure(grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "the deadline expired during the upload")
    sent = {**headers, "Content-Length": str(body.size)}  # a signed PUT takes no chunked encoding
    try:
        async with session.request(
            plan.method,
            url,
            data=body.chunks(),
            headers=sent,
            skip_auto_headers=("Content-Type",),  # only the declared Content-Type, or none (§5.7.1)
            timeout=aiohttp.ClientTimeout(total=remaining),
            allow_redirects=False,
        ) as response:
            await response.content.read(MAX_ANSWER_BYTES)
            return response.status, retry_after_seconds(response.headers.get("Retry-After"))
    except TimeoutError:
        raise _failure(
            grpc.StatusCode.DEADLINE_EXCEEDED, "UPLOAD_TIMEOUT", "the storage provider did not take the file in time"
        ) from None


async def send(
    session: aiohttp.ClientSession, plan: TransferPlan, scope: Scope, body: Body, deadline: float, renew: Renew
) -> dict[str, Any]:
    """Send `body` until a 2xx answer; the transfer's answer, or TransferFailed."""
    renewals = failures = 0
    while True:
        url, headers = request_target(plan, scope)
        status: int | None = None
        retry_after: float | None = None
        broken = ""
        try:
            status, retry_after = await _attempt(session, plan, url, headers, body, deadline)
        except aiohttp.ClientError as exc:
            broken = next((text for kind, text in BROKEN_CONNECTION if isinstance(exc, kind)), "the connection failed")
        if status is not None and 200 <= status < 300:
            return {"sizeBytes": body.size, "sha256": body.sha256, "status": status, "renewals": renewals}
        if status in plan.renew_statuses and plan.renew_step and renewals < plan.max_renewals:
            renewals += 1
            await renew(plan.renew_step)
            continue
        failures += 1
        if status is not None and status not in RETRY_STATUSES:
            raise _failure(
                grpc.StatusCode.FAILED_PRECONDITION,
                "UPLOAD_REFUSED",
                f"the storage provider refused the file (HTTP {status})"
                + (f" after {renewals} fresh URL(s)" if renewals else ""),
                status,
            )
        if failures > plan.max_retries:
            what = f"answered HTTP {status}" if status is not None else f"could not be reached: {broken}"
            raise _failure(
                grpc.StatusCode.UNAVAILABLE,
                "UPLOAD_FAILED",
                f"the storage provider {what}, {failures} time(s)",
                status,
            )
        wait = retry_after if retry_after is not None else backoff(plan, failures)
        if time.monotonic() + wait >= deadline:
            raise _failure(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "DEADLINE_EXCEEDED",
                "the deadline expired before the upload went through",
            )
        await asyncio.sleep(wait)


def new_session() -> aiohttp.ClientSession:
    """A session of its own for transfers: no default headers, no cookies, nothing of Encord's."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
