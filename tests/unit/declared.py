"""Messages, enums and RPCs declared at test time, with the gateway's options, for the engine's unit tests.

A test writes the proto it needs in a few lines, close to how it reads in a .proto file:

    D = declare(
        "plan_entries",
        enum("Colour", ("COLOUR_UNSPECIFIED", None), ("COLOUR_RED", "red")),
        message("Inner", "string name", "optional int32 size"),
        message("Req", "string project_hash", field("string desc", wire_name="description"), "repeated Inner items"),
        rpc("Get", "Req", "Inner", op('v1: {query_type: "project" query_method: "GET"} access: ACCESS_READ')),
    )
    D["Req"](project_hash="p")                 # the message class
    D.plan(operation, "Req", "Inner")          # plan.CallPlan.build on the declared descriptors
    D.spec("Get")                              # the OperationSpec the catalogue would derive

The file is added to the default descriptor pool as `enginetest/<name>.proto`, package `enginetest.<name>`;
each name may be declared once per process.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from encord_gateway._generated.encord.gateway.v1 import options_pb2
from encord_gateway.operations import catalog, plan
from google.protobuf import (
    descriptor,
    descriptor_pb2,
    descriptor_pool,
    empty_pb2,
    message_factory,
    struct_pb2,
    text_format,
    timestamp_pb2,
)
from google.protobuf import message as protobuf_message
from google.rpc import status_pb2

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    "double": FDP.TYPE_DOUBLE,
    "float": FDP.TYPE_FLOAT,
    "int64": FDP.TYPE_INT64,
    "uint64": FDP.TYPE_UINT64,
    "int32": FDP.TYPE_INT32,
    "uint32": FDP.TYPE_UINT32,
    "bool": FDP.TYPE_BOOL,
    "string": FDP.TYPE_STRING,
    "bytes": FDP.TYPE_BYTES,
}
WELL_KNOWN = {
    module.DESCRIPTOR.name: module
    for module in (struct_pb2, timestamp_pb2, empty_pb2, status_pb2)  # imported so that their files are in the pool
}
SERVICE = "TestService"
_FIELD = re.compile(
    r"(?:(?P<label>optional|repeated)\s+)?(?:map<(?P<key>\w+),\s*(?P<value>[\w.]+)>|(?P<type>[\w.]+))"
    r"\s+(?P<name>\w+)(?:\s*=\s*(?P<number>\d+))?"
)


def op(text: str) -> options_pb2.Operation:
    """An `(operation)` option from its text form, exactly as it is written in a .proto file."""
    return text_format.Parse(text, options_pb2.Operation())


@dataclass(frozen=True)
class Field:
    """`[optional|repeated] type name [= number]` or `map<key, value> name`, with field options by name
    (`wire_name="x"`, `wire_time=options_pb2.TIMESTAMP_FORMAT_Z`, `wire_alias=["type"]`...)."""

    declaration: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


def field(declaration: str, **options: Any) -> Field:
    return Field(declaration, options)


@dataclass(frozen=True)
class Message:
    name: str
    fields: tuple[Field, ...]
    wire_tuple: bool = False


def message(name: str, *fields: str | Field, wire_tuple: bool = False) -> Message:
    return Message(name, tuple(f if isinstance(f, Field) else Field(f) for f in fields), wire_tuple)


@dataclass(frozen=True)
class Enum:
    """Values in number order from 0: (name, wire value or None for a value that is never sent)."""

    name: str
    values: tuple[tuple[str, str | None], ...]
    wire_integer: bool = False


def enum(name: str, *values: tuple[str, str | None], wire_integer: bool = False) -> Enum:
    return Enum(name, values, wire_integer)


@dataclass(frozen=True)
class Rpc:
    name: str
    request: str
    response: str  # a message of the file, or "google.protobuf.Empty"
    operation: options_pb2.Operation
    server_streaming: bool = False
    client_streaming: bool = False


def rpc(
    name: str,
    request: str,
    response: str,
    operation: options_pb2.Operation,
    *,
    server_streaming: bool = False,
    client_streaming: bool = False,
) -> Rpc:
    return Rpc(name, request, response, operation, server_streaming, client_streaming)


@dataclass(frozen=True)
class Declared:
    """A registered test file: its message classes, descriptors, plans and specs."""

    package: str
    file: descriptor.FileDescriptor

    def descriptor(self, name: str) -> Any:
        if name == "google.protobuf.Empty":
            return empty_pb2.Empty.DESCRIPTOR
        return self.file.pool.FindMessageTypeByName(f"{self.package}.{name}")

    def __getitem__(self, name: str) -> type[protobuf_message.Message]:
        return message_factory.GetMessageClass(self.descriptor(name))

    def plan(
        self, operation: options_pb2.Operation, request: str, response: str, *, server_streaming: bool = False
    ) -> plan.CallPlan:
        return plan.CallPlan.build(
            operation, self.descriptor(request), self.descriptor(response), server_streaming=server_streaming
        )

    def spec(self, rpc_name: str) -> catalog.OperationSpec:
        service = self.file.services_by_name[SERVICE]
        return catalog._spec(service.full_name, service.methods_by_name[rpc_name])


def rpc_full_name(name: str, rpc_name: str) -> str:
    """The full name of an RPC of `declare(name, ...)`, known before the file is declared (for `invalidates`)."""
    return f"enginetest.{name}.{SERVICE}.{rpc_name}"


def _type_name(package: str, name: str) -> str:
    return f".{name}" if name.startswith(("google.protobuf.", "google.rpc.")) else f".{package}.{name}"


def _set_options(options: Any, values: dict[str, Any]) -> None:
    for name, value in values.items():
        extension = getattr(options_pb2, name)
        if isinstance(value, list):
            options.Extensions[extension].extend(value)
        else:
            options.Extensions[extension] = value


def _add_field(
    msg: descriptor_pb2.DescriptorProto, spec: Field, number: int, package: str, enums: set[str], owner: str
) -> None:
    parsed = _FIELD.fullmatch(spec.declaration.strip())
    if parsed is None:
        raise ValueError(f"cannot read field declaration {spec.declaration!r}")
    name = parsed["name"]
    added = msg.field.add(name=name, number=int(parsed["number"] or number), json_name=_camel(name))
    if parsed["key"]:
        entry_name = "".join(part.title() for part in name.split("_")) + "Entry"
        entry = msg.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=SCALARS[parsed["key"]], json_name="key")
        _set_type(entry.field.add(name="value", number=2, json_name="value"), parsed["value"], package, enums)
        added.type, added.type_name = FDP.TYPE_MESSAGE, f".{package}.{owner}.{entry_name}"
        added.label = FDP.LABEL_REPEATED
    else:
        _set_type(added, parsed["type"], package, enums)
        if parsed["label"] == "repeated":
            added.label = FDP.LABEL_REPEATED
        elif parsed["label"] == "optional":
            added.proto3_optional = True
            added.oneof_index = len(msg.oneof_decl)
            msg.oneof_decl.add(name=f"_{name}")
    _set_options(added.options, spec.options)


def _set_type(added: descriptor_pb2.FieldDescriptorProto, type_name: str, package: str, enums: set[str]) -> None:
    if type_name in SCALARS:
        added.type = SCALARS[type_name]
    else:
        added.type = FDP.TYPE_ENUM if type_name in enums else FDP.TYPE_MESSAGE
        added.type_name = _type_name(package, type_name)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def declare(name: str, *parts: Message | Enum | Rpc) -> Declared:
    """Register a proto file of `parts` in the default pool (depending on options.proto and the
    well-known Struct, Timestamp and Empty) and return what tests need of it."""
    package = f"enginetest.{name}"
    file = descriptor_pb2.FileDescriptorProto(name=f"enginetest/{name}.proto", package=package, syntax="proto3")
    file.dependency.extend([options_pb2.DESCRIPTOR.name, *WELL_KNOWN])
    enums = {part.name for part in parts if isinstance(part, Enum)}
    service = None
    for part in parts:
        if isinstance(part, Enum):
            added_enum = file.enum_type.add(name=part.name)
            added_enum.options.Extensions[options_pb2.wire_integer] = part.wire_integer
            for number, (value_name, wire) in enumerate(part.values):
                value = added_enum.value.add(name=value_name, number=number)
                if wire is not None:
                    value.options.Extensions[options_pb2.wire_value] = wire
        elif isinstance(part, Message):
            msg = file.message_type.add(name=part.name)
            if part.wire_tuple:
                msg.options.Extensions[options_pb2.wire_tuple] = True
            for number, spec in enumerate(part.fields, start=1):
                _add_field(msg, spec, number, package, enums, part.name)
        else:
            service = service or file.service.add(name=SERVICE)
            method = service.method.add(
                name=part.name,
                input_type=_type_name(package, part.request),
                output_type=_type_name(package, part.response),
                server_streaming=part.server_streaming,
                client_streaming=part.client_streaming,
            )
            method.options.Extensions[options_pb2.operation].CopyFrom(part.operation)
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.Add(file)
        return Declared(package, pool.FindFileByName(file.name))
    raise ValueError(f"a test file named {name!r} is already declared; pick a unique name")
