"""Hostile input, generated from the descriptors: protobuf and JSON requests for any RPC of the catalog.

Every generator takes a seeded `random.Random`, so a failing case is reproduced by its seed and label.
Values are picked from pools of what attackers and careless clients send (extreme numbers, NaN,
out-of-range times, unknown enum numbers, control characters, lone surrogates, deep nesting, wrong
JSON types); which fields get them, and how many, is random. Nothing here knows any RPC by name.
"""

from __future__ import annotations

import json
import math
import random
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from encord_gateway.operations.catalog import HttpRule, OperationSpec
from google.protobuf import descriptor, message, struct_pb2
from google.rpc import code_pb2

FD = descriptor.FieldDescriptor
FieldDescriptorT = Any  # protobuf's FieldDescriptor (its stubs give no usable type)

NEVER_CODES = {code_pb2.INTERNAL, code_pb2.UNKNOWN}
"""What bad input must never become: the gateway's own failure, or an unclassified one."""
MAX_MESSAGE_CHARS = 1000  # the bound the edge keeps a status message within
MAX_GRPC_PAYLOAD = 3 * 1024 * 1024

# ---- value pools --------------------------------------------------------------------------------------------

STRINGS = [
    "",
    " ",
    "x" * 10_001,  # one over the gateway's string bound
    "\x00\x07\x1b[2J\u202e",  # NUL, bell, a terminal escape, right-to-left override
    "00000000-0000-0000-0000-000000000000\n",  # a UUID with a trailing newline
    "0000000g-0000-0000-0000-000000000000",
    "../../etc/passwd",
    "%0d%0aSet-Cookie: x=1",
    "🙂" * 50,
    "' OR 1=1 --",
    "*",
]
INTEGER_RANGES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1),
    FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1),
    FD.TYPE_FIXED64: (0, 2**64 - 1),
}
DOUBLES = [math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324]
TIMESTAMP_SECONDS = [10**12, -(10**12), 253_402_300_800, -62_135_596_801, 0, 1_700_000_000]
DURATION_SECONDS = [10**12, 315_576_000_000, -315_576_000_001, 1, -1, 2**62]
NANOS = [0, -1, 10**9, 999_999_999]

# JSON tokens Python's json module writes only with help; placeholders are swapped in after dumps().
RAW_TOKENS = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e999": "1e999",
    "deep": "[" * 1000 + "]" * 1000,
    "deep-object": '{"a":' * 200 + "1" + "}" * 200,
    "huge-int": "9" * 400,
}


def _raw(name: str) -> str:
    return f"\x00RAW:{name}\x00"


JSON_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**64,
    1.5,
    "",
    "\ud800",  # a lone surrogate (json.dumps writes it as an escape)
    "x" * 10_001,
    [],
    [1, "a", None],
    {},
    {"\udc80": 1},  # a lone surrogate as a key
    {"a": {"b": []}},
    *[_raw(name) for name in RAW_TOKENS],
]


def dumps(value: Any) -> bytes:
    """JSON text of `value`, with the raw-token placeholders replaced by their (invalid or hostile) JSON."""
    text = json.dumps(value, allow_nan=True)
    for name, token in RAW_TOKENS.items():
        text = text.replace(json.dumps(_raw(name)), token)
    return text.encode("utf-8")


# ---- protobuf requests --------------------------------------------------------------------------------------


def _free_form(rng: random.Random, depth: int) -> struct_pb2.Value:
    value = struct_pb2.Value()
    kind = rng.randrange(5 if depth < 40 else 3)
    if kind == 0:
        value.number_value = rng.choice(DOUBLES)
    elif kind == 1:
        value.string_value = rng.choice(STRINGS)
    elif kind == 2:
        value.null_value = struct_pb2.NULL_VALUE
    elif kind == 3:
        value.struct_value.fields[rng.choice(STRINGS[:6])].CopyFrom(_free_form(rng, depth + 1))
    else:
        value.list_value.values.append(_free_form(rng, depth + 1))
    return value


def _fill_single(rng: random.Random, field: FieldDescriptorT, target: Any, depth: int) -> Any:
    """A hostile value for one element of `field`; for message fields, `target` is filled in place."""
    if field.type == FD.TYPE_STRING:
        return rng.choice([*STRINGS, str(uuid.uuid4())])
    if field.type == FD.TYPE_BYTES:
        return rng.randbytes(rng.choice([0, 16, 4096]))
    if field.type == FD.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[field.type]
        return rng.choice([low, high, 0, -1 if low < 0 else 1])
    if field.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return rng.choice(DOUBLES)
    if field.type == FD.TYPE_ENUM:
        return rng.choice([*(v.number for v in field.enum_type.values), 12345, -7])
    full_name = field.message_type.full_name
    if full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        pool = TIMESTAMP_SECONDS if full_name.endswith("Timestamp") else DURATION_SECONDS
        target.seconds = rng.choice(pool)
        target.nanos = rng.choice(NANOS)
    elif full_name == "google.protobuf.Struct":
        for _ in range(rng.randrange(3)):
            target.fields[rng.choice(STRINGS[:6])].CopyFrom(_free_form(rng, 1))
    elif full_name == "google.protobuf.Value":
        target.CopyFrom(_free_form(rng, 1))
    elif full_name == "google.protobuf.ListValue":
        target.values.append(_free_form(rng, 1))
    elif depth < 3:
        fill_message(rng, target, depth + 1)
    return None


