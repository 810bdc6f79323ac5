"""REST/JSON transcoder on aiohttp: routes derived from the google.api.http rules, same pipeline as gRPC.

Each binding of a rule (the primary one and its additional_bindings) is one route. A binding's body
is the whole request less its path variables (`body: "*"`), the JSON of one request field (`body:
"<field>"`, e.g. a bare array for a repeated field), or absent; fields outside path and body come
from the query string (edge/transcode.py). The answer is the response message, or its `response_body`
field alone. Requests and responses are proto3 JSON (json_format); responses use the proto field
names, and requests accept either spelling. Errors are google.rpc.Status JSON with grpc-gateway's
HTTP codes, whatever goes wrong: the route's, the router's and the HTTP server's own (edge/httpserver.py).

The body is read only once the caller is authenticated, within the route's size limit and the body
timeout, so an anonymous or stalled client holds no memory and no connection for long.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aiohttp import http_exceptions, web
from google.protobuf import descriptor, json_format, message, message_factory
from opentelemetry import trace

from .._generated.encord.gateway.v1 import options_pb2
from ..errors import GatewayError, invalid_argument
from ..operations.catalog import HttpRule, OperationSpec
from ..operations.descriptors import MessageDescriptor, has_option, option
from ..operations.engine import Outcome
from ..operations.wiremap import FREE_FORM
from ..pipeline import Call, CallKind, Peer, Pipeline, RequestReader
from ..telemetry.tracing import aiohttp_middlewares
from . import conventions, docs, multipart
from .httpserver import RestLimits, error_response
from .openapi import DOCUMENT_PATH, REQUEST_TIMEOUT_HEADER, build_openapi, operation_id
from .status import status_of
from .tls import peer_from_der
from .transcode import body_fields, parse_request, request_fields

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
READ_CHUNK_BYTES = 256 * 1024
# Refusals after which the connection is closed at once rather than lingered on: the client is not
# sending (a body that stopped), so there is nothing of its request left worth waiting for.
CLOSE_AFTER = frozenset({"REQUEST_BODY_TIMEOUT"})
GRPC_TIMEOUT_HEADER = "grpc-timeout"
MAX_TIMEOUT_SECONDS = 86_400.0
# grpc-timeout is gRPC's own deadline header (PROTOCOL-HTTP2.md): at most 8 digits and a unit.
_GRPC_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_GRPC_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_SECONDS = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*")


# ---- limits ----------------------------------------------------------------------------------------


def _base64_size(raw_bytes: int) -> int:
    return (raw_bytes + 2) // 3 * 4


def _large_payload_bytes(msg_descriptor: MessageDescriptor, limits: RestLimits) -> int:
    """The body a request message may need beyond the ordinary limit: free-form documents and file
    bytes anywhere in it (the declared `max_bytes` of a bytes field, base64-encoded); 0 if none."""
    needed, seen, pending = 0, set(), [msg_descriptor]
    while pending:
        current = pending.pop()
        if current.full_name in seen:
            continue
        seen.add(current.full_name)
        for field in current.fields:
            if field.type == descriptor.FieldDescriptor.TYPE_BYTES:
                options = field.GetOptions()
                declared = (
                    int(option(options, options_pb2.max_bytes)) if has_option(options, options_pb2.max_bytes) else 0
                )
                needed = max(needed, limits.max_document_bytes, _base64_size(declared))
            elif field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                if field.message_type.full_name in FREE_FORM:
                    needed = max(needed, limits.max_document_bytes)
                else:
                    pending.append(field.message_type)
    return needed


def body_limit(spec: OperationSpec, limits: RestLimits) -> int:
    """The most bytes a route reads of a request body: small by default; the declared bound of a
    client stream's bytes; more for requests that carry documents or file bytes."""
    if spec.client_streaming and spec.plan is not None and spec.plan.file_stream is not None:
        files = spec.plan.file_stream  # bounded per file as the parts are read, not as one body
        return files.max_file_bytes * files.max_files
    if spec.client_streaming and spec.plan is not None:
        return int(spec.plan.operation.client_stream.max_bytes)
    return max(limits.max_body_bytes, _large_payload_bytes(spec.request_class.DESCRIPTOR, limits))


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the request body is larger than the {limit} bytes this method accepts",
        reason="REQUEST_BODY_TOO_LARGE",
        metadata={"limit_bytes": str(limit)},
    )


def _body_timeout(seconds: float) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        f"the request body did not arrive within {seconds:g} seconds",
        reason="REQUEST_BODY_TIMEOUT",
    )


