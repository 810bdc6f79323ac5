"""Typed readers for untrusted JSON members: a bad shape is INVALID_ARGUMENTS_ERROR, never a crash."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import invalid

_MISSING = object()


def as_object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{what} must be a JSON object")
    return value


def text(fields: Mapping[str, Any], key: str, *, default: Any = _MISSING, non_empty: bool = False) -> str:
    value = fields.get(key, default)
    if value is _MISSING:
        raise invalid(f"'{key}' is required")
    if not isinstance(value, str):
        raise invalid(f"'{key}' must be a string")
    if non_empty and not value.strip():
        raise invalid(f"'{key}' must not be empty")
    return value


def optional_text(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"'{key}' must be a string")
    return value


def text_list(fields: Mapping[str, Any], key: str, *, default: list[str] | None = None) -> list[str]:
    value = fields.get(key)
    if value is None:
        if default is None:
            raise invalid(f"'{key}' is required")
        return list(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"'{key}' must be a list of strings")
    return list(value)


def flag(fields: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(f"'{key}' must be true or false")
    return value


def integer(fields: Mapping[str, Any], key: str, *, choices: range, default: int | None = None) -> int:
    value = fields.get(key, default)
    if value is None:
        raise invalid(f"'{key}' is required")
    # bool is an int subclass in Python; `true` is not a storage type.
    if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
        raise invalid(f"'{key}' must be an integer from {choices.start} to {choices.stop - 1}")
    return value


def editor(value: Any) -> dict[str, Any]:
    """An ontology `editor` (§7.12); stored verbatim, but it must be readable by the SDK later."""
    if not isinstance(value, dict):
        raise invalid("'editor' must be a JSON object")
    for key in ("objects", "classifications"):
        if not isinstance(value.get(key, []), list):
            raise invalid(f"'editor.{key}' must be a list")
    return {"objects": [], "classifications": [], **value}
