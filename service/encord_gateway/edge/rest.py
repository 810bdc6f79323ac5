"""REST/JSON transcoder on aiohttp: routes derived from the google.api.http rules, same chain as gRPC.

Requests and responses are proto3 JSON (json_format); responses use the proto field names, and
requests accept either spelling. Errors are google.rpc.Status JSON with grpc-gateway's HTTP codes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import grpc
from aiohttp import web
from google.api import field_behavior_pb2
from google.protobuf import descriptor, json_format, message

from ..errors import GatewayError, invalid_argument
from ..operations.catalog import OperationSpec
from ..operations.descriptors import FieldDescriptor, MessageDescriptor, option
from .chain import CallChain, Peer
from .openapi import DOCUMENT_PATH, build_openapi
from .status import http_status
from .tls import peer_from_der

MAX_BODY_BYTES = 8 * 1024 * 1024
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


def request_fields(spec: OperationSpec, request: web.Request, body: dict[str, Any] | None) -> dict[str, Any]:
    """Merge body, query string and path variables into one proto3-JSON object (path wins)."""
    msg_descriptor = spec.request_class.DESCRIPTOR
    fields: dict[str, Any] = dict(body or {})
    for name in set(request.query.keys()):
        field = _field_for(msg_descriptor, name)
        if field is None:
            raise invalid_argument([(name, "is not a field of " + msg_descriptor.name)])
        values = [_query_value(field, text) for text in request.query.getall(name)]
        if field.is_repeated:
            fields[field.name] = values
        elif len(values) > 1:
            raise invalid_argument([(field.name, "is given more than once")])
        else:
            fields[field.name] = values[0]
    fields.update(request.match_info)
    return fields


async def _read_body(spec: OperationSpec, request: web.Request) -> dict[str, Any] | None:
    if spec.http is None or spec.http.body != "*":
        return None
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid_argument([("(body)", "is not valid JSON")]) from None
    if not isinstance(body, dict):
        raise invalid_argument([("(body)", "must be a JSON object")])
    return body


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


def _route(spec: OperationSpec, chain: CallChain) -> web.RouteDef:
    assert spec.http is not None

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            parsed = _parse(spec, request_fields(spec, request, await _read_body(spec, request)))
            metadata = {key.lower(): value for key, value in request.headers.items()}
            outcome = await chain.run(spec, parsed, metadata, None, _peer(request))
        except GatewayError as error:
            return error_response(error)
        text = json_format.MessageToJson(outcome.response, preserving_proto_field_name=True, indent=None)
        headers = {"x-cache": outcome.cache} if outcome.cache else {}
        return web.Response(text=text, content_type="application/json", headers=headers)

    return web.route(spec.http.verb, _aiohttp_path(spec.http.template), handle, name=spec.full_name)


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
    app.add_routes([_route(spec, chain) for spec in specs.values() if spec.http is not None])
    document = json.dumps(build_openapi(specs), indent=None)  # built once; served without a token

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.Response(text=document, content_type="application/json")

    app.add_routes([web.get(DOCUMENT_PATH, openapi, name="openapi")])
    return app