async def body_chunks(request: web.Request, limit: int, seconds: float) -> AsyncIterator[bytes]:
    """The request body in pieces, refused past `limit` bytes (declared or counted) and when it has not
    all arrived `seconds` after the first read."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    deadline = asyncio.get_running_loop().time() + seconds
    size = 0
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await request.content.read(READ_CHUNK_BYTES)
        except TimeoutError:
            raise _body_timeout(seconds) from None
        except http_exceptions.HttpProcessingError:  # a broken chunked encoding, a short Content-Length
            raise invalid_argument([("(body)", "is not a well-formed HTTP body")]) from None
        except ConnectionError:
            raise GatewayError(
                grpc.StatusCode.CANCELLED, "the client went away while sending the body", reason="CLIENT_DISCONNECTED"
            ) from None
        if not chunk:
            return
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


async def read_body(request: web.Request, limit: int, seconds: float) -> bytes:
    return b"".join([chunk async for chunk in body_chunks(request, limit, seconds)])


# ---- answers ---------------------------------------------------------------------------------------


def _response_json(rule: HttpRule, response: message.Message) -> str:
    """The REST answer: the whole response message, or the JSON of its `response_body` field alone."""
    if not rule.response_body:
        return json_format.MessageToJson(response, preserving_proto_field_name=True, indent=None)
    field = response.DESCRIPTOR.fields_by_name[rule.response_body]
    if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
        value = json_format.MessageToDict(getattr(response, field.name), preserving_proto_field_name=True)
    else:
        # MessageToDict leaves out empty lists and maps and default scalars; the bare answer still has a value.
        value = json_format.MessageToDict(response, preserving_proto_field_name=True).get(
            field.name, _default_json(response.DESCRIPTOR, field.name)
        )
    return json.dumps(value)


@functools.cache
def _default_json(msg_descriptor: MessageDescriptor, name: str) -> Any:
    """The proto3 JSON of an unset field: [] for a list, {} for a map, the zero value; null if it has presence."""
    empty = message_factory.GetMessageClass(msg_descriptor)()
    everything = json_format.MessageToDict(
        empty, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return everything.get(name)


def _answer(rule: HttpRule, outcome: Outcome, headers: dict[str, str]) -> web.Response:
    """A unary answer: one JSON document, with the call's headers (request id, cache verdict of a read)."""
    return web.Response(text=_response_json(rule, outcome.response), content_type="application/json", headers=headers)


async def _refusal(request: web.Request, error: GatewayError, headers: dict[str, str]) -> web.StreamResponse:
    """The Status answer of a refused call; for a client that stopped sending, the connection closes with it."""
    response = error_response(error)
    response.headers.update(headers)
    if error.reason in CLOSE_AFTER:
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()  # without lingering on a body that is not coming
    return response


def _status_line(error: GatewayError) -> bytes:
    status = json_format.MessageToDict(status_of(error), preserving_proto_field_name=True)
    return json.dumps(status).encode("utf-8") + b"\n"


async def _streamed(request: web.Request, rule: HttpRule, call: Call, pipeline: Pipeline) -> web.StreamResponse:
    """A server stream as NDJSON: one JSON message per line, written as the pipeline sends it; a failure
    after the first line ends the stream with one more line, the google.rpc.Status JSON of the error (it
    has `code` and `details`).

    The headers go out with the first message, so that a call refused outright (auth, validation, a
    missing resource) still answers with its HTTP status and one Status document.
    """
    response: web.StreamResponse | None = None

    async def start() -> web.StreamResponse:
        nonlocal response
        if response is None:
            response = web.StreamResponse(status=200, headers={"Content-Type": NDJSON, **call.response_metadata})
            await response.prepare(request)
        return response

    async def send(item: message.Message) -> None:
        line = _response_json(rule, item).encode("utf-8") + b"\n"
        try:
            await (await start()).write(line)
        except ConnectionError:
            raise GatewayError(
                grpc.StatusCode.CANCELLED, "the client went away during the stream", reason="CLIENT_DISCONNECTED"
            ) from None

    call.send = send
    try:
        await pipeline.run(call)
    except GatewayError as error:
        if response is None:
            return await _refusal(request, error, call.response_metadata)
        if error.reason == "CLIENT_DISCONNECTED":
            return response
        await response.write(_status_line(error))
    finished = await start()
    await finished.write_eof()
    return finished


# ---- routes ----------------------------------------------------------------------------------------


def _metadata(request: web.Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}


def time_remaining(headers: dict[str, str]) -> tuple[float | None, list[tuple[str, str]]]:
    """The caller's deadline in seconds from `grpc-timeout` (gRPC's form, e.g. `2500m`) or `Request-Timeout`
    (seconds, e.g. `2.5`); the shorter when both are given. Malformed values are returned as problems."""
    found: list[float] = []
    problems: list[tuple[str, str]] = []
    raw = headers.get(GRPC_TIMEOUT_HEADER)
    if raw is not None:
        match = _GRPC_TIMEOUT.fullmatch(raw.strip())
        if match is None or int(match.group(1)) == 0:
            problems.append((GRPC_TIMEOUT_HEADER, "must be 1 to 8 digits and a unit (H, M, S, m, u, n), e.g. 2500m"))
        else:
            found.append(min(int(match.group(1)) * _GRPC_TIMEOUT_UNITS[match.group(2)], MAX_TIMEOUT_SECONDS))
    raw = headers.get(REQUEST_TIMEOUT_HEADER.lower())
    if raw is not None:
        match = _SECONDS.fullmatch(raw)
        seconds = float(match.group(1)) if match else 0.0
        if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
            problems.append((REQUEST_TIMEOUT_HEADER, "must be a number of seconds, 0 < s <= 86400 (e.g. 2.5)"))
        else:
            found.append(seconds)
    return (min(found) if found else None), problems


