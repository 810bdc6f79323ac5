"""The pooled aiohttp client that signs and sends wire calls to Encord (or the sandbox)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import grpc
from yarl import URL

from .. import __version__
from ..errors import GatewayError
from ..telemetry.metrics import Metrics
from . import errors, signing
from .calls import WireCall
from .credentials import KIND_SSH_KEY, Credential

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503})
MAX_ATTEMPTS = 3
BASE_BACKOFF = 0.05  # seconds; doubled per attempt, with full jitter


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP-date (negative → 0)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class UpstreamClient:
    """One pooled HTTP session per upstream domain, speaking both API generations (§2, §3)."""

    def __init__(self, domain: str, metrics: Metrics, *, max_connections: int = 100) -> None:
        self.domain = domain.rstrip("/")
        self._metrics = metrics
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self.user_agent = f"encord-gateway/{__version__} aiohttp/{aiohttp.__version__}"

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
        # auto_decompress keeps gzip transparent; no cookie jar: Encord is stateless per request.
        self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        # aiohttp silently resends an idempotent request once when a pooled connection drops; that
        # would bypass our attempt limit, deadline and metrics (and double the calls Encord sees).
        # Our own retry handles connection errors for reads, so switch the hidden one off.
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, call: WireCall, credential: Credential) -> dict[str, str]:
        headers = {
            "User-Agent": self.user_agent,
            "X-Cloud-Trace-Context": f"{uuid.uuid4().hex}/1;o=1",
        }
        body = call.body or b""
        if credential.api_key is not None:
            # Legacy resource API key (§2.2): the raw key, ResourceID only, no ResourceType.
            headers.update(
                {
                    "Accept": "application/json",
                    "Accept-Encoding": "gzip",
                    "Content-Type": "application/json",
                    "ResourceID": call.resource_id,
                    "Authorization": credential.api_key.authorization_header(),
                }
            )
            return headers
        signer = credential.signer
        assert signer is not None
        if call.api == "v1":
            headers.update(
                {
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "Accept-Encoding": "gzip",
                    "ResourceType": call.resource_type,
                    "ResourceID": call.resource_id,
                    "Authorization": signing.v1_authorization(signer, body),
                }
            )
        else:
            if call.body is not None:
                headers["Content-Type"] = "application/json"
            headers.update(signing.v2_signature_headers(signer, call.http_method, call.target, body, int(time.time())))
        return headers

    async def send(self, call: WireCall, credential: Credential | signing.Signer, deadline: float) -> Any:
        """Send `call` with `credential` (or a bare signer); return Encord's result or raise GatewayError.

        `deadline` is an absolute `time.monotonic()` value: the caller's deadline bounds every
        attempt and every backoff sleep.
        """
        if self._session is None:
            raise RuntimeError("UpstreamClient.start() was not awaited")
        if isinstance(credential, signing.Signer):
            credential = Credential(KIND_SSH_KEY, credential.public_key_hex, signer=credential)
        url = URL(self.domain + call.target, encoded=True)  # encoded: the signature covers these bytes
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                result = await self._attempt(call, credential, url, deadline)
            except GatewayError as error:
                self._observe(call, error.reason, started)
                delay = self._retry_delay(call, error, attempt, deadline)
                if delay is None:
                    raise
                log.info("retrying %s in %.2fs after %s", call.label, delay, error.reason)
                await asyncio.sleep(delay)
                continue
            self._observe(call, "ok", started)
            return result

    def _observe(self, call: WireCall, outcome: str, started: float) -> None:
        labels = (call.api, call.query_type, call.query_method)
        self._metrics.upstream_requests.labels(*labels, outcome).inc()
        self._metrics.upstream_seconds.labels(*labels).observe(time.perf_counter() - started)

    @staticmethod
    def _retry_delay(call: WireCall, error: GatewayError, attempt: int, deadline: float) -> float | None:
        """Seconds to wait before retrying, or None. Only reads are retried, only on transient errors."""
        transient = error.metadata.get("http_status", "").isdigit() and int(error.metadata["http_status"]) in (
            RETRY_STATUSES
        )
        transient = transient or error.reason == "UPSTREAM_UNREACHABLE"
        if not call.retryable or not transient or attempt >= MAX_ATTEMPTS:
            return None
        delay = error.retry_after if error.retry_after is not None else random.uniform(0, BASE_BACKOFF * 2**attempt)
        if time.monotonic() + delay >= deadline:
            return None
        return delay

    async def _attempt(self, call: WireCall, credential: Credential, url: URL, deadline: float) -> Any:
        assert self._session is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise errors.upstream_error(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "DEADLINE_EXCEEDED",
                "deadline expired before calling Encord",
                label=call.label,
            )
        try:
            async with self._session.request(
                call.http_method,
                url,
                data=call.body,
                headers=self._headers(call, credential),
                # A body-less POST (E-04's sync) goes as the SDK sends it: Content-Length 0 and no Content-Type,
                # where aiohttp would add `application/octet-stream`.
                skip_auto_headers=("Content-Type",) if call.body is None else (),
                timeout=aiohttp.ClientTimeout(total=remaining),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        except TimeoutError:
            raise errors.upstream_error(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "UPSTREAM_TIMEOUT",
                "Encord did not answer within the deadline",
                label=call.label,
            ) from None
        except aiohttp.ClientError as exc:
            raise errors.upstream_error(
                grpc.StatusCode.UNAVAILABLE,
                "UPSTREAM_UNREACHABLE",
                f"cannot reach Encord: {type(exc).__name__}",
                label=call.label,
            ) from None
        return self._interpret(call, status, raw, retry_after)

    @staticmethod
    def _interpret(call: WireCall, status: int, raw: bytes, retry_after: float | None) -> Any:
        if status == 429:
            raise errors.from_http_status(429, None, label=call.label, retry_after=retry_after)
        if call.api == "v2" and status == 204:
            return None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            if status >= 400:
                raise errors.from_http_status(status, None, label=call.label, retry_after=retry_after) from None
            raise errors.malformed("the body is not JSON", label=call.label, http_status=status) from None
        if call.api == "v2":
            if status >= 300:
                message = None
                if isinstance(body, dict):
                    found = body.get("message") or body.get("detail")
                    message = found if isinstance(found, str) else None
                raise errors.from_http_status(status, message, label=call.label, retry_after=retry_after)
            return body
        # v1: the envelope decides (§2.5), except that a server error (5xx) stays
        # transient whatever it carries, so reads are retried as the SDK retries them (§4.2).
        if status >= 500:
            code = _v1_code(body)
            raise errors.from_http_status(status, code, label=call.label, retry_after=retry_after)
        if not isinstance(body, dict) or "status" not in body:
            if status >= 300:
                raise errors.from_http_status(status, None, label=call.label, retry_after=retry_after)
            raise errors.malformed("no v1 envelope", label=call.label, http_status=status)
        if body["status"] != 200:
            code = _v1_code(body)
            if code is None:
                raise errors.malformed("error envelope without a code", label=call.label, http_status=status)
            raise errors.from_v1_code(code, body.get("payload"), label=call.label)
        result = body.get("response")
        if call.retryable and (result is None or result == {}):
            # The SDK reads an empty single-object answer as "not found" (§2.5 point 5).
            raise errors.from_v1_code("RESOURCE_NOT_FOUND_ERROR", None, label=call.label)
        return result


def _v1_code(body: Any) -> str | None:
    """The error code of a v1 envelope (`response: ["<CODE>"]`), if the body is one."""
    response = body.get("response") if isinstance(body, dict) else None
    if isinstance(response, list) and response and isinstance(response[0], str):
        return response[0]
    return None
