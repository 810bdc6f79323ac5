"""Request validation declared in the proto: REQUIRED fields (google.api.field_behavior) and formats,
plus the bounds every value must keep whatever the proto says (string lengths, Timestamp and Duration
ranges, declared enum values, bytes sizes), in nested messages too."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor, message, struct_pb2

from .._generated.encord.gateway.v1 import options_pb2
from ..errors import invalid_argument
from .descriptors import FieldDescriptor, MessageDescriptor, has_option, option
from .wiremap import FREE_FORM, is_map, is_set

FD = descriptor.FieldDescriptor

UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAX_STRING_LENGTH = 10_000  # far above any Encord title; stops megabyte "titles" before they travel
MAX_VIOLATIONS = 20
"""Field violations reported at most (a status travels in gRPC metadata, which is small)."""

# The ranges google/protobuf/timestamp.proto and duration.proto define (RFC 3339 years 0001 to 9999,
# ±10,000 years); a value outside them cannot be written as JSON or as a date at all.
MIN_TIMESTAMP_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_DURATION_SECONDS = 315_576_000_000
MAX_NANOS = 999_999_999
TIMESTAMP_RANGE = "must be a time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
DURATION_RANGE = f"must be a duration of at most {MAX_DURATION_SECONDS} seconds either way"

Violations = list[tuple[str, str]]
Check = Callable[[message.Message], Violations]


def _values(msg: message.Message, field: FieldDescriptor) -> Iterable[tuple[str, Any]]:
    """(path, value) of each element of a field: one for a singular field, one per item or map value."""
    value = getattr(msg, field.name)
    if is_map(field):
        return ((f"{field.name}[{key!r}]", value[key]) for key in value)
    if field.is_repeated:
        return ((f"{field.name}[{i}]", item) for i, item in enumerate(value))
    return ((field.name, value),)


def _required(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> Violations:
        value = getattr(msg, field.name)
        if not is_set(msg, field) or (isinstance(value, str) and not value.strip()):
            return [(field.name, "is required")]
        return []

    return check


def _uuid(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> Violations:
        if not is_set(msg, field):
            return []
        # fullmatch: with `$`, a trailing newline would pass and travel into a header upstream.
        return [
            (path, "must be a UUID like 00000000-0000-0000-0000-000000000000")
            for path, value in _values(msg, field)
            if not UUID_PATTERN.fullmatch(value)
        ]

    return check


def _length(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> Violations:
        if any(len(value) > MAX_STRING_LENGTH for _, value in _values(msg, field)):
            return [(field.name, f"is longer than {MAX_STRING_LENGTH} characters")]
        return []

    return check


def _size(value: Any) -> int:
    """What `max_bytes` bounds: a bytes value's length, a message's (a label document's) serialized size."""
    return value.ByteSize() if isinstance(value, message.Message) else len(value)


def _max_bytes(field: FieldDescriptor, limit: int) -> Check:
    def check(msg: message.Message) -> Violations:
        return [(path, f"is larger than {limit} bytes") for path, value in _values(msg, field) if _size(value) > limit]

    return check


def _enum(field: FieldDescriptor) -> Check:
    """Open enums keep unknown numbers; the gateway would silently drop them on the wire, so it refuses them."""
    known = frozenset(value.number for value in field.enum_type.values)
    names = ", ".join(value.name for value in field.enum_type.values)

    def check(msg: message.Message) -> Violations:
        return [(path, f"must be one of {names}") for path, value in _values(msg, field) if value not in known]

    return check


def _timestamp(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> Violations:
        if not is_set(msg, field):
            return []
        return [
            (path, TIMESTAMP_RANGE)
            for path, value in _values(msg, field)
            if not MIN_TIMESTAMP_SECONDS <= value.seconds <= MAX_TIMESTAMP_SECONDS or not 0 <= value.nanos <= MAX_NANOS
        ]

    return check


def _duration(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> Violations:
        if not is_set(msg, field):
            return []
        return [
            (path, DURATION_RANGE)
            for path, value in _values(msg, field)
            if abs(value.seconds) > MAX_DURATION_SECONDS
            or abs(value.nanos) > MAX_NANOS
            or (value.seconds * value.nanos < 0)  # seconds and nanos must agree in sign
        ]

    return check


def _finite_numbers(value: Any) -> bool:
    """True when a Struct, Value or ListValue holds no NaN or infinity (JSON, and so Encord, has none)."""
    pending = [value]
    while pending:  # without recursion: protobuf allows 100 levels
        current = pending.pop()
        if isinstance(current, struct_pb2.Struct):
            pending.extend(current.fields.values())
        elif isinstance(current, struct_pb2.ListValue):
            pending.extend(current.values)
        elif isinstance(current, struct_pb2.Value):
            kind = current.WhichOneof("kind")
            if kind == "number_value" and not math.isfinite(current.number_value):
                return False
            if kind in ("struct_value", "list_value"):
                pending.append(getattr(current, kind))
    return True


def _free_form(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> Violations:
        if not is_set(msg, field):
            return []
        return [
            (path, "holds NaN or Infinity, which JSON cannot carry")
            for path, value in _values(msg, field)
            if not _finite_numbers(value)
        ]

    return check


def _nested(field: FieldDescriptor) -> Check:
    """The checks of a message-typed field's own fields, reported under `field.sub` paths. Looked up
    at call time, so recursive message types cost nothing until a value actually nests."""

    def check(msg: message.Message) -> Violations:
        if not is_set(msg, field):
            return []
        return [
            (f"{path}.{inner}", reason) for path, value in _values(msg, field) for inner, reason in _violations(value)
        ]

    return check


def _message_checks(field: FieldDescriptor, target: FieldDescriptor) -> list[Check]:
    """Checks of a message-typed field (`target` is the field itself, or a map's value field)."""
    full_name = target.message_type.full_name
    if full_name == "google.protobuf.Timestamp":
        return [_timestamp(field)]
    if full_name == "google.protobuf.Duration":
        return [_duration(field)]
    if full_name in FREE_FORM:
        return [_free_form(field)]  # its depth is bounded where it is read (protobuf's and jsontext's limits)
    if full_name.startswith("google.protobuf."):
        return []  # wrappers and the like: nothing beyond their type to check
    return [_nested(field)]


@cache
def checks_for(msg_descriptor: MessageDescriptor) -> tuple[Check, ...]:
    checks: list[Check] = []
    for field in msg_descriptor.fields:
        options = field.GetOptions()
        if field_behavior_pb2.REQUIRED in option(options, field_behavior_pb2.field_behavior):
            checks.append(_required(field))
        target = field.message_type.fields_by_name["value"] if is_map(field) else field
        if option(options, options_pb2.format) == options_pb2.FIELD_FORMAT_UUID:
            checks.append(_uuid(field))
        if target.type in (FD.TYPE_BYTES, FD.TYPE_MESSAGE) and has_option(options, options_pb2.max_bytes):
            checks.append(_max_bytes(field, int(option(options, options_pb2.max_bytes))))
        if target.type == FD.TYPE_STRING:
            checks.append(_length(field))
        elif target.type == FD.TYPE_ENUM:
            checks.append(_enum(field))
        elif target.type == FD.TYPE_MESSAGE:
            checks.extend(_message_checks(field, target))
    return tuple(checks)


def _violations(request: message.Message) -> Violations:
    return [violation for check in checks_for(request.DESCRIPTOR) for violation in check(request)]


def validate(request: message.Message) -> None:
    """Raise INVALID_ARGUMENT naming every bad field (the first MAX_VIOLATIONS of them, and how many more
    there are); the upstream is never called with bad input."""
    violations: Violations = []
    omitted = 0
    for check in checks_for(request.DESCRIPTOR):
        for violation in check(request):
            if len(violations) < MAX_VIOLATIONS:
                violations.append(violation)
            else:  # counted, not kept: a 4 MB list of bad values would otherwise be held whole
                omitted += 1
    if violations:
        raise invalid_argument(violations, omitted)
