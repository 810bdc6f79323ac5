"""References and conditions of composite operations: `$step.a.b`, `$request.field`, `$ref == "X"`.

A composite's later calls read values out of the request and out of earlier answers. References are
parsed once at start-up (so a typo fails the gateway's start, not a call) and resolved per call
against a `Scope`: the request message and the JSON answers of the steps that ran.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import message

from .descriptors import MessageDescriptor

MISSING: Any = object()
"""What a reference resolves to when the member it names is absent (not the same as JSON null)."""

REQUEST = "request"


class ReferenceError(ValueError):
    """A reference or condition that cannot be parsed, or names what does not exist."""


@dataclass
class Scope:
    """What references resolve against during one operation."""

    request: message.Message
    encode_request_field: Callable[[message.Message, str, bool], Any]
    """(request, field name, camel) → the field's wire value, or MISSING when unset."""
    results: dict[str, Any] = field(default_factory=dict)
    camel: bool = False
    indexes: dict[tuple[int, str], tuple[list[Any], dict[Any, Any]]] = field(default_factory=dict)
    """Filters' lookups by key, per list: `$answer[label_hash=$item.label_hash]` for every row of a batch would
    otherwise scan the batch once per row. Each entry keeps its list alive, so its id cannot be reused."""


@dataclass(frozen=True)
class Filter:
    """`[key=value]`: the first element of a list whose `key` member equals the value."""

    key: str
    value: Reference | None
    literal: Any = None


Segment = str | int | Filter


@dataclass(frozen=True)
class Reference:
    """`$root.seg.seg...` where root is `request` or a step name."""

    text: str
    root: str
    segments: tuple[Segment, ...]

    def resolve(self, scope: Scope) -> Any:
        if self.root == REQUEST:
            if not self.segments or not isinstance(self.segments[0], str):
                raise ReferenceError(f"{self.text}: $request needs a field name")
            value = scope.encode_request_field(scope.request, self.segments[0], scope.camel)
            return _walk(value, self.segments[1:], scope)
        if self.root not in scope.results:
            return MISSING
        return _walk(scope.results[self.root], self.segments, scope)

    def check(self, request: MessageDescriptor, earlier_steps: set[str]) -> None:
        """Fail at start-up when the reference names no request field or no earlier step."""
        if self.root == REQUEST:
            name = self.segments[0] if self.segments else None
            if not isinstance(name, str) or name not in request.fields_by_name:
                raise ReferenceError(f"{self.text}: {request.full_name} has no field {name!r}")
        elif self.root not in earlier_steps:
            raise ReferenceError(f"{self.text}: no earlier step named {self.root!r}")
        for segment in self.segments:
            if isinstance(segment, Filter) and segment.value is not None:
                segment.value.check(request, earlier_steps)


EVERY = "*"


def _walk(value: Any, segments: tuple[Segment, ...], scope: Scope) -> Any:
    for index, segment in enumerate(segments):
        if value is MISSING or value is None:
            return MISSING
        if segment == EVERY:
            rest = segments[index + 1 :]
            # A single value is a list of one: `$request.name[*]` sends a file name where a list of them is due.
            found = (_walk(item, rest, scope) for item in (value if isinstance(value, list) else [value]))
            return [item for item in found if item is not MISSING and item is not None]
        if isinstance(segment, int):
            if not isinstance(value, list) or not -len(value) <= segment < len(value):
                return MISSING
            value = value[segment]
        elif isinstance(segment, Filter):
            wanted = segment.value.resolve(scope) if segment.value is not None else segment.literal
            if not isinstance(value, list) or wanted is MISSING:
                return MISSING
            value = _first_with(value, segment.key, wanted, scope)
        else:
            if not isinstance(value, dict) or segment not in value:
                return MISSING
            value = value[segment]
    return value


def _split_path(body: str, text: str) -> list[str]:
    """Split on dots outside brackets; a bracketed filter is a token of its own (`a[k=$x.y].b`)."""
    tokens: list[str] = []
    current = ""
    depth = 0
    after_filter = False
    for char in body:
        if depth == 0 and char == ".":
            if not current and not after_filter:
                raise ReferenceError(f"{text!r}: empty path segment")
            if current:
                tokens.append(current)
            current, after_filter = "", False
            continue
        if depth == 0 and char == "[":
            if current:
                tokens.append(current)
            current = ""
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ReferenceError(f"{text!r}: unbalanced brackets")
        current += char
        after_filter = False
        if depth == 0 and char == "]":
            tokens.append(current)
            current, after_filter = "", True
    if depth != 0 or (not current and not after_filter):
        raise ReferenceError(f"{text!r}: malformed reference")
    if current:
        tokens.append(current)
    return tokens


