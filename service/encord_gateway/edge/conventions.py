"""HTTP conventions of the REST edge: Retry-After, 405 with Allow, Request-Timeout, CORS, `GET /`, no versioned Server.

Installed on the transcoder's app by `install(app, specs)`; every rule here is HTTP's, none is an RPC's:

- 429 and 503 answers carry `Retry-After` (whole seconds: the google.rpc.RetryInfo delay rounded up, else 1);
- a path served for other methods answers 405 with `Allow` (and the usual google.rpc.Status body);
- (`Request-Timeout` and `grpc-timeout` are the call's deadline, passed into the pipeline by edge/rest.py);
- CORS for the origins named in ENCORD_GATEWAY_CORS_ORIGINS (comma-separated; none by default);
- `GET /` redirects to the docs page; `Server` names the product without versions.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Awaitable, Callable

import grpc
from aiohttp import hdrs, web

from ..errors import GatewayError
from ..operations.catalog import OperationSpec
from .status import http_status

CORS_ORIGINS_ENV = "ENCORD_GATEWAY_CORS_ORIGINS"
SERVER_NAME = "encord-gateway"
DEFAULT_RETRY_AFTER_SECONDS = 1
DOCS_PATH = "/docs"
CORS_MAX_AGE_SECONDS = 600
# What a browser may send and read across origins: the API's own headers.
CORS_ALLOW_HEADERS = (
    "authorization, content-type, x-encord-organisation, x-request-id, request-timeout, grpc-timeout, traceparent"
)
CORS_EXPOSE_HEADERS = "x-cache, x-request-id, x-idempotent-replay, retry-after"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _status_json(error: GatewayError, headers: dict[str, str] | None = None) -> web.Response:
    from google.protobuf import json_format

    body = json_format.MessageToDict(error.to_status(), preserving_proto_field_name=True)
    return web.json_response(body, status=http_status(error.code, error.reason), headers=headers)


def cors_origins(environ: dict[str, str] | None = None) -> frozenset[str]:
    """The origins named in ENCORD_GATEWAY_CORS_ORIGINS (exact `scheme://host[:port]`, comma-separated)."""
    raw = (os.environ if environ is None else environ).get(CORS_ORIGINS_ENV, "")
    origins = frozenset(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    if "*" in origins:
        raise SystemExit(f"{CORS_ORIGINS_ENV} names origins one by one; '*' would let any web page call with a token")
    return origins


def _retry_after(response: web.StreamResponse) -> str:
    """Whole seconds from the answer's google.rpc.RetryInfo, rounded up; else the default."""
    body = getattr(response, "body", None)
    if isinstance(body, bytes | bytearray) and response.content_type == "application/json":
        try:
            details = json.loads(body).get("details", [])
        except (ValueError, AttributeError):
            details = []
        for detail in details if isinstance(details, list) else []:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
                try:
                    seconds = float(str(detail.get("retry_delay", "")).rstrip("s"))
                except ValueError:
                    break
                return str(max(1, math.ceil(seconds)))
    return str(DEFAULT_RETRY_AFTER_SECONDS)


def install(app: web.Application, specs: dict[str, OperationSpec], environ: dict[str, str] | None = None) -> None:
    """Add the conventions to the transcoder's app (its routes must already be added)."""
    origins = cors_origins(environ)

    @web.middleware
    async def conventions(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN, "").rstrip("/")
        if (
            request.method == hdrs.METH_OPTIONS
            and origin in origins
            and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
        ):
            return _preflight(request)
        try:
            return await handler(request)
        except web.HTTPMethodNotAllowed as refused:
            allowed = ", ".join(sorted(refused.allowed_methods))
            error = GatewayError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{request.method} is not supported on {request.path}; it answers {allowed}",
                reason="METHOD_NOT_ALLOWED",
            )
            response = _status_json(error, headers={hdrs.ALLOW: allowed})
            response.set_status(405)  # HTTP's own answer; the body keeps grpc-gateway's Status for the method
            return response

    def _preflight(request: web.Request) -> web.Response:
        response = web.Response(status=204)
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "GET, POST, PUT, PATCH, DELETE"
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = CORS_ALLOW_HEADERS
        response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = str(CORS_MAX_AGE_SECONDS)
        return response

    async def finish_headers(request: web.Request, response: web.StreamResponse) -> None:
        """Every answer of this app, errors from outer middlewares included, right before its headers go out."""
        response.headers[hdrs.SERVER] = SERVER_NAME  # aiohttp's default would name Python's and its own versions
        if response.status in (429, 503) and hdrs.RETRY_AFTER not in response.headers:
            response.headers[hdrs.RETRY_AFTER] = _retry_after(response)
        origin = request.headers.get(hdrs.ORIGIN, "").rstrip("/")
        if origin in origins:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = CORS_EXPOSE_HEADERS
            response.headers.add(hdrs.VARY, "Origin")

    async def root(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(DOCS_PATH)

    app.middlewares.append(conventions)
    app.on_response_prepare.append(finish_headers)
    app.add_routes([web.get("/", root, name="root")])
