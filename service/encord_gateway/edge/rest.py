"""REST/JSON transcoder on aiohttp: routes derived from the google.api.http rules, same chain as gRPC.

Each binding of a rule (the primary one and its additional_bindings) is one route. A binding's body
is the whole request less its path variables (`body: "*"`), the JSON of one request field (`body:
"<field>"`, e.g. a bare array for a repeated field), or absent; fields outside path and body come
from the query string. The answer is the response message, or its `response_body` field alone.
Requests and responses are proto3 JSON (json_format); responses use the proto field names, and
requests accept either spelling. Errors are google.rpc.Status JSON with grpc-gateway's HTTP codes.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aiohttp import web
from google.api import field_behavior_pb2
from google.protobuf import descriptor, json_format, message, message_factory

from ..errors import GatewayError, invalid_argument
from ..operations.catalog import HttpRule, OperationSpec
from ..operations.descriptors import FieldDescriptor, MessageDescriptor, option
from ..operations.engine import Outcome
from . import conventions, docs
from .chain import CallChain, Peer
from .openapi import DOCUMENT_PATH, build_openapi, is_map, operation_id
from .status import http_status
from .tls import peer_from_der

MAX_BODY_BYTES = 8 * 1024 * 1024
NDJSON = "application/x-ndjson"
CLIENT_CHUNK_BYTES = 256 * 1024
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no"}


def error_response(error: GatewayError) -> web.Response:
    body = json_format.MessageToDict(error.to_status(), preserving_proto_field_name=True)
    return web.json_response(body, status=http_status(error.code))


def _field_for(msg_descriptor: MessageDescriptor, name: str) -> FieldDescriptor | None:
    field = msg_descriptor.fields_by_name.get(name)
    if field is None:
        field = next((f for f in msg_descriptor.fields if f.json_name == name), None)
    return field


def _is_secret(field: FieldDescriptor) -> bool:
    """INPUT_ONLY fields carry key material (private keys, API keys): never echo their values."""
    return field_behavior_pb2.INPUT_ONLY in option(field.GetOptions(), field_behavior_pb2.field_behavior)


def _query_value(field: FieldDescriptor, text: str) -> Any:
    if field.type == descriptor.FieldDescriptor.TYPE_BOOL:
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise invalid_argument([(field.name, "must be true or false")])
    return text


def request_fields(
    spec: OperationSpec, rule: HttpRule, request: web.Request, body: dict[str, Any] | None
) -> dict[str, Any]:
    """Merge body, query string and path variables into one proto3-JSON object (path wins)."""
    msg_descriptor = spec.request_class.DESCRIPTOR
    fields: dict[str, Any] = dict(body or {})
    for name in set(request.query.keys()):
        field = _field_for(msg_descriptor, name)
        if field is None:
            raise invalid_argument([(name, "is not a field of " + msg_descriptor.name)])
        if field.name == rule.body:
            # grpc-gateway drops such a parameter silently; refusing it tells the caller where the value goes.
            raise invalid_argument([(field.name, "is the request body and cannot be set in the query string")])
        values = [_query_value(field, text) for text in request.query.getall(name)]
        if field.is_repeated:
            fields[field.name] = values
        elif len(values) > 1:
            raise invalid_argument([(field.name, "is given more than once")])
        else:
            fields[field.name] = values[0]
    fields.update(request.match_info)
    return fields


def _body_shape_error(field: FieldDescriptor, value: Any) -> str | None:
    """Why `value` cannot be the JSON of `field`, when its shape alone says so; ParseDict checks the rest."""
    if is_map(field):
        return None if isinstance(value, dict) else "must be a JSON object: the request body is this map field"
    if field.is_repeated:
        return None if isinstance(value, list) else "must be a JSON array: the request body is this repeated field"
    return None


async def _read_body(spec: OperationSpec, rule: HttpRule, request: web.Request) -> dict[str, Any] | None:
    """The request fields the body carries, as proto3 JSON keyed by field name; None for a body-less binding."""
    if not rule.body:
        return None
    raw = await request.read()
    if not raw:
        return {}  # an absent body leaves its fields unset, as grpc-gateway does
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid_argument([("(body)", "is not valid JSON")]) from None
    if rule.body == "*":
        if not isinstance(body, dict):
            raise invalid_argument([("(body)", "must be a JSON object")])
        return body
    field = spec.request_class.DESCRIPTOR.fields_by_name[rule.body]
    problem = _body_shape_error(field, body)
    if problem is not None:
        raise invalid_argument([(field.name, problem)])
    return {field.name: body}


def _parse(spec: OperationSpec, fields: dict[str, Any]) -> message.Message:
    try:
        return json_format.ParseDict(fields, spec.request_class())
    except json_format.ParseError:
        pass
    # Only on the error path: parse member by member so that each violation names its own field.
    violations = []
    for name, value in fields.items():
        try:
            json_format.ParseDict({name: value}, spec.request_class())
        except json_format.ParseError as exc:
            field = _field_for(spec.request_class.DESCRIPTOR, name)
            if field is None:
                reason = "is not a field of " + spec.request_class.DESCRIPTOR.name
            elif _is_secret(field):
                reason = "has the wrong type (the value is not repeated here: it is a secret)"
            else:
                reason = str(exc)
            violations.append((name, reason))
    raise invalid_argument(violations or [("(request)", "cannot be read as " + spec.request_class.DESCRIPTOR.name)])


def _peer(request: web.Request) -> Peer | None:
    """The verified client certificate of an mTLS connection, if any."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if ssl_object is None:
        return None
    return peer_from_der(ssl_object.getpeercert(binary_form=True))


