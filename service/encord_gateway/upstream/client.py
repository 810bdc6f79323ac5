"""The pooled aiohttp client that signs and sends wire calls to Encord (or the sandbox).

Every attempt passes the host's circuit breaker and takes a slot in its organisation's lane
(upstream/isolation.py); a failed read is repeated as upstream/retry.py decides; each call is a span
when tracing is on (one child span per HTTP attempt, from the aiohttp instrumentation).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import grpc
from opentelemetry import trace
from yarl import URL

from .. import __version__, jsontext
from ..errors import GatewayError
from ..telemetry import context as call_context
from ..telemetry.metrics import Metrics
from ..telemetry.tracing import aiohttp_trace_configs, tracer_of
from . import errors, signing
from .calls import WireCall
from .credentials import KIND_SSH_KEY, Credential
from .isolation import BreakerSettings, CircuitBreaker, CircuitState, OrganisationLanes, Verdict, verdict_of
from .retry import DEFAULT_RETRY_POLICY, RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_ORGANISATION_CONCURRENCY = 25
"""Upstream requests one organisation may have in flight: a quarter of the default pool, so that one
team's flood leaves three quarters of the connections to everyone else."""
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""Most bytes read of one answer (after decompression); more is refused, not buffered."""
MAX_ERROR_BODY_BYTES = 64 * 1024
"""Most bytes read of an error answer (HTTP 4xx/5xx): only its code and a short message are used."""
READ_CHUNK_BYTES = 64 * 1024
ENVELOPE_DEPTH = 1
"""The v1 envelope's own level of nesting, allowed on top of the depth any answer may have."""

