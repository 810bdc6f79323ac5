"""The OpenAPI 3.0.3 document of the REST surface, derived from the same descriptors as the routes.

`build_openapi(specs)` walks every binding of every google.api.http rule exactly as the transcoder
(rest.py) serves it: one operation per route (additional bindings get the operationId suffix 2, 3, ...),
path variables as required path parameters, the whole request minus the path fields as the JSON body
of a `body: "*"` binding, the one field's JSON as the body of a `body: "<field>"` binding, the other
top-level fields of a binding without `body: "*"` as query parameters, the `response_body` field (or
the whole response) as the answer, and google.rpc.Status as every error. Schemas follow proto3 JSON
with the proto field names the gateway answers with (64-bit integers are strings, enums their value
names, Timestamp/Duration strings, Struct/Value free-form). Summaries and descriptions come from the
comments in the generated descriptor set, when it carries source info.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor, descriptor_pb2
from google.rpc import error_details_pb2, status_pb2

from .. import __version__
from .._generated.encord.gateway.v1 import options_pb2
from ..operations.catalog import HttpRule, OperationSpec
from ..operations.descriptors import EnumDescriptor, FieldDescriptor, MessageDescriptor, has_option, option

OPENAPI_VERSION = "3.0.3"
TITLE = "Encord Gateway"
DOCUMENT_PATH = "/openapi.json"
DOCUMENT_OPERATION_ID = "encord_gateway.OpenApiDocument"
SECURITY_SCHEME = "bearer"
SCHEMA_PREFIX = "#/components/schemas/"
STATUS_SCHEMA = "google.rpc.Status"
JSON = "application/json"
NDJSON = "application/x-ndjson"
OCTETS = "application/octet-stream"
MULTIPART = "multipart/form-data"

# The headers a caller sends or reads besides `authorization: Bearer <token>` (the security scheme).
ORGANISATION_HEADER = "x-encord-organisation"
REQUEST_ID_HEADER = "x-request-id"
REQUEST_TIMEOUT_HEADER = "Request-Timeout"
CACHE_HEADER = "x-cache"
RETRY_AFTER_HEADER = "Retry-After"
SERVERS = [{"url": "/", "description": "The gateway serving this document (its own origin)."}]

_REQUEST_HEADERS: list[Schema] = [
    {
        "name": ORGANISATION_HEADER,
        "in": "header",
        "description": "The organisation the call is for; needed only by callers with grants in several "
        "(with one it is implied).",
        "schema": {"type": "string"},
    },
    {
        "name": REQUEST_ID_HEADER,
        "in": "header",
        "description": "A unique id of this request (a UUID; AIP-155). The clients send one with every write so "
        "that a retried write can be recognised; the gateway accepts it today and will deduplicate writes by "
        "it in a later release.",
        "schema": {"type": "string", "maxLength": 128},
    },
    {
        "name": REQUEST_TIMEOUT_HEADER,
        "in": "header",
        "description": "Seconds the caller will wait (e.g. 2.5); a unary call still running then answers 504 "
        "DEADLINE_EXCEEDED. Streams are bounded by the operation's own limit. gRPC callers set a deadline.",
        "schema": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 86400},
    },
]
_CACHE_RESPONSE_HEADER: Schema = {
    "description": "`hit` or `miss`: whether this cacheable read was answered from the gateway's cache "
    "(per organisation, credential, method and request).",
    "schema": {"type": "string", "enum": ["hit", "miss"]},
}
_RETRY_AFTER_RESPONSE_HEADER: Schema = {
    "description": "Whole seconds to wait before trying again (the google.rpc.RetryInfo delay, rounded up).",
    "schema": {"type": "integer", "minimum": 0},
}

Schema = dict[str, Any]
FD = descriptor.FieldDescriptor

_INT32 = {"type": "integer", "format": "int32"}
_INT64 = {"type": "string", "format": "int64"}  # proto3 JSON writes 64-bit integers as strings
_UINT32 = {"type": "integer", "format": "int64", "minimum": 0}
_SCALARS: dict[int, Schema] = {
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "format": "byte"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT32: _INT32,
    FD.TYPE_SINT32: _INT32,
    FD.TYPE_SFIXED32: _INT32,
    FD.TYPE_UINT32: _UINT32,
    FD.TYPE_FIXED32: _UINT32,
    FD.TYPE_INT64: _INT64,
    FD.TYPE_SINT64: _INT64,
    FD.TYPE_SFIXED64: _INT64,
    FD.TYPE_UINT64: _INT64,
    FD.TYPE_FIXED64: _INT64,
}

# Well-known types have their own JSON forms; they are inlined rather than given components.
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$", "example": "3.5s"},
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated lowerCamelCase field paths."},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": {}},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string", "description": "The type URL of the packed message."}},
        "additionalProperties": {},
    },
    "google.protobuf.DoubleValue": {"type": "number", "format": "double", "nullable": True},
    "google.protobuf.FloatValue": {"type": "number", "format": "float", "nullable": True},
    "google.protobuf.Int64Value": {**_INT64, "nullable": True},
    "google.protobuf.UInt64Value": {**_INT64, "nullable": True},
    "google.protobuf.Int32Value": {**_INT32, "nullable": True},
    "google.protobuf.UInt32Value": {**_UINT32, "nullable": True},
    "google.protobuf.BoolValue": {"type": "boolean", "nullable": True},
    "google.protobuf.StringValue": {"type": "string", "nullable": True},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte", "nullable": True},
}
_ERROR_DETAILS = (
    error_details_pb2.ErrorInfo.DESCRIPTOR,
    error_details_pb2.RetryInfo.DESCRIPTOR,
    error_details_pb2.BadRequest.DESCRIPTOR,
)
# Message types whose JSON form is a single string, so a query parameter can carry them.
_QUERY_MESSAGES = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"})


# ---------------------------------------------------------------------------------------------------
# Comments from the descriptor set (optional: without source info there are no descriptions)


def _clean_comment(text: str) -> str:
    """A proto comment as Markdown: the space after `//` dropped, indented example lines as code blocks."""
    lines = [line.removeprefix(" ").rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(f"  {line}" if line.startswith("  ") else line for line in lines)


def _walk_messages(
    messages: Iterable[descriptor_pb2.DescriptorProto], scope: str, path: tuple[int, ...], field_number: int
) -> Iterable[tuple[str, tuple[int, ...]]]:
    for index, msg in enumerate(messages):
        name, msg_path = f"{scope}.{msg.name}", (*path, field_number, index)
        yield name, msg_path
        for field_index, field in enumerate(msg.field):
            yield f"{name}.{field.name}", (*msg_path, 2, field_index)
        for enum_index, enum in enumerate(msg.enum_type):
            yield f"{name}.{enum.name}", (*msg_path, 4, enum_index)
        yield from _walk_messages(msg.nested_type, name, msg_path, 3)


def comments_from(descriptor_set: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    """Leading comments keyed by full name: services, methods, messages, fields and enums."""
    found: dict[str, str] = {}
    for file in descriptor_set.file:
        by_path = {
            tuple(location.path): location.leading_comments
            for location in file.source_code_info.location
            if location.leading_comments.strip()
        }
        names: list[tuple[str, tuple[int, ...]]] = list(_walk_messages(file.message_type, file.package, (), 4))
        names += [(f"{file.package}.{enum.name}", (5, index)) for index, enum in enumerate(file.enum_type)]
        for index, service in enumerate(file.service):
            names.append((f"{file.package}.{service.name}", (6, index)))
            names += [
                (f"{file.package}.{service.name}.{method.name}", (6, index, 2, method_index))
                for method_index, method in enumerate(service.method)
            ]
        for name, path in names:
            if path in by_path:
                found[name] = _clean_comment(by_path[path])
    return found


@cache
def _packaged_comments() -> Mapping[str, str]:
    """The comments of the descriptor set that tools/genproto.py writes next to the generated code."""
    try:
        data = resources.files("encord_gateway._generated").joinpath("descriptor_set.binpb").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        return {}
    return comments_from(descriptor_pb2.FileDescriptorSet.FromString(data))


# ---------------------------------------------------------------------------------------------------
# Schemas


def _behaviors(field: FieldDescriptor) -> set[int]:
    return set(option(field.GetOptions(), field_behavior_pb2.field_behavior))


def is_map(field: FieldDescriptor) -> bool:
    """A map field: on the wire a repeated entry message, in JSON an object."""
    return bool(field.type == FD.TYPE_MESSAGE and field.message_type.GetOptions().map_entry)


def _ref(name: str) -> Schema:
    return {"$ref": SCHEMA_PREFIX + name}


def _with(schema: Schema, extras: Schema) -> Schema:
    """`extras` next to `schema`; OpenAPI 3.0 ignores siblings of $ref, so a $ref is wrapped in allOf."""
    if not extras:
        return schema
    if "$ref" in schema:
        return {"allOf": [schema], **extras}
    return {**schema, **extras}


class SchemaSet:
    """components/schemas, filled on demand: each message or enum once, under its full proto name."""

    def __init__(self, comments: Mapping[str, str]) -> None:
        self.comments = comments
        self.schemas: dict[str, Schema] = {}

    def message_ref(self, msg: MessageDescriptor) -> Schema:
        """The schema of a message-typed value: a well-known form, or a $ref to its component."""
        if msg.full_name in _WELL_KNOWN:
            return copy.deepcopy(_WELL_KNOWN[msg.full_name])
        if msg.full_name not in self.schemas:
            self.schemas[msg.full_name] = {}  # placeholder: recursive messages refer to themselves
            self.schemas[msg.full_name] = self.message(msg)
        return _ref(msg.full_name)

    def enum_ref(self, enum: EnumDescriptor) -> Schema:
        if enum.full_name not in self.schemas:
            schema: Schema = {"type": "string", "enum": [value.name for value in enum.values]}
            if enum.full_name in self.comments:
                schema["description"] = self.comments[enum.full_name]
            self.schemas[enum.full_name] = schema
        return _ref(enum.full_name)

    def message(self, msg: MessageDescriptor, omit: Iterable[str] = ()) -> Schema:
        """An object schema with the message's fields (proto names, declaration order) except `omit`."""
        omitted = set(omit)
        fields = [field for field in msg.fields if field.name not in omitted]
        schema: Schema = {"type": "object"}
        if msg.full_name in self.comments:
            schema["description"] = self.comments[msg.full_name]
        if fields:
            schema["properties"] = {field.name: self.field(field) for field in fields}
        required = [field.name for field in fields if field_behavior_pb2.REQUIRED in _behaviors(field)]
        if required:
            schema["required"] = required
        return schema

    def value(self, field: FieldDescriptor) -> Schema:
        """The schema of one value of the field (an element, for a repeated field)."""
        if field.type == FD.TYPE_MESSAGE:
            return self.message_ref(field.message_type)
        if field.type == FD.TYPE_ENUM:
            return self.enum_ref(field.enum_type)
        if field.type == FD.TYPE_GROUP or field.type not in _SCALARS:
            raise ValueError(f"{field.full_name}: unsupported field type {field.type}")
        schema = dict(_SCALARS[field.type])
        if field.type == FD.TYPE_STRING and has_option(field.GetOptions(), options_pb2.format):
            if option(field.GetOptions(), options_pb2.format) == options_pb2.FIELD_FORMAT_UUID:
                schema["format"] = "uuid"
        return schema

    def field_type(self, field: FieldDescriptor) -> Schema:
        """The field's schema without annotations: maps are objects, repeated fields arrays."""
        if is_map(field):
            return {"type": "object", "additionalProperties": self.value(field.message_type.fields_by_name["value"])}
        if field.is_repeated:
            return {"type": "array", "items": self.value(field)}
        return self.value(field)

    def annotations(self, field: FieldDescriptor) -> Schema:
        extras: Schema = {}
        if field.full_name in self.comments:
            extras["description"] = self.comments[field.full_name]
        behaviors = _behaviors(field)
        if field_behavior_pb2.INPUT_ONLY in behaviors:
            extras["writeOnly"] = True
        if field_behavior_pb2.OUTPUT_ONLY in behaviors:
            extras["readOnly"] = True
        if field.GetOptions().deprecated:
            extras["deprecated"] = True
        return extras

    def field(self, field: FieldDescriptor) -> Schema:
        return _with(self.field_type(field), self.annotations(field))