def _aiohttp_path(template: str) -> str:
    """`/v1/x/{name}:verb` → aiohttp's `{name:[^/:]+}`, so a custom verb is not swallowed by the variable."""
    return re.sub(r"\{([a-z_][a-z0-9_]*)\}", r"{\1:[^/:]+}", template)


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


async def _read_request(spec: OperationSpec, rule: HttpRule, request: web.Request) -> message.Message:
    """The request message as the binding lays it out over path variables, query string and body."""
    body = await _read_body(spec, rule, request)
    return _parse(spec, request_fields(spec, rule, request, body))


def _answer(rule: HttpRule, outcome: Outcome) -> web.Response:
    """A unary answer: one JSON document, with the cache verdict of a cacheable read."""
    headers = {"x-cache": outcome.cache} if outcome.cache else {}
    return web.Response(text=_response_json(rule, outcome.response), content_type="application/json", headers=headers)


def _metadata(request: web.Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}


async def _stream_answer(
    request: web.Request, rule: HttpRule, items: AsyncIterator[message.Message]
) -> web.StreamResponse:
    """A server stream as NDJSON: one JSON message per line; a failure after the first line ends the
    stream with one more line, the google.rpc.Status JSON of the error (it has `code` and `details`).

    The first message is awaited before the headers go out, so that a call refused outright (auth,
    validation, a missing resource) still answers with its HTTP status and one Status document.
    """
    try:
        first = await anext(items)
    except StopAsyncIteration:
        first = None
    except GatewayError as error:
        return error_response(error)
    response = web.StreamResponse(status=200, headers={"Content-Type": NDJSON})
    await response.prepare(request)
    try:
        if first is not None:
            await response.write(_response_json(rule, first).encode("utf-8") + b"\n")
            async for item in items:
                await response.write(_response_json(rule, item).encode("utf-8") + b"\n")
    except GatewayError as error:
        status = json_format.MessageToDict(error.to_status(), preserving_proto_field_name=True)
        await response.write(json.dumps(status).encode("utf-8") + b"\n")
    await response.write_eof()
    return response


async def _body_chunks(
    spec: OperationSpec, first: message.Message, request: web.Request
) -> AsyncIterator[message.Message]:
    """A client stream over REST: the message from path and query, then the raw body in chunks."""
    assert spec.plan is not None and spec.plan.client_chunk_field is not None
    field = spec.plan.client_chunk_field.name
    yield first
    async for chunk in request.content.iter_chunked(CLIENT_CHUNK_BYTES):
        later = spec.request_class()
        setattr(later, field, chunk)
        yield later


def _route(spec: OperationSpec, rule: HttpRule, name: str, chain: CallChain) -> web.RouteDef:
    """One binding of one RPC: read the request it describes, run it through the chain, answer as it says."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            if spec.client_streaming:
                # The body is the raw bytes of the chunk field, read only once the caller is authenticated.
                first = _parse(spec, request_fields(spec, rule, request, None))
                stream = _body_chunks(spec, first, request)
                outcome = await chain.run_client_stream(spec, stream, _metadata(request), None, _peer(request))
                return _answer(rule, outcome)
            parsed = await _read_request(spec, rule, request)
            if spec.server_streaming:
                items = chain.run_server_stream(spec, parsed, _metadata(request), None, _peer(request))
                return await _stream_answer(request, rule, items)
            outcome = await chain.run(spec, parsed, _metadata(request), None, _peer(request))
        except GatewayError as error:
            return error_response(error)
        return _answer(rule, outcome)

    return web.route(rule.verb, _aiohttp_path(rule.template), handle, name=name)


@web.middleware
async def status_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown paths, wrong verbs and oversized bodies answer google.rpc.Status JSON like everything else."""
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
    except web.HTTPRequestEntityTooLarge:
        return error_response(invalid_argument([("(body)", f"is larger than {MAX_BODY_BYTES} bytes")]))


def build_app(specs: dict[str, OperationSpec], chain: CallChain) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[status_errors])
    app.add_routes(
        [
            _route(spec, rule, operation_id(spec, index), chain)
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
