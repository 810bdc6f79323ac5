"""Request validation declared in the proto: REQUIRED fields (google.api.field_behavior), formats and size bounds."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from google.api import field_behavior_pb2
from google.protobuf import descriptor, message

from .._generated.encord.gateway.v1 import options_pb2
from ..errors import invalid_argument
from .descriptors import FieldDescriptor, MessageDescriptor, option
from .wiremap import is_set

UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_STRING_LENGTH = 10_000  # far above any Encord title; stops megabyte "titles" before they travel

Check = Callable[[message.Message], list[tuple[str, str]]]


def _required(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> list[tuple[str, str]]:
        value = getattr(msg, field.name)
        if not is_set(msg, field) or (isinstance(value, str) and not value.strip()):
            return [(field.name, "is required")]
        return []

    return check


def _uuid(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> list[tuple[str, str]]:
        if not is_set(msg, field):
            return []
        values = getattr(msg, field.name) if field.is_repeated else [getattr(msg, field.name)]
        return [
            (
                f"{field.name}[{i}]" if field.is_repeated else field.name,
                "must be a UUID like 00000000-0000-0000-0000-000000000000",
            )
            for i, value in enumerate(values)
            if not UUID_PATTERN.match(value)
        ]

    return check


def _length(field: FieldDescriptor) -> Check:
    def check(msg: message.Message) -> list[tuple[str, str]]:
        values = getattr(msg, field.name) if field.is_repeated else [getattr(msg, field.name)]
        if any(len(value) > MAX_STRING_LENGTH for value in values):
            return [(field.name, f"is longer than {MAX_STRING_LENGTH} characters")]
        return []

    return check


def _size(value: object) -> int:
    """What `max_bytes` bounds: a bytes value's length, a message's (a label document's) serialized size."""
    if isinstance(value, message.Message):
        return value.ByteSize()
    return len(value)  # type: ignore[arg-type]


def _max_bytes(field: FieldDescriptor, limit: int) -> Check:
    def check(msg: message.Message) -> list[tuple[str, str]]:
        if not is_set(msg, field):
            return []
        values = getattr(msg, field.name) if field.is_repeated else [getattr(msg, field.name)]
        return [
            (f"{field.name}[{i}]" if field.is_repeated else field.name, f"is larger than {limit} bytes")
            for i, value in enumerate(values)
            if _size(value) > limit
        ]

    return check


@cache
def checks_for(msg_descriptor: MessageDescriptor) -> tuple[Check, ...]:
    checks: list[Check] = []
    for field in msg_descriptor.fields:
        options = field.GetOptions()
        if field_behavior_pb2.REQUIRED in option(options, field_behavior_pb2.field_behavior):
            checks.append(_required(field))
        if option(options, options_pb2.format) == options_pb2.FIELD_FORMAT_UUID:
            checks.append(_uuid(field))
        if field.type == descriptor.FieldDescriptor.TYPE_STRING:
            checks.append(_length(field))
        if limit := option(options, options_pb2.max_bytes):
            checks.append(_max_bytes(field, int(limit)))
    return tuple(checks)


def validate(request: message.Message) -> None:
    """Raise INVALID_ARGUMENT naming every bad field; the upstream is never called with bad input."""
    violations = [violation for check in checks_for(request.DESCRIPTOR) for violation in check(request)]
    if violations:
        raise invalid_argument(violations)
