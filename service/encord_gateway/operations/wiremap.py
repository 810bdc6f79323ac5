"""Mechanical mapping between gateway messages and Encord's wire JSON, driven by proto options.

v1 payload keys are the fields' names (snake_case, as Encord's envelope API), v2 keys their
lowerCamel json_name; `(wire_name)` overrides either. Responses parse from any of those spellings.
Field and message options cover Encord's odd shapes: JSON text inside a string (`wire_json_text`),
positional pairs (`wire_tuple`), integer enums (`wire_integer`), base64 bytes, maps as objects.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from google.protobuf import descriptor, json_format, message, timestamp_pb2

from .._generated.encord.gateway.v1 import options_pb2
from .descriptors import EnumDescriptor, FieldDescriptor, MessageDescriptor, has_option, option
from .refs import MISSING

FD = descriptor.FieldDescriptor  # for its TYPE_* constants
_MISSING: Any = MISSING

FREE_FORM = ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue")


class MalformedUpstreamResult(ValueError):
    """Encord answered with JSON that does not fit the response message."""


def wire_key(field: FieldDescriptor, camel: bool) -> str:
    options = field.GetOptions()
    if has_option(options, options_pb2.wire_name):
        return str(option(options, options_pb2.wire_name))
    return field.json_name if camel else field.name


def is_map(field: FieldDescriptor) -> bool:
    return bool(field.type == FD.TYPE_MESSAGE and field.message_type.GetOptions().map_entry)


def is_set(msg: message.Message, field: FieldDescriptor) -> bool:
    if field.is_repeated:
        return len(getattr(msg, field.name)) > 0
    if field.has_presence:
        return msg.HasField(field.name)
    return bool(getattr(msg, field.name) != field.default_value)


def _json_text(field: FieldDescriptor) -> bool:
    return bool(option(field.GetOptions(), options_pb2.wire_json_text))


def _tuple(msg_descriptor: MessageDescriptor) -> bool:
    return bool(option(msg_descriptor.GetOptions(), options_pb2.wire_tuple))


# ---- request → wire ------------------------------------------------------------------------


def format_timestamp(value: timestamp_pb2.Timestamp, style: int = options_pb2.TIMESTAMP_FORMAT_OFFSET) -> Any:
    """ISO 8601 with an explicit +00:00 offset (the form the SDK formats filters in), with Z (its
    DTOs), or Unix seconds, as the field's `wire_time` says."""
    if style == options_pb2.TIMESTAMP_FORMAT_UNIX_SECONDS:
        return int(value.seconds)
    text = value.ToDatetime(tzinfo=UTC).isoformat()
    return text.replace("+00:00", "Z") if style == options_pb2.TIMESTAMP_FORMAT_Z else text


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


MAX_EXACT_INTEGER = 2**53


