"""Listing filters shared by the v2 query strings and the legacy v1 `filter` payloads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from .errors import ApiError

if TYPE_CHECKING:
    from .resources import Resource


def parse_datetime(name: str, text: str) -> datetime:
    """Accept `...Z`, `...+00:00`, naive ISO (taken as UTC) and `YYYY-MM-DD HH:MM:SS` (§3.2)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ApiError("INVALID_DATE_FORMAT_ERROR", f"{name}: {text!r} is not an ISO 8601 datetime") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern[str]:
    # SQL LIKE: `%` any run, `_` one character, backslash escapes the next character; everything else literal.
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def sql_like(value: str, pattern: str) -> bool:
    return _like_regex(pattern).fullmatch(value) is not None


@dataclass(frozen=True)
class ListFilter:
    title_eq: str | None = None
    title_like: str | None = None
    desc_eq: str | None = None
    desc_like: str | None = None
    created_before: datetime | None = None
    created_after: datetime | None = None
    edited_before: datetime | None = None
    edited_after: datetime | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, object], names: Mapping[str, str]) -> ListFilter:
        """Build from wire fields; `names` maps each attribute to its wire spelling."""
        values: dict[str, object] = {}
        for attr, wire in names.items():
            raw = fields.get(wire)
            if raw is None:
                continue
            if not isinstance(raw, str):
                raise ApiError("INVALID_ARGUMENTS_ERROR", f"{wire} must be a string")
            values[attr] = parse_datetime(wire, raw) if attr.endswith(("_before", "_after")) else raw
        return cls(**values)  # type: ignore[arg-type]

    def matches(self, record: Resource) -> bool:
        checks = (
            self.title_eq is None or record.title == self.title_eq,
            self.title_like is None or sql_like(record.title, self.title_like),
            self.desc_eq is None or record.description == self.desc_eq,
            self.desc_like is None or sql_like(record.description, self.desc_like),
            self.created_before is None or record.created_at < self.created_before,
            self.created_after is None or record.created_at > self.created_after,
            self.edited_before is None or record.last_edited_at < self.edited_before,
            self.edited_after is None or record.last_edited_at > self.edited_after,
        )
        return all(checks)


_ATTRS = (
    "title_eq",
    "title_like",
    "desc_eq",
    "desc_like",
    "created_before",
    "created_after",
    "edited_before",
    "edited_after",
)

# Wire spellings: v1 payload filters are the attribute names; v2 uses camelCase, and `datasets/list`
# spells the description filters out in full (U-06).
V1_NAMES: dict[str, str] = {a: a for a in _ATTRS}
V2_NAMES: dict[str, str] = {
    "title_eq": "titleEq",
    "title_like": "titleLike",
    "desc_eq": "descEq",
    "desc_like": "descLike",
    "created_before": "createdBefore",
    "created_after": "createdAfter",
    "edited_before": "editedBefore",
    "edited_after": "editedAfter",
}
V2_DATASET_NAMES: dict[str, str] = {**V2_NAMES, "desc_eq": "descriptionEq", "desc_like": "descriptionLike"}
