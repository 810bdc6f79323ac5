"""REST request → request message: path variables, query string and JSON body merged, parsed and checked.

Whatever a caller sends, the outcome is a message or INVALID_ARGUMENT naming the fields at fault and
what each must be, in the API's own terms (field names, JSON types, enum value names): never a
Python error text, and never a value the caller sent (it could be a secret, or megabytes long).
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import descriptor, json_format, message
from multidict import MultiMapping

from .. import jsontext
from ..errors import invalid_argument
from ..operations.catalog import HttpRule, OperationSpec
from ..operations.descriptors import FieldDescriptor, MessageDescriptor
from ..operations.wiremap import is_map

FD = descriptor.FieldDescriptor
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no"}

# ParseDict raises its ParseError, and plain Python errors for some values (infinity where an enum
# is expected, a key that is not text); each is the caller's input failing to fit, never a bug here.
PARSE_FAILURES = (json_format.ParseError, ValueError, TypeError, OverflowError, SystemError, RecursionError)
_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field")
_NO_SUCH_FIELD = re.compile(r'has no field named "([^"]{1,100})"')

_INTEGERS = {
    FD.TYPE_INT32: "an integer from -2147483648 to 2147483647",
    FD.TYPE_SINT32: "an integer from -2147483648 to 2147483647",
    FD.TYPE_SFIXED32: "an integer from -2147483648 to 2147483647",
    FD.TYPE_UINT32: "an integer from 0 to 4294967295",
    FD.TYPE_FIXED32: "an integer from 0 to 4294967295",
    FD.TYPE_INT64: "a 64-bit integer",
    FD.TYPE_SINT64: "a 64-bit integer",
    FD.TYPE_SFIXED64: "a 64-bit integer",
    FD.TYPE_UINT64: "a non-negative 64-bit integer",
    FD.TYPE_FIXED64: "a non-negative 64-bit integer",
}
_WELL_KNOWN = {
    "google.protobuf.Timestamp": "an RFC 3339 time such as 2024-01-31T09:30:00Z (years 0001 to 9999)",
    "google.protobuf.Duration": 'a duration in seconds such as "3600s"',
    "google.protobuf.Struct": "a JSON object",
    "google.protobuf.ListValue": "a JSON array",
    "google.protobuf.Value": "JSON",
}
MAX_ENUM_NAMES = 12


def field_for(msg_descriptor: MessageDescriptor, name: str) -> FieldDescriptor | None:
    """A field by its proto name or its lowerCamel JSON name."""
    field = msg_descriptor.fields_by_name.get(name)
    if field is None:
        field = next((f for f in msg_descriptor.fields if f.json_name == name), None)
    return field


def _single_kind(field: FieldDescriptor) -> str:
    """What one value of `field` must be, in JSON terms."""
    if field.type == FD.TYPE_STRING:
        return "a string"
    if field.type == FD.TYPE_BOOL:
        return "true or false"
    if field.type in _INTEGERS:
        return _INTEGERS[field.type]
    if field.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return "a number"
    if field.type == FD.TYPE_BYTES:
        return "base64 text"
    if field.type == FD.TYPE_ENUM:
        names = [value.name for value in field.enum_type.values]
        more = ", ..." if len(names) > MAX_ENUM_NAMES else ""
        return "one of " + ", ".join(names[:MAX_ENUM_NAMES]) + more
    full_name = field.message_type.full_name
    return _WELL_KNOWN.get(full_name, f"a JSON object of {field.message_type.name} fields")


def expected(field: FieldDescriptor) -> str:
    """What a field's JSON must be: "must be a string", "must be a JSON array of ...", ..."""
    if is_map(field):
        return "must be a JSON object whose values are " + _single_kind(field.message_type.fields_by_name["value"])
    if field.is_repeated:
        return "must be a JSON array of " + _single_kind(field).removeprefix("a ").removeprefix("an ") + " values"
    return "must be " + _single_kind(field)


