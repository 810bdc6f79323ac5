"""Mechanical mapping between gateway messages and Encord's wire JSON, driven by proto options.

v1 payload keys are the fields' names (snake_case, as Encord's envelope API), v2 keys their
lowerCamel json_name; `(wire_name)` overrides either. Responses parse from any of those spellings.
"""

from __future__ import annotations

import email.utils
import json
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from google.protobuf import descriptor, json_format, message, timestamp_pb2

from .._generated.encord.gateway.v1 import options_pb2
from ..upstream.calls import WireCall
from .descriptors import EnumDescriptor, FieldDescriptor, MessageDescriptor, has_option, option
from .resources import v1_resource_header

FD = descriptor.FieldDescriptor  # for its TYPE_* constants
_MISSING: Any = object()

V1_USER_PATH = "/public/user"
V1_RESOURCE_PATH = "/public"
V2_PREFIX = "/v2/public/"


class MalformedUpstreamResult(ValueError):
    """Encord answered with JSON that does not fit the response message."""


def wire_key(field: FieldDescriptor, camel: bool) -> str:
    options = field.GetOptions()
    if has_option(options, options_pb2.wire_name):
        return str(option(options, options_pb2.wire_name))
    return field.json_name if camel else field.name


@dataclass(frozen=True)
class Entry:
    """One key of a payload, body or query: a request field, a constant, or a field with a default."""

    key: str
    field: FieldDescriptor | None
    default: Any


def parse_entries(entries: list[str], request: MessageDescriptor, camel: bool) -> tuple[Entry, ...]:
    parsed = []
    for raw in entries:
        name, sep, literal = raw.partition("=")
        default = json.loads(literal) if sep else _MISSING
        field = request.fields_by_name.get(name) or _field_by_wire_key(request, name, camel)
        if field is None and default is _MISSING:
            raise ValueError(f"{request.full_name}: entry {raw!r} is neither a field nor a constant")
        parsed.append(Entry(wire_key(field, camel) if field else name, field, default))
    return tuple(parsed)


def _field_by_wire_key(request: MessageDescriptor, key: str, camel: bool) -> FieldDescriptor | None:
    return next((f for f in request.fields if wire_key(f, camel) == key), None)


def is_set(msg: message.Message, field: FieldDescriptor) -> bool:
    if field.is_repeated:
        return len(getattr(msg, field.name)) > 0
    if field.has_presence:
        return msg.HasField(field.name)
    return bool(getattr(msg, field.name) != field.default_value)


# ---- request → wire ------------------------------------------------------------------------


def format_timestamp(value: timestamp_pb2.Timestamp) -> str:
    """ISO 8601 with an explicit +00:00 offset, the form the SDK sends for filters."""
    return value.ToDatetime(tzinfo=UTC).isoformat()


@cache
def _enum_wire_values(enum: EnumDescriptor) -> dict[int, Any]:
    as_int = bool(option(enum.GetOptions(), options_pb2.wire_integer))
    values: dict[int, Any] = {}
    for value in enum.values:
        options = value.GetOptions()
        if has_option(options, options_pb2.wire_value):
            raw = str(option(options, options_pb2.wire_value))
            values[value.number] = int(raw) if as_int else raw
    return values


def _encode_single(field: FieldDescriptor, value: Any, camel: bool) -> Any:
    if field.type == FD.TYPE_ENUM:
        return _enum_wire_values(field.enum_type).get(value)
    if field.type != FD.TYPE_MESSAGE:
        return value
    full_name = field.message_type.full_name
    if full_name == "google.protobuf.Timestamp":
        return format_timestamp(value)
    if full_name in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"):
        # Free-form members travel untouched: inner keys keep their spelling, nulls are kept.
        return json_format.MessageToDict(value)
    return encode_message(value, camel)


def encode_field(msg: message.Message, field: FieldDescriptor, camel: bool) -> Any:
    value = getattr(msg, field.name)
    if field.is_repeated:
        return [_encode_single(field, item, camel) for item in value]
    return _encode_single(field, value, camel)


def encode_message(msg: message.Message, camel: bool) -> dict[str, Any]:
    """A nested message: every field, defaults included (Encord reads them as plain settings)."""
    return {wire_key(f, camel): encode_field(msg, f, camel) for f in msg.DESCRIPTOR.fields}