def fill_message(rng: random.Random, msg: message.Message, depth: int = 0) -> message.Message:
    """Set a random subset of `msg`'s fields to hostile values (repeated fields get a few, or many)."""
    for field in msg.DESCRIPTOR.fields:
        if rng.random() < 0.35:
            continue
        container = getattr(msg, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            for _ in range(rng.randrange(1, 4)):
                key = _fill_single(rng, key_field, None, depth)
                if value_field.type == FD.TYPE_MESSAGE:
                    _fill_single(rng, value_field, container[key], depth)
                else:
                    container[key] = _fill_single(rng, value_field, None, depth)
        elif field.is_repeated:
            count = rng.choice([1, 3, 200]) if field.type != FD.TYPE_MESSAGE else rng.choice([1, 3])
            for _ in range(count):
                if field.type == FD.TYPE_MESSAGE:
                    _fill_single(rng, field, container.add(), depth)
                else:
                    container.append(_fill_single(rng, field, None, depth))
        elif field.type == FD.TYPE_MESSAGE:
            _fill_single(rng, field, container, depth)
        else:
            setattr(msg, field.name, _fill_single(rng, field, None, depth))
    return msg


def grpc_payloads(spec: OperationSpec, rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    """`count` request payloads for `spec`: mostly well-formed protobuf with hostile values, some
    bytes that are no protobuf at all (garbage, a truncated message, a wrong wire type)."""
    payloads: list[tuple[str, bytes]] = []
    for index in range(count):
        kind = index % 5
        if kind == 4:
            garbage = rng.choice(
                [rng.randbytes(rng.randrange(1, 64)), b"\x0a\xff\xff\xff\xff\x0f", b"\x08", b"\x0b" * 8, b"\xff" * 3]
            )
            payloads.append((f"garbage#{index}", garbage))
            continue
        msg = fill_message(rng, spec.request_class())
        while msg.ByteSize() > MAX_GRPC_PAYLOAD:  # gRPC refuses more than 4 MB before the gateway sees it
            msg = fill_message(rng, spec.request_class())
        payloads.append((f"hostile-values#{index}", msg.SerializeToString()))
    return payloads


# ---- REST requests ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestCase:
    label: str
    method: str
    path: str  # with its query string, percent-encoded
    body: bytes | None


PATH_VALUES = [
    lambda: f"{uuid.uuid4()}%0A",  # a trailing newline
    lambda: "%ED%A0%80",  # a surrogate, percent-encoded
    lambda: "%00",
    lambda: "x" * 300,
    lambda: str(uuid.uuid4()),
    lambda: "%25%2F..",
]


def _json_value(rng: random.Random, field: FieldDescriptorT) -> Any:
    """A JSON value for `field`: usually the wrong kind, or a hostile one of the right kind."""
    if rng.random() < 0.5:
        return rng.choice(JSON_VALUES)
    if field.type == FD.TYPE_ENUM:
        return rng.choice([_raw("Infinity"), _raw("1e999"), {"an": "object"}, "NOT_A_VALUE", 1e300])
    if field.type == FD.TYPE_MESSAGE and field.message_type.full_name == "google.protobuf.Duration":
        return rng.choice(["315576000000s", "99999999999999999999s", "\ud800s", "-1s", "1e20s"])
    if field.type == FD.TYPE_MESSAGE and field.message_type.full_name == "google.protobuf.Timestamp":
        return rng.choice(["99999-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "\ud800", "2024-13-45T99:99:99Z"])
    if field.type == FD.TYPE_MESSAGE and field.message_type.full_name == "google.protobuf.Struct":
        return rng.choice([{"a": _raw("NaN")}, {"a": _raw("deep")}, {"\ud800": 1}, {"a": _raw("huge-int")}])
    if field.is_repeated:
        return [rng.choice(JSON_VALUES) for _ in range(rng.choice([1, 3]))]
    if field.type == FD.TYPE_STRING:
        return rng.choice(STRINGS)
    return rng.choice(JSON_VALUES)


def _json_body(rng: random.Random, spec: OperationSpec, rule: HttpRule) -> bytes:
    fields = spec.request_class.DESCRIPTOR.fields
    roll = rng.random()
    if roll < 0.15:  # not even JSON of the right shape
        return rng.choice(
            [b"", b"{", b"[]", b"null", b"\xff\xfe", dumps(_raw("deep")), dumps(_raw("NaN")), b'{"a":1}garbage']
        )
    if rule.body not in ("", "*"):
        field = spec.request_class.DESCRIPTOR.fields_by_name[rule.body]
        return dumps(_json_value(rng, field))
    body: dict[str, Any] = {}
    for field in fields:
        if field.name not in rule.path_fields and rng.random() < 0.6:
            body[rng.choice([field.name, field.json_name])] = _json_value(rng, field)
    if rng.random() < 0.2:
        body[rng.choice(["no_such_field", "\ud800", "x" * 300])] = 1
    return dumps(body)


def _query(rng: random.Random, spec: OperationSpec, rule: HttpRule) -> str:
    candidates = [f for f in spec.request_class.DESCRIPTOR.fields if f.name not in rule.path_fields]
    pairs: list[tuple[str, str]] = []
    for field in rng.sample(candidates, k=min(len(candidates), rng.randrange(0, 3))):
        value = rng.choice([*STRINGS[:6], "NaN", "1e999", "-1", "99999999999999999999", "true"])
        pairs.extend([(field.name, value)] * rng.choice([1, 2]))
    if rng.random() < 0.1:
        pairs.append(("no_such_parameter", "1"))
    query = urllib.parse.urlencode(pairs)
    if rng.random() < 0.1:
        query += "&title=%ED%A0%80&page_size=%FF"  # bytes that are not UTF-8
    return query


def rest_cases(spec: OperationSpec, rule: HttpRule, rng: random.Random, count: int) -> list[RestCase]:
    cases = []
    for index in range(count):
        path = rule.template
        for name in rule.path_fields:
            path = path.replace("{" + name + "}", rng.choice(PATH_VALUES)())
        query = _query(rng, spec, rule) if rule.body != "*" or rng.random() < 0.3 else ""
        body = _json_body(rng, spec, rule) if rule.body else None
        if spec.client_streaming:
            body = rng.randbytes(rng.choice([0, 100, 5000]))
        cases.append(
            RestCase(f"{rule.verb} {rule.template}#{index}", rule.verb, path + (f"?{query}" if query else ""), body)
        )
    return cases


# ---- verdicts -----------------------------------------------------------------------------------------------


def status_shape_problem(status: dict[str, Any]) -> str | None:
    """What is wrong with the form of a google.rpc.Status a caller received (as JSON), or None: a failed
    code, a bounded printable message, and an ErrorInfo with reason and domain."""
    code = status.get("code")
    if not isinstance(code, int) or code == code_pb2.OK:
        return f"not a failed Status: {status!r:.200}"
    message_text = status.get("message", "")
    if not isinstance(message_text, str) or len(message_text) > MAX_MESSAGE_CHARS + 1:
        return f"the message is not a bounded string: {message_text!r:.200}"
    if not message_text.isprintable():
        return f"the message holds control characters: {message_text!r:.200}"
    infos = [d for d in status.get("details", []) if str(d.get("@type", "")).endswith("google.rpc.ErrorInfo")]
    if len(infos) != 1 or not infos[0].get("reason") or not infos[0].get("domain"):
        return f"no ErrorInfo with reason and domain: {status!r:.300}"
    return None


def status_problem(status: dict[str, Any]) -> str | None:
    """As status_shape_problem, and the code is neither INTERNAL nor UNKNOWN."""
    code = status.get("code")
    if code in NEVER_CODES:
        return f"{code_pb2.Code.Name(code)}: {status.get('message')!r:.300}"
    return status_shape_problem(status)


def rest_problem(
    status: int,
    content_type: str,
    body: bytes,
    ndjson: bool,
    judge: Callable[[dict[str, Any]], str | None] = status_problem,
) -> str | None:
    """What is wrong with a REST answer to hostile input, or None: a failure must be a Status JSON
    (never aiohttp's text, never INTERNAL/UNKNOWN); a success must be JSON (NDJSON for streams)."""
    try:
        if status >= 400:
            if content_type != "application/json":
                return f"HTTP {status} with {content_type}: {body[:200]!r}"
            return judge(json.loads(body))
        lines = body.splitlines() if ndjson else [body]
        for line in lines:
            parsed = json.loads(line)
            if ndjson and isinstance(parsed, dict) and "code" in parsed and "details" in parsed:
                return judge(parsed)  # the final line of a stream that failed
    except ValueError:
        return f"HTTP {status}: not JSON: {body[:200]!r}"
    return None