# ---------------------------------------------------------------------------------------------------
# Operations


def _queryable(field: FieldDescriptor) -> bool:
    """Scalars, enums, repeated scalars and string-form well-known types: what a query string carries."""
    if is_map(field):
        return False
    return field.type != FD.TYPE_MESSAGE or field.message_type.full_name in _QUERY_MESSAGES


def _summary(text: str) -> str | None:
    """The first sentence of the comment's first paragraph, on one line (none if it opens with code)."""
    paragraph = text.split("\n\n", 1)[0]
    if not paragraph.strip() or paragraph.startswith(" "):
        return None
    return re.split(r"(?<=\.)\s", " ".join(paragraph.split()), maxsplit=1)[0]


class _Builder:
    def __init__(self, comments: Mapping[str, str]) -> None:
        self.comments = comments
        self.schemas = SchemaSet(comments)

    def parameter(self, field: FieldDescriptor, location: str) -> Schema:
        parameter: Schema = {"name": field.name, "in": location}
        required = location == "path" or field_behavior_pb2.REQUIRED in _behaviors(field)
        if required:
            parameter["required"] = True
        annotations = self.schemas.annotations(field)
        if "description" in annotations:
            parameter["description"] = annotations.pop("description")
        if annotations.pop("deprecated", False):
            parameter["deprecated"] = True
        if field.is_repeated:
            parameter["style"] = "form"
            parameter["explode"] = True
        parameter["schema"] = self.schemas.field_type(field)
        return parameter

    def request_body(self, spec: OperationSpec, rule: HttpRule, operation_id: str) -> Schema:
        """The body of a `body: "*"` binding: the request message, less the binding's path variables."""
        msg: MessageDescriptor = spec.request_class.DESCRIPTOR
        path_fields = rule.path_fields
        if path_fields:
            # A service's scope holds only methods, so `<Service>.<Method>[n]Body` never names a message.
            name = operation_id + "Body"
            schema = self.schemas.message(msg, omit=path_fields)
            schema["description"] = f"{msg.full_name} without the path variables ({', '.join(path_fields)})."
            self.schemas.schemas[name] = schema
            reference = _ref(name)
        else:
            reference = self.schemas.message_ref(msg)
            schema = self.schemas.schemas.get(msg.full_name, {})
        return {"required": "required" in schema, "content": {JSON: {"schema": reference}}}

    def field_body(self, spec: OperationSpec, rule: HttpRule) -> Schema:
        """The body of a `body: "<field>"` binding: that one field's JSON (an array for a repeated field);
        for a client-streaming RPC, the raw bytes of its chunk field."""
        field = spec.request_class.DESCRIPTOR.fields_by_name[rule.body]
        files = spec.plan.file_stream if spec.plan is not None else None
        if files is not None:
            return {
                "description": "multipart/form-data, streamed: each part with a filename is a file (its "
                f"{files.name_field.name}, its Content-Type the file's {files.content_type_field.name if files.content_type_field else 'type'}); "
                "a JSON part without a filename gives more fields of the file after it.",
                "required": True,
                "content": {MULTIPART: {"schema": {"type": "object", "properties": {
                    "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}},
            }  # fmt: skip
        if spec.client_streaming:
            return {
                "description": f"The raw bytes of {field.name}, streamed (not base64, not JSON).",
                "required": True,
                "content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}},
            }
        return {
            "description": f"The {field.name} field of {spec.request_class.DESCRIPTOR.full_name}.",
            "required": field_behavior_pb2.REQUIRED in _behaviors(field),
            "content": {JSON: {"schema": self.schemas.field(field)}},
        }

    def response(self, spec: OperationSpec, rule: HttpRule) -> Schema:
        """The 200 answer: the response message, or its `response_body` field alone."""
        msg: MessageDescriptor = spec.response_class.DESCRIPTOR
        if spec.server_streaming:
            return {
                "description": f"A stream of {msg.name} as NDJSON, one message per line; a failure after the "
                "first line ends the stream with a google.rpc.Status line (it has `code` and `details`).",
                "content": {NDJSON: {"schema": self.schemas.message_ref(msg)}},
            }
        if not rule.response_body:
            return {
                "description": f"{msg.name} (proto field names)",
                "content": {JSON: {"schema": self.schemas.message_ref(msg)}},
            }
        field = msg.fields_by_name[rule.response_body]
        return {
            "description": f"The {field.name} field of {msg.name} (proto field names)",
            "content": {JSON: {"schema": self.schemas.field(field)}},
        }

    def operation(self, spec: OperationSpec, rule: HttpRule, operation_id: str) -> Schema:
        msg: MessageDescriptor = spec.request_class.DESCRIPTOR
        comment = self.comments.get(spec.full_name, "")
        operation: Schema = {
            "operationId": operation_id,
            "tags": [spec.service.rsplit(".", 1)[-1]],
            "summary": _summary(comment) or spec.method,
        }
        if comment:
            operation["description"] = comment
        path_fields = rule.path_fields
        parameters = [self.parameter(msg.fields_by_name[name], "path") for name in path_fields]
        files = spec.plan.file_stream if spec.plan is not None else None
        if files is not None:  # the call's fields travel in the query string, the files' in the body's parts
            parameters += [
                self.parameter(field, "query")
                for field in files.call_fields
                if field.name not in path_fields and _queryable(field)
            ]
        elif rule.body != "*":  # every field outside the path and the body travels in the query string
            parameters += [
                self.parameter(field, "query")
                for field in msg.fields
                if field.name not in path_fields and field.name != rule.body and _queryable(field)
            ]
        parameters += copy.deepcopy(_REQUEST_HEADERS)
        operation["parameters"] = parameters
        if rule.body == "*":
            operation["requestBody"] = self.request_body(spec, rule, operation_id)
        elif rule.body:
            operation["requestBody"] = self.field_body(spec, rule)
        answer = self.response(spec, rule)
        if spec.cache_ttl > 0:
            answer["headers"] = {CACHE_HEADER: copy.deepcopy(_CACHE_RESPONSE_HEADER)}
        operation["responses"] = {
            "200": answer,
            **{status: _error_response(description, retry_after=True) for status, description in _RETRYABLE.items()},
            "default": _error_response("An error: google.rpc.Status with grpc-gateway's HTTP status for its code."),
        }
        return operation


_RETRYABLE = {
    "429": "RESOURCE_EXHAUSTED: the caller is over a limit (or Encord's); wait Retry-After seconds.",
    "503": "UNAVAILABLE: the gateway or Encord cannot serve the call now; wait Retry-After seconds.",
}


def _error_response(description: str, retry_after: bool = False) -> Schema:
    response: Schema = {"description": description, "content": {JSON: {"schema": _ref(STATUS_SCHEMA)}}}
    if retry_after:
        response["headers"] = {RETRY_AFTER_HEADER: copy.deepcopy(_RETRY_AFTER_RESPONSE_HEADER)}
    return response


def operation_id(spec: OperationSpec, binding_index: int) -> str:
    """The RPC's full name for its primary binding; grpc-gateway's `<name><n>` (n from 2) for additional ones."""
    return spec.full_name if binding_index == 0 else f"{spec.full_name}{binding_index + 1}"


def _document_operation() -> Schema:
    return {
        "operationId": DOCUMENT_OPERATION_ID,
        "summary": "This OpenAPI document",
        "description": "Derived from the proto descriptors at start-up; no token needed.",
        "security": [],
        "responses": {
            "200": {"description": "OpenAPI 3.0.3 document", "content": {JSON: {"schema": {"type": "object"}}}}
        },
    }


def build_openapi(specs: Mapping[str, OperationSpec], comments: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The OpenAPI document of every REST route of `specs` (comments: default from the descriptor set)."""
    comments = _packaged_comments() if comments is None else comments
    builder = _Builder(comments)
    builder.schemas.message_ref(status_pb2.Status.DESCRIPTOR)
    status_schema = builder.schemas.schemas[STATUS_SCHEMA]
    status_schema["description"] = (
        "The error model of gRPC and of this REST API: the gRPC status `code` (a number), a `message` for "
        "people, and `details`. Every error has a google.rpc.ErrorInfo: branch on its `reason` (stable, "
        "UPPER_SNAKE); its `domain` says who refused the call (`gateway.encord-gateway.dev`: the gateway, "
        "`api.encord.com`: Encord). Bad input adds google.rpc.BadRequest (one violation per field), limits "
        "add google.rpc.RetryInfo. The HTTP status follows grpc-gateway's mapping of the code."
    )
    details = [builder.schemas.message_ref(message) for message in _ERROR_DETAILS]
    status_schema["properties"]["details"] = {
        "type": "array",
        "items": {"anyOf": [*details, copy.deepcopy(_WELL_KNOWN["google.protobuf.Any"])]},
        "description": "Typed details, each with its `@type` (type.googleapis.com/google.rpc.ErrorInfo, ...).",
    }
    paths: dict[str, dict[str, Schema]] = {DOCUMENT_PATH: {"get": _document_operation()}}
    services: set[str] = set()
    for spec in sorted(specs.values(), key=lambda s: s.full_name):
        if spec.http is None:
            continue
        for index, rule in enumerate(spec.http.bindings):
            item = paths.setdefault(rule.template, {})
            verb = rule.verb.lower()
            if verb in item:
                raise ValueError(f"{spec.full_name}: {rule.verb} {rule.template} is already bound")
            item[verb] = builder.operation(spec, rule, operation_id(spec, index))
        services.add(spec.service)
    tags = []
    for service in sorted(services, key=lambda name: name.rsplit(".", 1)[-1]):
        tag: Schema = {"name": service.rsplit(".", 1)[-1]}
        if service in comments:
            tag["description"] = comments[service]
        tags.append(tag)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": __version__,
            "description": "REST/JSON transcoding of the gateway's gRPC API. Request bodies accept proto field "
            "names or their lowerCamelCase JSON names; responses use the proto field names.",
        },
        "servers": copy.deepcopy(SERVERS),
        "tags": tags,
        "security": [{SECURITY_SCHEME: []}],
        "paths": {path: dict(sorted(paths[path].items())) for path in sorted(paths)},
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A caller token (egw_...), sent as `authorization: Bearer <token>`.",
                }
            },
            "schemas": dict(sorted(builder.schemas.schemas.items())),
        },
    }