def build_object(msg: message.Message, entries: tuple[Entry, ...], camel: bool, keep_nulls: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for entry in entries:
        if entry.field is not None and is_set(msg, entry.field):
            result[entry.key] = encode_field(msg, entry.field, camel)
        elif entry.default is not _MISSING:
            result[entry.key] = entry.default
        elif keep_nulls:
            result[entry.key] = None
    return result


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # the SDK's Python spelling (§3.2)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def build_query(msg: message.Message, entries: tuple[Entry, ...]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in build_object(msg, entries, camel=True, keep_nulls=False).items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((key, _query_text(item)))
    return urllib.parse.urlencode(pairs)


def _path_value(msg: message.Message, name: str) -> str:
    return urllib.parse.quote(str(getattr(msg, name)), safe="")


# ---- wire → response ---------------------------------------------------------------------


def parse_timestamp(text: str) -> str | None:
    """Any of Encord's datetime spellings (§2.6, §3.2) as RFC 3339 UTC; None if unreadable."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


@cache
def _aliases(msg_descriptor: MessageDescriptor) -> dict[str, FieldDescriptor]:
    table: dict[str, FieldDescriptor] = {}
    for field in msg_descriptor.fields:
        for key in (field.name, field.json_name, wire_key(field, camel=False)):
            table.setdefault(key, field)
    return table


@cache
def _enum_names_by_wire(enum: EnumDescriptor) -> dict[Any, str]:
    by_wire = {wire: enum.values_by_number[number].name for number, wire in _enum_wire_values(enum).items()}
    by_wire.update({value.name: value.name for value in enum.values})
    return by_wire


def _normalise_single(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FD.TYPE_ENUM:
        return _enum_names_by_wire(field.enum_type).get(value, _MISSING)
    if field.type != FD.TYPE_MESSAGE:
        return value
    full_name = field.message_type.full_name
    if full_name == "google.protobuf.Timestamp":
        return parse_timestamp(value) if isinstance(value, str) else _MISSING
    if full_name == "google.protobuf.Struct":
        if isinstance(value, str):  # Encord tolerates JSON text for some objects (§7.4)
            try:
                value = json.loads(value)
            except ValueError:
                return _MISSING
        return value if isinstance(value, dict) else _MISSING
    if not isinstance(value, dict):
        return _MISSING
    return normalise(field.message_type, value)


def normalise(msg_descriptor: MessageDescriptor, data: dict[str, Any]) -> dict[str, Any]:
    """Re-key Encord's JSON by proto field names, dropping nulls and values the message cannot hold."""
    aliases = _aliases(msg_descriptor)
    result: dict[str, Any] = {}
    for key, value in data.items():
        field = aliases.get(key)
        if field is None or value is None or field.name in result:
            continue
        if field.is_repeated:
            if not isinstance(value, list):
                continue
            items = [_normalise_single(field, item) for item in value if item is not None]
            result[field.name] = [item for item in items if item is not _MISSING]
        else:
            single = _normalise_single(field, value)
            if single is not _MISSING:
                result[field.name] = single
    return result


def decode(response_class: type[message.Message], data: dict[str, Any]) -> message.Message:
    try:
        return json_format.ParseDict(
            normalise(response_class.DESCRIPTOR, data), response_class(), ignore_unknown_fields=True
        )
    except json_format.ParseError as exc:
        raise MalformedUpstreamResult(str(exc)) from None


# ---- the plan for one RPC ---------------------------------------------------------------------


@dataclass(frozen=True)
class CallPlan:
    """The parsed, checked upstream mapping of one RPC; turns requests into wire calls and back."""

    operation: options_pb2.Operation
    query_type: str
    query_method: str
    entries: tuple[Entry, ...]  # v1 payload or v2 body
    query: tuple[Entry, ...]
    path_fields: tuple[str, ...]
    result_field: FieldDescriptor | None

    @classmethod
    def build(
        cls, operation: options_pb2.Operation, request: MessageDescriptor, response: MessageDescriptor
    ) -> CallPlan:
        kind = operation.WhichOneof("call")
        result_field = None
        if operation.result_field:
            result_field = response.fields_by_name.get(operation.result_field)
            if result_field is None:
                raise ValueError(f"{response.full_name} has no result field {operation.result_field}")
        for name in operation.echo_fields:
            if name not in request.fields_by_name or name not in response.fields_by_name:
                raise ValueError(f"echo field {name} must exist in {request.full_name} and {response.full_name}")
        if operation.resource_field and operation.resource_field not in request.fields_by_name:
            raise ValueError(f"{request.full_name} has no resource field {operation.resource_field}")
        for reference in operation.references:
            if reference.field not in request.fields_by_name:
                raise ValueError(f"{request.full_name} has no referenced field {reference.field}")
        if kind == "v1":
            v1 = operation.v1
            if operation.resource_field and not v1_resource_header(operation.resource_type):
                raise ValueError(f"{request.full_name}: a v1 resource call needs a project, dataset or ontology type")
            entries = parse_entries(list(v1.payload_fields), request, v1.camel_case)
            return cls(operation, v1.query_type, v1.query_method, entries, (), (), result_field)
        if kind == "v2":
            v2 = operation.v2
            path_fields = tuple(_path_placeholders(v2.path))
            for name in path_fields:
                if name not in request.fields_by_name:
                    raise ValueError(f"{request.full_name} has no path field {name}")
            body = parse_entries(list(v2.body_fields), request, camel=True)
            query = parse_entries(list(v2.query_fields), request, camel=True)
            return cls(operation, v2.path, v2.method, body, query, path_fields, result_field)
        raise ValueError(f"operation for {request.full_name} declares neither v1 nor v2")

    def wire_call(self, request: message.Message) -> WireCall:
        op = self.operation
        resource_id = str(getattr(request, op.resource_field)) if op.resource_field else ""
        retryable = op.access == options_pb2.ACCESS_READ
        if op.WhichOneof("call") == "v1":
            v1 = op.v1
            # A call naming one resource goes to /public with ResourceID/ResourceType; collection
            # calls (create, legacy list) go to /public/user.
            resource_type = v1_resource_header(op.resource_type) if op.resource_field and not v1.user_endpoint else ""
            uid = (
                encode_field(request, request.DESCRIPTOR.fields_by_name[v1.uid_field], False) if v1.uid_field else None
            )
            payload = build_object(request, self.entries, v1.camel_case, v1.keep_nulls) if self.entries else None
            envelope = {
                "query_type": v1.query_type,
                "query_method": v1.query_method,
                "values": {"uid": uid, "payload": payload},
            }
            return WireCall(
                api="v1",
                http_method="POST",
                path=V1_RESOURCE_PATH if resource_type else V1_USER_PATH,
                query="",
                body=json.dumps(envelope).encode("ascii"),
                resource_type=resource_type,
                resource_id=resource_id if resource_type else "",
                query_type=self.query_type,
                query_method=self.query_method,
                retryable=retryable,
            )
        v2 = op.v2
        path = v2.path
        for name in self.path_fields:
            path = path.replace(f"{{{name}}}", _path_value(request, name))
        body = None
        if self.entries:
            body = json.dumps(build_object(request, self.entries, camel=True, keep_nulls=False)).encode("ascii")
        return WireCall(
            api="v2",
            http_method=v2.method,
            path=V2_PREFIX + path.lstrip("/"),
            query=build_query(request, self.query),
            body=body,
            resource_type="",
            resource_id=resource_id,
            query_type=self.query_type,
            query_method=self.query_method,
            retryable=retryable,
        )

    def response(self, response_class: type[message.Message], result: Any, request: message.Message) -> message.Message:
        if self.operation.result_path:
            if not isinstance(result, dict) or self.operation.result_path not in result:
                raise MalformedUpstreamResult(f"result has no {self.operation.result_path!r} member")
            result = result[self.operation.result_path]
        if self.result_field is not None:
            result = {self.result_field.name: result}
        if not isinstance(result, dict):
            raise MalformedUpstreamResult(f"expected a JSON object, got {type(result).__name__}")
        response = decode(response_class, result)
        for name in self.operation.echo_fields:
            field = request.DESCRIPTOR.fields_by_name[name]
            if not is_set(request, field):
                continue
            if field.is_repeated:
                getattr(response, name).extend(getattr(request, name))
            elif field.type == FD.TYPE_MESSAGE:
                getattr(response, name).CopyFrom(getattr(request, name))
            else:
                setattr(response, name, getattr(request, name))
        return response


def _path_placeholders(path: str) -> list[str]:
    names = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1])
    return names