def _violation(msg_descriptor: MessageDescriptor, field: FieldDescriptor, exc: Exception) -> str:
    """Why the JSON of top-level `field` does not parse, down to the nested field ParseError names."""
    text = str(exc) if isinstance(exc, json_format.ParseError) else ""
    names = _FAILED_FIELD.findall(text)
    path, leaf, current = [field.name], field, field
    for name in names[1:]:  # names[0] is `field` itself
        if current.type != FD.TYPE_MESSAGE or is_map(current):
            break
        inner = field_for(current.message_type, name)
        if inner is None:
            break
        path.append(inner.name)
        leaf = current = inner
    where = ".".join(path[1:])
    unknown = _NO_SUCH_FIELD.search(text)
    if unknown is not None:
        problem = f"has no field {unknown.group(1)!r}"
    else:
        problem = expected(leaf)
    return f"{where}: {problem}" if where else problem


def parse_request(spec: OperationSpec, fields: dict[str, Any]) -> message.Message:
    """The request message, or INVALID_ARGUMENT naming each field that does not fit."""
    try:
        return json_format.ParseDict(fields, spec.request_class())
    except PARSE_FAILURES:
        pass
    # Only on the error path: parse member by member so that each violation names its own field.
    msg_descriptor = spec.request_class.DESCRIPTOR
    violations = []
    for name, value in fields.items():
        field = field_for(msg_descriptor, name)
        if field is None:
            violations.append((name, "is not a field of " + msg_descriptor.name))
            continue
        try:
            json_format.ParseDict({name: value}, spec.request_class())
        except PARSE_FAILURES as exc:
            violations.append((field.name, _violation(msg_descriptor, field, exc)))
    raise invalid_argument(violations or [("(request)", "cannot be read as " + msg_descriptor.name)])


def _query_value(field: FieldDescriptor, text: str) -> Any:
    if field.type == FD.TYPE_BOOL:
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise invalid_argument([(field.name, "must be true or false")])
    return text


def request_fields(
    spec: OperationSpec,
    rule: HttpRule,
    query: MultiMapping[str],
    path: dict[str, str],
    body: dict[str, Any] | None,
) -> dict[str, Any]:
    """Merge body, query string and path variables into one proto3-JSON object (path wins)."""
    msg_descriptor = spec.request_class.DESCRIPTOR
    fields: dict[str, Any] = dict(body or {})
    for name in set(query.keys()):
        field = field_for(msg_descriptor, name)
        if field is None:
            raise invalid_argument([(name, "is not a field of " + msg_descriptor.name)])
        if field.name == rule.body:
            # grpc-gateway drops such a parameter silently; refusing it tells the caller where the value goes.
            raise invalid_argument([(field.name, "is the request body and cannot be set in the query string")])
        values = [_query_value(field, text) for text in query.getall(name)]
        if field.is_repeated:
            fields[field.name] = values
        elif len(values) > 1:
            raise invalid_argument([(field.name, "is given more than once")])
        else:
            fields[field.name] = values[0]
    fields.update(path)
    return fields


def _body_shape_error(field: FieldDescriptor, value: Any) -> str | None:
    """Why `value` cannot be the JSON of `field`, when its shape alone says so; ParseDict checks the rest."""
    if is_map(field):
        return None if isinstance(value, dict) else "must be a JSON object: the request body is this map field"
    if field.is_repeated:
        return None if isinstance(value, list) else "must be a JSON array: the request body is this repeated field"
    return None


def body_fields(spec: OperationSpec, rule: HttpRule, raw: bytes) -> dict[str, Any]:
    """The request fields a JSON body carries, keyed by field name (an empty body sets none)."""
    if not raw:
        return {}  # an absent body leaves its fields unset, as grpc-gateway does
    try:
        body = jsontext.load(raw)
    except jsontext.JsonRefused as refused:
        raise invalid_argument([("(body)", refused.problem)]) from None
    if rule.body == "*":
        if not isinstance(body, dict):
            raise invalid_argument([("(body)", "must be a JSON object")])
        return body
    field = spec.request_class.DESCRIPTOR.fields_by_name[rule.body]
    problem = _body_shape_error(field, body)
    if problem is not None:
        raise invalid_argument([(field.name, problem)])
    return {field.name: body}