# What a broken connection looked like, in words for the caller (never a Python class name).
BROKEN_CONNECTION: tuple[tuple[type[Exception], str], ...] = (
    (aiohttp.ClientConnectorError, "the connection could not be opened"),
    (aiohttp.ServerDisconnectedError, "Encord closed the connection without an answer"),
    (aiohttp.ClientPayloadError, "the answer broke off before its end"),
    (aiohttp.ClientOSError, "the connection broke"),
    (aiohttp.ClientResponseError, "the answer was not valid HTTP"),
)


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

    def __init__(
        self,
        domain: str,
        metrics: Metrics,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        organisation_concurrency: int = DEFAULT_ORGANISATION_CONCURRENCY,
        breaker: BreakerSettings | None = None,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.domain = domain.rstrip("/")
        self._metrics = metrics
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._retry = retry
        self._breaker_settings = breaker or BreakerSettings()
        self._breakers: dict[str, CircuitBreaker] = {}
        self.lanes = OrganisationLanes(
            min(organisation_concurrency, max_connections), on_wait=metrics.upstream_lane_waits.inc
        )
        self._tracer_provider = tracer_provider
        self._tracer = tracer_of(tracer_provider)
        self._session: aiohttp.ClientSession | None = None
        self.user_agent = f"encord-gateway/{__version__} aiohttp/{aiohttp.__version__}"

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
        # auto_decompress keeps gzip transparent; no cookie jar: Encord is stateless per request.
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trace_configs=aiohttp_trace_configs(self._tracer_provider),  # a span per attempt, when tracing
        )
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

    def breaker(self, host: str) -> CircuitBreaker:
        """The circuit of one upstream host (created closed on first use)."""
        found = self._breakers.get(host)
        if found is None:
            found = self._breakers[host] = CircuitBreaker(host, self._breaker_settings, self._circuit_changed)
            self._metrics.upstream_circuit_state.labels(host).set(CircuitState.CLOSED)
        return found

    def _circuit_changed(self, host: str, state: CircuitState) -> None:
        self._metrics.upstream_circuit_state.labels(host).set(state)
        log.warning("upstream circuit of %s is now %s", host, state.name.lower())

    async def send(self, call: WireCall, credential: Credential | signing.Signer, deadline: float) -> Any:
        """Send `call` with `credential` (or a bare signer); return Encord's result or raise GatewayError.

        `deadline` is an absolute `time.monotonic()` value: the caller's deadline bounds every
        attempt, every wait for the organisation's lane and every backoff sleep.
        """
        if self._session is None:
            raise RuntimeError("UpstreamClient.start() was not awaited")
        if isinstance(credential, signing.Signer):
            credential = Credential(KIND_SSH_KEY, credential.public_key_hex, signer=credential)
        url = URL(self.domain + call.target, encoded=True)  # encoded: the signature covers these bytes
        if self._tracer is None:
            return await self._attempts(call, credential, url, deadline, None)
        with self._tracer.start_as_current_span(
            f"encord {call.label}",
            kind=trace.SpanKind.INTERNAL,
            attributes={
                "encord.api": call.api,
                "encord.query_type": call.query_type,
                "encord.query_method": call.query_method,
            },
        ) as span:
            return await self._attempts(call, credential, url, deadline, span)

    async def _attempts(
        self, call: WireCall, credential: Credential, url: URL, deadline: float, span: trace.Span | None
    ) -> Any:
        breaker = self.breaker(url.host or "")
        record = call_context.current()
        attempt = 0
        while True:
            attempt += 1
            if span is not None:
                span.set_attribute("encord.attempts", attempt)
            breaker.admit()  # an open circuit fails here, before the organisation's lane or the network
            if record is not None:
                record.upstream_attempts += 1
            started = time.perf_counter()
            try:
                await self.lanes.acquire(credential.organisation, deadline)
            except BaseException:
                breaker.record(Verdict.UNKNOWN)  # it never reached the host
                raise
            budget = deadline - time.monotonic()
            try:
                result = await self._attempt(call, credential, url, deadline)
            except GatewayError as error:
                failure = error
            except BaseException:
                breaker.record(Verdict.UNKNOWN)  # the caller went away: nothing learned about the host
                raise
            else:
                breaker.record(Verdict.HEALTHY)
                self._observe(call, "ok", started)
                return result
            finally:
                self.lanes.release(credential.organisation)  # before any backoff: a sleeping retry holds no slot
            breaker.record(verdict_of(failure, budget, self._breaker_settings))
            self._observe(call, failure.reason, started)
            delay = self._retry.delay(call.retryable, failure, attempt, deadline)
            if delay is None:
                raise failure
            log.info("retrying %s in %.2fs after %s", call.label, delay, failure.reason)
            await asyncio.sleep(delay)

    def _observe(self, call: WireCall, outcome: str, started: float) -> None:
        labels = (call.api, call.query_type, call.query_method)
        self._metrics.upstream_requests.labels(*labels, outcome).inc()
        self._metrics.upstream_seconds.labels(*labels).observe(time.perf_counter() - started)

    async def _attempt(self, call: WireCall, credential: Credential, url: URL, deadline: float) -> Any:
        assert self._session is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise errors.gateway_observed(
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
                # A body-less PUT/POST/DELETE (a tag attach, a job cancel) carries no Content-Type (§3.3);
                # aiohttp would otherwise make one up.
                skip_auto_headers=() if call.body is not None else ("Content-Type",),
                timeout=aiohttp.ClientTimeout(total=remaining),
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                limit = self._max_response_bytes if status < 400 else MAX_ERROR_BODY_BYTES
                raw = await _read_capped(response, limit)
        except TimeoutError:
            raise errors.gateway_observed(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "UPSTREAM_TIMEOUT",
                "Encord did not answer within the deadline",
                label=call.label,
            ) from None
        except aiohttp.ClientError as exc:
            what = next((text for kind, text in BROKEN_CONNECTION if isinstance(exc, kind)), "the connection failed")
            raise errors.gateway_observed(
                grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNREACHABLE", f"cannot reach Encord: {what}", label=call.label
            ) from None
        if raw is None:
            if status < 400:
                raise errors.too_large(self._max_response_bytes, label=call.label, http_status=status)
            raw = b""  # an error page too long to be worth reading: its status still says what happened
        return self._interpret(call, status, raw, retry_after)

    @staticmethod
    def _interpret(call: WireCall, status: int, raw: bytes, retry_after: float | None) -> Any:
        if status == 429:
            raise errors.from_http_status(429, None, label=call.label, retry_after=retry_after)
        if call.api == "v2" and status == 204:
            return None
        try:
            body = jsontext.load(raw, max_depth=jsontext.MAX_DEPTH + ENVELOPE_DEPTH) if raw else None
        except jsontext.JsonRefused as refused:
            if status >= 400:
                raise errors.from_http_status(status, None, label=call.label, retry_after=retry_after) from None
            raise errors.malformed(f"the body {refused.problem}", label=call.label, http_status=status) from None
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


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` bytes (declared or as it streams in):
    what is past the limit is never read, and the connection is dropped rather than pooled."""
    declared = response.content_length
    if declared is not None and declared > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
