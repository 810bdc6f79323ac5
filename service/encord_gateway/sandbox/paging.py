"""v2 list pages: the page size a caller may ask for, and keyset page tokens."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .errors import invalid
from .operations import V2Call
from .store import record_id

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Tokens are keyset positions (created_at, id) rather than offsets, so a record created while a client
# pages never makes another appear twice or go missing.


def _encode_token(created_at: datetime, resource_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), resource_id]).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, resource_id = json.loads(raw)
        return datetime.fromisoformat(created), str(resource_id)
    except (binascii.Error, ValueError, TypeError):
        raise invalid("pageToken is not a token this server issued") from None


def page_size(call: V2Call) -> int:
    raw = call.query.get("pageSize")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise invalid(f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def page(call: V2Call, rows: Sequence[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """One page of `rows` (records in store order: created_at, then id) after the caller's pageToken."""
    token = call.query.get("pageToken")
    if token:
        position = _decode_token(token)
        rows = [r for r in rows if (r.created_at, record_id(r)) > position]
    size = page_size(call)
    chunk = rows[:size]
    next_token = _encode_token(chunk[-1].created_at, record_id(chunk[-1])) if len(rows) > size else None
    return {"results": [render(r) for r in chunk], "nextPageToken": next_token}
