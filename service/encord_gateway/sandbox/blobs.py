"""Signed URLs the sandbox serves itself, as Encord's cloud buckets serve theirs: HMAC-signed, expiring links to blobs.

A signed URL is `<origin>/sandbox/blobs/<key>?expires=<unix seconds>&signature=<hex HMAC-SHA256>`. The HMAC covers
the key and the expiry under a secret of this process, so a link can be neither forged, nor stretched, nor pointed
at another blob, and it stops working when it expires (403, as a bucket answers). `<origin>` is the address the
client reached the sandbox at (its Host header), so a link works from wherever the API call came from. The blobs
themselves are records of the storage domain (kind `blob`), looked up by kind name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from contextvars import ContextVar

from aiohttp import web
from aiohttp.typedefs import Handler

from .appkeys import STORE
from .store import kind_named

PREFIX = "/sandbox/blobs/"
# Encord's links to label data last seven days (§9 item 23); callers cache reads for far less.
LIFETIME_SECONDS = 7 * 24 * 3600
CHUNK_BYTES = 64 * 1024

# A new secret per process: links do not outlive the sandbox that signed them (they expire anyway).
_SECRET = secrets.token_bytes(32)
_ORIGIN: ContextVar[str] = ContextVar("sandbox_origin", default="http://127.0.0.1")


@web.middleware
async def remember_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Note where this request reached the sandbox, for the links its answer signs."""
    token = _ORIGIN.set(f"{request.scheme}://{request.host}")
    try:
        return await handler(request)
    finally:
        _ORIGIN.reset(token)


def _signature(key: str, expires: int) -> str:
    return hmac.new(_SECRET, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(key: str, lifetime_seconds: int = LIFETIME_SECONDS) -> str:
    """A link to blob `key` that works for `lifetime_seconds` from now (a negative lifetime: already expired)."""
    expires = int(time.time()) + lifetime_seconds
    query = urllib.parse.urlencode({"expires": expires, "signature": _signature(key, expires)})
    return f"{_ORIGIN.get()}{PREFIX}{urllib.parse.quote(key, safe='/')}?{query}"


def refusal(key: str, expires: str | None, signature: str | None) -> str | None:
    """Why a link to `key` must not be served (None when it may)."""
    if expires is None or signature is None or not expires.lstrip("-").isdigit():
        return "the link is not signed"
    if not hmac.compare_digest(signature, _signature(key, int(expires))):
        return "the signature does not match"
    if int(expires) < time.time():
        return "the link has expired"
    return None


async def get_blob(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    problem = refusal(key, request.query.get("expires"), request.query.get("signature"))
    if problem is not None:
        return web.json_response({"message": problem}, status=403)
    blob = request.app[STORE].get(kind_named("blob").cls, key)
    if blob is None:
        return web.json_response({"message": "no such object"}, status=404)
    response = web.StreamResponse(headers={"Content-Type": blob.mime_type, "Content-Length": str(blob.size)})
    await response.prepare(request)
    for chunk in blob.chunks(CHUNK_BYTES):
        await response.write(chunk)
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX + "{key:.+}", get_blob)
