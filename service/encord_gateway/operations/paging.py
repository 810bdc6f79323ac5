"""The gateway's page tokens (AIP-158): Encord's own token plus an offset into the page it answers.

Wrapping Encord's token lets the gateway honour `page_size` where Encord takes none (it slices the
page it got) and page listings Encord does not page at all. Tokens are opaque to callers; a token
the gateway did not issue is INVALID_ARGUMENT, never a call upstream.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from .. import jsontext
from ..errors import invalid_argument

MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class PagePosition:
    upstream_token: str  # "" for Encord's first page
    offset: int  # items of that page already returned


FIRST_PAGE = PagePosition("", 0)


def encode_token(position: PagePosition) -> str:
    raw = json.dumps([position.upstream_token, position.offset], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str) -> PagePosition:
    if not token:
        return FIRST_PAGE
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid_argument([("page_token", "is not a token this gateway issued")])
    try:
        raw: Any = jsontext.load(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):  # JsonRefused is a ValueError: deep, NaN, lone surrogates
        raw = None
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not isinstance(raw[0], str)
        or not isinstance(raw[1], int)
        or isinstance(raw[1], bool)
        or raw[1] < 0
    ):
        raise invalid_argument([("page_token", "is not a token this gateway issued")])
    return PagePosition(raw[0], raw[1])


def upstream_next_token(answer: Any) -> str:
    """Encord's next-page token (either spelling, §3.5); "" when the listing ends."""
    if not isinstance(answer, dict):
        return ""
    token = answer.get("nextPageToken", answer.get("next_page_token"))
    return token if isinstance(token, str) else ""