def _peer(request: web.Request) -> Peer | None:
    """The verified client certificate of an mTLS connection, if any."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if ssl_object is None:
        return None
    return peer_from_der(ssl_object.getpeercert(binary_form=True))


def _aiohttp_path(template: str) -> str:
    """`/v1/x/{name}:verb` → aiohttp's `{name:[^/:]+}`, so a custom verb is not swallowed by the variable."""
    return re.sub(r"\{([a-z_][a-z0-9_]*)\}", r"{\1:[^/:]+}", template)


def _route(spec: OperationSpec, rule: HttpRule, name: str, pipeline: Pipeline, limits: RestLimits) -> web.RouteDef:
    """One binding of one RPC: run it through the pipeline, which authenticates the caller before the
    request (and so the body) is read; answer as the binding says."""
    limit = body_limit(spec, limits)
    kind = CallKind.of(spec)

    def reader(request: web.Request) -> RequestReader:
        async def read() -> message.Message:
            body = None
            if rule.body:
                body = body_fields(spec, rule, await read_body(request, limit, limits.body_timeout))
            return parse_request(spec, request_fields(spec, rule, request.query, dict(request.match_info), body))

        return read

    async def client_messages(request: web.Request) -> AsyncIterator[message.Message]:
        """A client stream over REST: the message from path and query, then the raw body in chunks."""
        assert spec.plan is not None and spec.plan.client_chunk_field is not None
        field = spec.plan.client_chunk_field.name
        yield parse_request(spec, request_fields(spec, rule, request.query, dict(request.match_info), None))
        async for chunk in body_chunks(request, limit, limits.body_timeout):
            later = spec.request_class()
            setattr(later, field, chunk)
            yield later

    async def handle(request: web.Request) -> web.StreamResponse:
        metadata = _metadata(request)
        remaining, problems = time_remaining(metadata)
        call = Call(spec, kind, metadata, remaining, edge="rest", peer=_peer(request), header_problems=problems)
        if kind == CallKind.BIDI_STREAM:  # files in a multipart body; the answers go out as NDJSON
            call.messages = multipart.file_messages(spec, rule, request, limits.body_timeout)
        elif kind.streams_requests:
            call.messages = client_messages(request)
        else:
            call.read = reader(request)
        if kind.streams_responses:
            return await _streamed(request, rule, call, pipeline)
        try:
            await pipeline.run(call)
        except GatewayError as error:
            return await _refusal(request, error, call.response_metadata)
        assert call.outcome is not None
        return _answer(rule, call.outcome, call.response_metadata)

    return web.route(rule.verb, _aiohttp_path(rule.template), handle, name=name)


@web.middleware
async def status_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown paths, wrong verbs, and anything unforeseen answer google.rpc.Status JSON like everything else."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPNotFound:
        return error_response(
            GatewayError(grpc.StatusCode.NOT_FOUND, f"no route for {request.path}", reason="NO_ROUTE")
        )
    except web.HTTPMethodNotAllowed:
        return error_response(
            GatewayError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{request.method} is not supported on {request.path}",
                reason="METHOD_NOT_ALLOWED",
            )
        )
    except web.HTTPRedirection:
        raise  # a redirect (GET / → /docs) is an answer, not an error
    except web.HTTPException as exc:
        code = grpc.StatusCode.INVALID_ARGUMENT if exc.status < 500 else grpc.StatusCode.INTERNAL
        return error_response(GatewayError(code, exc.reason, reason="MALFORMED_HTTP_REQUEST"))
    except ConnectionError:
        raise
    except Exception:
        # A bug, not bad input: logged with its traceback; the caller gets a Status, never a bare 500 page.
        log.exception("unexpected failure serving %r %r", request.method, request.raw_path[:200])
        return error_response(GatewayError(grpc.StatusCode.INTERNAL, "internal error", reason="INTERNAL"))


def build_app(
    specs: dict[str, OperationSpec],
    pipeline: Pipeline,
    limits: RestLimits | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> web.Application:
    limits = limits or RestLimits()
    # Bodies are read by the routes themselves, each within its own limit; this bound is never the one met.
    largest = max([limits.max_body_bytes, *(body_limit(spec, limits) for spec in specs.values())])
    # The tracing middleware (when on) is outermost: the call's span covers everything, errors included.
    middlewares = [*aiohttp_middlewares(tracer_provider), status_errors]
    app = web.Application(client_max_size=largest, middlewares=middlewares)
    app.add_routes(
        [
            _route(spec, rule, operation_id(spec, index), pipeline, limits)
            for spec in specs.values()
            if spec.http is not None
            for index, rule in enumerate(spec.http.bindings)
        ]
    )
    document = json.dumps(build_openapi(specs), indent=None)  # built once; served without a token

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.Response(text=document, content_type="application/json")

    app.add_routes([web.get(DOCUMENT_PATH, openapi, name="openapi")])
    docs.install(app)  # /docs: Swagger UI over the document
    conventions.install(app, specs)  # Retry-After, 405 + Allow, Request-Timeout, CORS, GET /, Server
    return app
