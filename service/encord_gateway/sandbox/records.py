"""What records of every kind share: new ids, creation times, their two wire spellings, and secret digests."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def new_hash() -> str:
    return str(uuid.uuid4())


def digest(secret: str) -> str:
    """What the sandbox keeps of a secret it hands out (API keys, bearer tokens): never the secret itself."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def v1_time(value: datetime) -> str:
    """The legacy ORM parses exactly this format; an ISO `T` makes the SDK fail (§2.6)."""
    return value.strftime("%Y-%m-%d %H:%M:%S")


def v2_time(value: datetime) -> str:
    return value.isoformat()