def free_form_json(value: Any) -> Any:
    """A Struct's JSON as Encord expects it.

    Object keys are sorted: Struct keeps no order, so the gateway picks one, always the same. Numbers
    that are whole come out as integers: Struct holds every number as a double, and Encord reads frame
    numbers, sizes and ranges (`"range": [[0, 0]]`) as integers, which `0.0` is not to a strict parser.
    """
    if isinstance(value, dict):
        return {key: free_form_json(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [free_form_json(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_EXACT_INTEGER:
        return int(value)
    return value


def _encode_single(field: FieldDescriptor, value: Any, camel: bool, keep_nulls: bool) -> Any:
    if field.type == FD.TYPE_ENUM:
        return _enum_wire_values(field.enum_type).get(value)
    if field.type == FD.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    if field.type != FD.TYPE_MESSAGE:
        return value
    full_name = field.message_type.full_name
    if full_name == "google.protobuf.Timestamp":
        return format_timestamp(value, int(option(field.GetOptions(), options_pb2.wire_time)))
    if full_name in FREE_FORM:
        # Free-form members travel untouched: inner keys keep their spelling, nulls are kept.
        return free_form_json(json_format.MessageToDict(value))
    return encode_message(value, camel, keep_nulls)


def encode_field(msg: message.Message, field: FieldDescriptor, camel: bool, keep_nulls: bool = False) -> Any:
    """A field's value as it travels (lists for repeated fields, objects for maps)."""
    value = getattr(msg, field.name)
    if is_map(field):
        value_field = field.message_type.fields_by_name["value"]
        encoded: Any = {str(k): _encode_single(value_field, value[k], camel, keep_nulls) for k in sorted(value)}
    elif field.is_repeated:
        encoded = [_encode_single(field, item, camel, keep_nulls) for item in value]
    else:
        encoded = _encode_single(field, value, camel, keep_nulls)
    if _json_text(field):
        return json.dumps(encoded)  # the SDK's own json.dumps, default separators
    return encoded


def encode_message(msg: message.Message, camel: bool, keep_nulls: bool = False) -> Any:
    """A nested message. Fields with presence (`optional`, messages) are left out when unset, or sent
    as null when the call keeps nulls; fields without presence are always sent (Encord reads them as
    plain settings). A `wire_tuple` message is a JSON array of its fields in field-number order."""
    fields = msg.DESCRIPTOR.fields
    if _tuple(msg.DESCRIPTOR):
        return [encode_field(msg, f, camel, keep_nulls) for f in sorted(fields, key=lambda f: f.number)]
    result: dict[str, Any] = {}
    for f in fields:
        unset = f.has_presence and not f.is_repeated and not msg.HasField(f.name)
        # An enum value without a wire value (the _UNSPECIFIED zero) is never sent, like an unset field.
        unsent = (
            f.type == FD.TYPE_ENUM and not f.is_repeated and getattr(msg, f.name) not in _enum_wire_values(f.enum_type)
        )
        if unset or unsent:
            if keep_nulls:
                result[wire_key(f, camel)] = None
            continue
        result[wire_key(f, camel)] = encode_field(msg, f, camel, keep_nulls)
    return result


def encode_request_field(msg: message.Message, name: str, camel: bool) -> Any:
    """A request field for a `$request.<field>` reference: its wire value, or MISSING when unset."""
    field = msg.DESCRIPTOR.fields_by_name[name]
    if not is_set(msg, field):
        return _MISSING
    return encode_field(msg, field, camel)


# ---- wire → response ---------------------------------------------------------------------


MAX_TIMESTAMP_TEXT = 64
"""Longer than any datetime spelling; a longer "timestamp" is not parsed at all."""


def parse_timestamp(text: str) -> str | None:
    """Any of Encord's datetime spellings (§2.6, §3.2) as RFC 3339 UTC; None if unreadable or out of
    the range a Timestamp holds (years 1 to 9999 in UTC)."""
    if len(text) > MAX_TIMESTAMP_TEXT:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # Year 1 at +14:00 or year 9999 at -14:00 falls outside datetime's range once in UTC.
        return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError):
        return None


@cache
def _aliases(msg_descriptor: MessageDescriptor) -> dict[str, FieldDescriptor]:
    table: dict[str, FieldDescriptor] = {}
    for field in msg_descriptor.fields:
        aliases = list(option(field.GetOptions(), options_pb2.wire_alias))
        for key in (field.name, field.json_name, wire_key(field, camel=False), *aliases):
            table.setdefault(key, field)
    return table


@cache
def _enum_names_by_wire(enum: EnumDescriptor) -> dict[Any, str]:
    by_wire = {wire: enum.values_by_number[number].name for number, wire in _enum_wire_values(enum).items()}
    for value in enum.values:  # other spellings Encord answers (read only): a role as "admin" rather than 0
        for alias in option(value.GetOptions(), options_pb2.wire_value_alias):
            by_wire.setdefault(str(alias), value.name)
    by_wire.update({value.name: value.name for value in enum.values})
    return by_wire


def _normalise_message(msg_descriptor: MessageDescriptor, value: Any) -> Any:
    if _tuple(msg_descriptor) and isinstance(value, list):
        ordered = sorted(msg_descriptor.fields, key=lambda f: f.number)
        value = {f.name: item for f, item in zip(ordered, value, strict=False)}
    if not isinstance(value, dict):
        return _MISSING
    return normalise(msg_descriptor, value)


def _normalise_single(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FD.TYPE_ENUM:
        if not isinstance(value, str | int) or isinstance(value, bool):
            return _MISSING  # an object, a list or a number where Encord names a value: not one of ours
        return _enum_names_by_wire(field.enum_type).get(value, _MISSING)
    if field.type == FD.TYPE_BYTES:
        return value if isinstance(value, str) else _MISSING  # proto3 JSON reads base64 text
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
    if full_name in ("google.protobuf.Value", "google.protobuf.ListValue"):
        return value
    return _normalise_message(field.message_type, value)


def _normalise_field(field: FieldDescriptor, value: Any) -> Any:
    if _json_text(field) and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return _MISSING
    if is_map(field):
        if not isinstance(value, dict):
            return _MISSING
        value_field = field.message_type.fields_by_name["value"]
        entries = {str(k): _normalise_single(value_field, v) for k, v in value.items() if v is not None}
        return {k: v for k, v in entries.items() if v is not _MISSING}
    if field.is_repeated:
        if not isinstance(value, list):
            return _MISSING
        items = [_normalise_single(field, item) for item in value if item is not None]
        return [item for item in items if item is not _MISSING]
    return _normalise_single(field, value)


def normalise(msg_descriptor: MessageDescriptor, data: dict[str, Any]) -> dict[str, Any]:
    """Re-key Encord's JSON by proto field names, dropping nulls and values the message cannot hold."""
    aliases = _aliases(msg_descriptor)
    result: dict[str, Any] = {}
    for key, value in data.items():
        field = aliases.get(key)
        if field is None or value is None or field.name in result:
            continue
        normalised = _normalise_field(field, value)
        if normalised is not _MISSING:
            result[field.name] = normalised
    return result


# What ParseDict raises on values it cannot hold: its own ParseError, and plain Python errors for some
# (an integer beyond 64 bits, infinity where an enum is expected, a key that is not text).
PARSE_FAILURES = (json_format.ParseError, ValueError, TypeError, OverflowError, SystemError, RecursionError)
_PARSE_PATH = re.compile(r" at ([A-Za-z_][\w.\[\]]*)\.?$")

JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _parse_failure(exc: Exception) -> str:
    """Where a value did not fit, by field path (ParseError's " at Msg.a.b"), never a Python error text."""
    found = _PARSE_PATH.search(str(exc)) if isinstance(exc, json_format.ParseError) else None
    if found is None:
        return "a value does not fit the response message"
    _, _, path = found.group(1).partition(".")
    return f"the value of {path or 'the answer'} does not fit its field"


STRUCT = "google.protobuf.Struct"
TIMESTAMP = "google.protobuf.Timestamp"
_FLOATS = (FD.CPPTYPE_FLOAT, FD.CPPTYPE_DOUBLE)


class _NotPlain(Exception):
    """A value the direct filler leaves to json_format (its checks and error messages)."""


def _plain_scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FD.TYPE_ENUM:
        found = field.enum_type.values_by_name.get(value) if isinstance(value, str) else None
        if found is None:
            raise _NotPlain
        return found.number
    if field.type == FD.TYPE_BYTES:
        raise _NotPlain  # base64 text: json_format decodes and checks it
    if field.cpp_type in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _NotPlain
        return float(value)
    return value  # setattr checks the type (TypeError, ValueError: left to json_format)


def _fill_message(target: message.Message, field: FieldDescriptor, value: Any) -> None:
    full_name = field.message_type.full_name
    if full_name == STRUCT:
        if not isinstance(value, dict):
            raise _NotPlain
        target.update(value)  # type: ignore[attr-defined]
    elif full_name == TIMESTAMP:
        if not isinstance(value, str):
            raise _NotPlain
        target.FromJsonString(value)  # type: ignore[attr-defined]
    elif full_name in FREE_FORM:
        raise _NotPlain
    else:
        if not isinstance(value, dict):
            raise _NotPlain
        target.SetInParent()
        _fill(target, value)


def _fill(msg: message.Message, data: dict[str, Any]) -> None:
    """Set the fields of a normalised answer straight on the message: several times faster than json_format's
    ParseDict on the documents and metadata streamed by the thousand. Anything unusual raises _NotPlain."""
    fields = msg.DESCRIPTOR.fields_by_name
    for name, value in data.items():
        field = fields[name]
        if is_map(field):
            if not isinstance(value, dict):
                raise _NotPlain
            target: Any = getattr(msg, name)
            entry: MessageDescriptor = field.message_type
            value_field = entry.fields_by_name["value"]
            for key, item in value.items():
                if value_field.type == FD.TYPE_MESSAGE:
                    _fill_message(target[key], value_field, item)
                else:
                    target[key] = _plain_scalar(value_field, item)
        elif field.is_repeated:
            if not isinstance(value, list):
                raise _NotPlain
            target = getattr(msg, name)
            if field.type == FD.TYPE_MESSAGE:
                for item in value:
                    _fill_message(target.add(), field, item)
            else:
                target.extend(_plain_scalar(field, item) for item in value)
        elif field.type == FD.TYPE_MESSAGE:
            _fill_message(getattr(msg, name), field, value)
        else:
            setattr(msg, name, _plain_scalar(field, value))


def _parsed(response_class: type[message.Message], normalised: dict[str, Any]) -> message.Message:
    try:
        parsed = response_class()
        _fill(parsed, normalised)
        return parsed
    except (_NotPlain, TypeError, ValueError, OverflowError, AttributeError, KeyError):
        pass  # the unusual case: json_format's ParseDict has the checks and the messages
    try:
        return json_format.ParseDict(normalised, response_class(), ignore_unknown_fields=True)
    except PARSE_FAILURES as exc:
        raise MalformedUpstreamResult(_parse_failure(exc)) from None


def decode(response_class: type[message.Message], data: dict[str, Any]) -> message.Message:
    return _parsed(response_class, normalise(response_class.DESCRIPTOR, data))


def decode_value(response_class: type[message.Message], value: Any) -> message.Message:
    """One answer (an object, or a list for a tuple message) as a message."""
    normalised = _normalise_message(response_class.DESCRIPTOR, value)
    if normalised is _MISSING:
        kind = JSON_KINDS.get(type(value), "null" if value is None else "something else")
        raise MalformedUpstreamResult(f"expected a JSON object, got {kind}")
    return _parsed(response_class, normalised)