INDEXED_FROM = 16  # a list this long is indexed once rather than scanned per lookup


def _first_with(values: list[Any], key: str, wanted: Any, scope: Scope) -> Any:
    """The first element of `values` whose `key` member equals `wanted` (MISSING if none)."""
    if len(values) < INDEXED_FROM or isinstance(wanted, dict | list):
        return next((item for item in values if isinstance(item, dict) and item.get(key) == wanted), MISSING)
    cached = scope.indexes.get((id(values), key))
    if cached is None or cached[0] is not values:
        index: dict[Any, Any] = {}
        for item in values:
            if isinstance(item, dict):
                member = item.get(key)
                if not isinstance(member, dict | list):
                    index.setdefault(member, item)
        cached = (values, index)
        scope.indexes[(id(values), key)] = cached
    return cached[1].get(wanted, MISSING)


EVERY_TOKEN = "[*]"
_FILTER = re.compile(r"\[([A-Za-z_][A-Za-z0-9_]*)=([^\]]+)\]")


def parse_reference(text: str) -> Reference:
    """Parse `$root.a.0.[k=v].b` (a filter may also follow a key directly: `stages[uuid=$x]`)."""
    if not text.startswith("$") or len(text) < 2:
        raise ReferenceError(f"{text!r}: a reference starts with '$'")
    tokens = _split_path(text[1:], text)
    root, rest = tokens[0], tokens[1:]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", root):
        raise ReferenceError(f"{text!r}: {root!r} is not a step name or 'request'")
    segments: list[Segment] = []
    for token in rest:
        match = _FILTER.fullmatch(token)
        if match:
            key, raw = match.groups()
            if raw.startswith("$"):
                segments.append(Filter(key, parse_reference(raw)))
            else:
                segments.append(Filter(key, None, _literal(raw, text)))
        elif re.fullmatch(r"-?\d+", token):
            segments.append(int(token))
        elif token in (EVERY, EVERY_TOKEN):
            segments.append(EVERY)
        elif re.fullmatch(r"[A-Za-z_@][A-Za-z0-9_\-]*", token):
            segments.append(token)
        else:
            raise ReferenceError(f"{text!r}: bad path segment {token!r}")
    return Reference(text, root, tuple(segments))


def _literal(raw: str, context: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ReferenceError(f"{context!r}: {raw!r} is neither a $reference nor a JSON literal") from None


# ---- conditions ----------------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    return value is not MISSING and value is not None and value not in (False, "", [], {}, 0)


@dataclass(frozen=True)
class Condition:
    """`$ref`, `!$ref`, `$ref == X`, `$ref != X`, `$ref in [X, Y]`."""

    text: str
    reference: Reference
    operator: str  # "truthy", "falsy", "==", "!=", "in"
    operand: Any = None

    def holds(self, scope: Scope) -> bool:
        value = self.reference.resolve(scope)
        if self.operator == "truthy":
            return truthy(value)
        if self.operator == "falsy":
            return not truthy(value)
        if self.operator == "==":
            return value is not MISSING and value == self.operand
        if self.operator == "!=":
            return value is MISSING or value != self.operand
        return value is not MISSING and value in self.operand


def _operator_at(text: str) -> tuple[int, str] | None:
    """Where the condition's operator starts, looking outside JSON strings and brackets only."""
    depth, quoted, escaped = 0, False, False
    for index, char in enumerate(text):
        if quoted:
            quoted = char != '"' or escaped
            escaped = char == "\\" and not escaped
            continue
        if char == '"':
            quoted = True
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0:
            for operator in ("==", "!=", " in "):
                if text.startswith(operator, index):
                    return index, operator
    return None


def parse_condition(text: str) -> Condition:
    stripped = text.strip()
    if stripped.startswith("!"):
        return Condition(text, parse_reference(stripped[1:].strip()), "falsy")
    found = _operator_at(stripped)
    if found is None:
        return Condition(text, parse_reference(stripped), "truthy")
    index, operator = found
    left, right = stripped[:index], stripped[index + len(operator) :]
    operand = _literal(right.strip(), text)
    name = operator.strip()
    if name == "in" and not isinstance(operand, list):
        raise ReferenceError(f"{text!r}: 'in' needs a JSON list")
    return Condition(text, parse_reference(left.strip()), name, operand)
