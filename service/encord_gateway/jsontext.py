"""JSON and text from outside, within bounds: callers' bodies and Encord's answers, and text fit to show.

Python's json module accepts what JSON does not (NaN, Infinity, numbers that overflow to infinity),
produces strings no encoder will write back (lone surrogates from `"\\ud800"` escapes), and fails
with RecursionError on deep nesting. Each of those, let through, surfaces later as a crash far from
its cause; here they are refused where the text is read, with a reason a caller can act on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted. A google.protobuf.Struct spends up to three protobuf
levels per JSON level, and protobuf refuses messages deeper than 100: deeper JSON could be read but
not stored or sent on. Encord's deepest documents (nested classifications in label rows) use far fewer."""

# A `\uD800`-`\uDFFF` escape: the only way a JSON text can smuggle a surrogate into a Python string
# (raw bytes that are not UTF-8 already fail to decode).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SPACES = re.compile(r"\s+")


class JsonRefused(ValueError):
    """The text is not JSON the gateway accepts; `problem` says why, in words meant for the caller."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(f"holds {name}, which JSON does not allow")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("holds a number too large to represent")
    return value


def clean_text(text: str, limit: int) -> str:
    """Text fit to show a caller (in a status that travels as gRPC metadata, and into logs): control and
    other unprintable characters (lone surrogates too) become spaces, runs of whitespace one space, and
    at most `limit` characters are kept, an ellipsis marking the cut."""
    head = text[: limit + 1]
    printable = "".join(ch if ch.isprintable() else " " for ch in head)
    cleaned = _SPACES.sub(" ", printable).strip()
    if len(text) > limit or len(cleaned) > limit:
        return cleaned[:limit].rstrip() + "…"
    return cleaned


def is_text(value: str) -> bool:
    """True when `value` can be written as UTF-8 (it holds no lone surrogate)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_INNERMOST = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _may_be_deeper_than(encoded: bytes, max_depth: int) -> bool:
    """Whether the JSON text may nest deeper than `max_depth`, at C speed: everything but brackets dropped,
    then innermost pairs removed level by level; what is left after `max_depth` levels may nest deeper.
    Brackets inside strings only ever leave more behind, so False is certain and True is checked exactly."""
    brackets = encoded.translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = _INNERMOST.sub(b"", brackets)
    return bool(brackets)


def load(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `raw`, or raise JsonRefused: not JSON, nested deeper than `max_depth`, NaN or an infinite
    number, or a lone surrogate in a key or a string."""
    encoded = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused(f"is nested deeper than {max_depth} levels") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer with too many digits
        raise JsonRefused("is not valid JSON") from None
    # Fast paths: a text with fewer brackets than the bound cannot nest deeper, and one without a
    # surrogate escape cannot hold a lone surrogate; most texts need no walk at all.
    deep = encoded.count(b"[") + encoded.count(b"{") > max_depth and _may_be_deeper_than(encoded, max_depth)
    surrogates = _SURROGATE_ESCAPE.search(encoded) is not None
    if deep or surrogates:
        _check(value, max_depth, surrogates)
    return value


def _check(value: Any, max_depth: int, check_text: bool) -> None:
    """Walk the parsed value without recursion (it may be deep) checking depth and, if asked, text."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        members: Iterable[Any]
        if isinstance(item, dict):
            members = item.values()
            if check_text and not all(is_text(key) for key in item):
                raise JsonRefused("holds a key that is not valid Unicode (a lone surrogate)")
        elif isinstance(item, list):
            members = item
        else:
            if check_text and isinstance(item, str) and not is_text(item):
                raise JsonRefused("holds a string that is not valid Unicode (a lone surrogate)")
            continue
        if depth > max_depth:
            raise JsonRefused(f"is nested deeper than {max_depth} levels")
        for member in members:
            if isinstance(member, dict | list):
                stack.append((member, depth + 1))
            elif check_text and isinstance(member, str) and not is_text(member):
                raise JsonRefused("holds a string that is not valid Unicode (a lone surrogate)")
