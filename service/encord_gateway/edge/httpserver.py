"""The aiohttp server under the REST edge, hardened: bounded waits for headers and bodies, and every
answer it gives by itself (a request line too long, bytes that are not HTTP) a google.rpc.Status JSON.

aiohttp answers protocol errors with plain text from inside its connection handler, before any
middleware runs; the only place to change that is the handler class, which aiohttp creates per
connection from its low-level Server. `RestRunner` builds the application's server with this module's
handler class and otherwise runs it exactly as `web.AppRunner` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import grpc
from aiohttp import http_exceptions, web, web_protocol, web_request
from google.protobuf import json_format

from ..errors import GatewayError
from .status import http_status, status_of

log = logging.getLogger(__name__)

LINGER_SECONDS = 2.0
"""After answering a request whose body was not read (refused before it), how long the rest of the
body is read and dropped so that the client can still see the answer; never longer than the body timeout."""


@dataclass(frozen=True)
class RestLimits:
    """How long the REST listener waits for a request, and how much of its body it reads."""

    header_timeout: float = 15.0
    """Seconds from a connection opening (or finishing its previous request) until the next request's
    headers are complete; an idle keep-alive connection is closed after this long too."""
    body_timeout: float = 30.0
    """Seconds to receive a whole request body, once the request is authenticated."""
    max_body_bytes: int = 1024 * 1024
    """Largest JSON body of an ordinary request."""
    max_document_bytes: int = 32 * 1024 * 1024
    """Largest JSON body of a request that carries free-form documents (label rows, ontology
    structures: google.protobuf.Struct) or file bytes."""


Rejected = Callable[[str], None]
"""Told the ErrorInfo reason of every request refused before it reached a route."""


def error_response(error: GatewayError) -> web.Response:
    """A failed call over REST: google.rpc.Status JSON, with grpc-gateway's HTTP status."""
    body = json_format.MessageToJson(status_of(error), preserving_proto_field_name=True, indent=None)
    return web.Response(text=body, status=http_status(error.code, error.reason), content_type="application/json")


def _protocol_error(exc: BaseException | None, status: int) -> GatewayError:
    """What was wrong with bytes that never became a request, without echoing them."""
    if isinstance(exc, http_exceptions.LineTooLong):
        reason, text = "REQUEST_HEADER_TOO_LARGE", "the request line or a header is longer than the server accepts"
        if _is_request_line(exc):
            reason, text = (
                "REQUEST_LINE_TOO_LONG",
                "the request line (method and URL) is longer than the server accepts",
            )
    elif isinstance(exc, http_exceptions.BadStatusLine):
        reason, text = "MALFORMED_HTTP_REQUEST", "the request line is not valid HTTP/1.1"
    elif isinstance(exc, http_exceptions.InvalidHeader):
        reason, text = "MALFORMED_HTTP_REQUEST", "a request header is not valid HTTP/1.1"
    elif isinstance(exc, http_exceptions.InvalidURLError):
        reason, text = "MALFORMED_HTTP_REQUEST", "the request target is not a valid URL"
    elif status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE or "too many headers" in str(exc).lower():
        reason, text = "REQUEST_HEADER_TOO_LARGE", "the request has more headers than the server accepts"
    else:
        reason, text = "MALFORMED_HTTP_REQUEST", "the request is not valid HTTP/1.1"
    return GatewayError(grpc.StatusCode.INVALID_ARGUMENT, text, reason=reason)


def _is_request_line(exc: http_exceptions.LineTooLong) -> bool:
    """aiohttp quotes the start of what was too long: the URL (its C parser: "/v1/..."), the whole
    request line (its Python parser: "GET /v1/..."), or a header's name or value."""
    quoted = exc.args[0] if exc.args else b""
    start = bytes(quoted) if isinstance(quoted, bytes | bytearray) else str(quoted).encode("utf-8", "replace")
    method, _, rest = start.partition(b" ")
    return start.startswith(b"/") or (method.isalpha() and method.isupper() and rest.startswith(b"/"))


class _StatusRequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering what it refuses by itself as google.rpc.Status JSON."""

    rejected: Rejected  # set by the server that creates the handler

    def handle_error(
        self,
        request: web_request.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: an answer already started cannot be replaced
            raise ConnectionError("the response had started; the connection is dropped instead")
        if status >= 500:
            log.error("unexpected failure in the REST listener", exc_info=exc)
            error = GatewayError(grpc.StatusCode.INTERNAL, "internal error", reason="INTERNAL")
        else:
            log.debug("refused a malformed HTTP request: %r", exc)  # at debug: scanners send plenty
            error = _protocol_error(exc, status)
        self.rejected(error.reason)
        response = error_response(error)
        response.force_close()
        return response


class _StatusServer(web.Server):
    """aiohttp's low-level server, creating the handler above for each connection."""

    def __init__(self, handler: Any, *, rejected: Rejected, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._rejected = rejected

    def __call__(self) -> web_protocol.RequestHandler:
        handler = _StatusRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.rejected = self._rejected
        return handler


class RestRunner(web.AppRunner):
    """web.AppRunner with the header timeout, lingering bound and Status-answering connection handler."""

    def __init__(self, app: web.Application, limits: RestLimits, rejected: Rejected) -> None:
        self._handler_options: dict[str, Any] = {
            "access_log": None,
            # aiohttp closes a connection whose next request has not fully arrived this long after the
            # connection opened or its last answer: for a connection still sending headers, the header timeout.
            "keepalive_timeout": limits.header_timeout,
            "lingering_time": min(LINGER_SECONDS, limits.body_timeout),
        }
        super().__init__(app, **self._handler_options)
        self._rejected = rejected

    async def _make_server(self) -> web.Server:
        built = await super()._make_server()  # starts and freezes the application, as AppRunner does
        return _StatusServer(
            built.request_handler,
            request_factory=built.request_factory,
            rejected=self._rejected,
            access_log_class=self._kwargs["access_log_class"],
            **self._handler_options,
        )
