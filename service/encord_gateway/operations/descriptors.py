"""Typed access to descriptors and our custom options.

The protobuf type stubs know neither the upb descriptor classes the runtime hands out nor the
extensions that protoc generates for options.proto, so descriptor-walking code types them here,
in one place, instead of sprinkling ignores.
"""

from __future__ import annotations

from typing import Any, TypeAlias

FieldDescriptor: TypeAlias = Any
MessageDescriptor: TypeAlias = Any
EnumDescriptor: TypeAlias = Any


def has_option(options: Any, extension: Any) -> bool:
    return bool(options.HasExtension(extension))


def option(options: Any, extension: Any) -> Any:
    return options.Extensions[extension]


def member(msg: Any, name: str) -> Any:
    """A field of a message known only by name (the type checker cannot see generated fields)."""
    return getattr(msg, name)


def set_member(msg: Any, name: str, value: Any) -> None:
    setattr(msg, name, value)
