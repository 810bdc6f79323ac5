"""Signed URLs the sandbox serves itself, as Encord's cloud buckets serve theirs: HMAC-signed, expiring links to blobs.

A signed URL is `<origin>/sandbox/blobs/<key>?expires=<unix seconds>&signature=<hex HMAC-SHA256>`. The HMAC covers
the key and the expiry under a secret of this process, so a link can be neither forged, nor stretched, nor pointed
at another blob, and it stops working when it expires (403, as a bucket answers). `<origin>` is the address the
client reached the sandbox at (its Host header), so a link works from wherever the API call came from. The blobs
themselves are records of the storage domain (kind `blob`), looked up by kind name.

Upload links (`signed_upload_url`) are signed for PUT as well, so that a download link cannot write and an upload
link cannot read. A PUT is checked as a bucket checks one: the signature and its expiry, the header the upload
URL was handed out with (`x-ms-blob-type: BlockBlob`, as Azure requires; §4.6), a Content-Length (no chunked
bodies, as S3), a size within MAX_UPLOAD_BYTES and, when sent, the Content-MD5; it answers 201, as Azure does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from contextvars import ContextVar
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from .appkeys import STORE
from .store import kind_named

PREFIX = "/sandbox/blobs/"
# Encord's links to label data last seven days (§9 item 23); callers cache reads for far less.
LIFETIME_SECONDS = 7 * 24 * 3600
CHUNK_BYTES = 64 * 1024
UPLOAD_LIFETIME_SECONDS = 3600
UPLOAD_HEADERS = {"x-ms-blob-type": "BlockBlob"}
"""What every upload URL is handed out with (`uploadHeaders`) and what its PUT must carry."""
PUT_WITH_HEADERS = "PUT+headers"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
"""The largest blob one PUT stores (the sandbox keeps blobs in its database)."""

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


def _signature(key: str, expires: int, method: str = "GET") -> str:
    signed = f"{key}\n{expires}" if method == "GET" else f"{method}\n{key}\n{expires}"
    return hmac.new(_SECRET, signed.encode(), hashlib.sha256).hexdigest()


def signed_url(key: str, lifetime_seconds: int = LIFETIME_SECONDS, method: str = "GET") -> str:
    """A link to blob `key` that works for `lifetime_seconds` from now (a negative lifetime: already expired)."""
    expires = int(time.time()) + lifetime_seconds
    extra = {"headers": "1"} if method == PUT_WITH_HEADERS else {}
    query = urllib.parse.urlencode({**extra, "expires": expires, "signature": _signature(key, expires, method)})
    return f"{_ORIGIN.get()}{PREFIX}{urllib.parse.quote(key, safe='/')}?{query}"


def signed_upload_url(key: str, lifetime_seconds: int = UPLOAD_LIFETIME_SECONDS, *, with_headers: bool = True) -> str:
    """A link that takes a PUT of the blob `key` for `lifetime_seconds` from now: one handed out with
    UPLOAD_HEADERS (the current API's) must be sent them; the seed-era links carried none."""
    return signed_url(key, lifetime_seconds, method=PUT_WITH_HEADERS if with_headers else "PUT")


def refusal(key: str, expires: str | None, signature: str | None, method: str = "GET") -> str | None:
    """Why a link to `key` must not be served (None when it may)."""
    if expires is None or signature is None or not expires.lstrip("-").isdigit():
        return "the link is not signed"
    if not hmac.compare_digest(signature, _signature(key, int(expires), method)):
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


def _bucket_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


async def put_blob(request: web.Request) -> web.Response:
    """An upload to a signed upload link: checked as a bucket checks it, then stored whole (see the module doc)."""
    key = request.match_info["key"]
    method = PUT_WITH_HEADERS if request.query.get("headers") == "1" else "PUT"  # the signature covers which
    problem = refusal(key, request.query.get("expires"), request.query.get("signature"), method=method)
    if problem is not None:
        return _bucket_error(403, "AuthenticationFailed", problem)
    for name, value in UPLOAD_HEADERS.items() if method == PUT_WITH_HEADERS else ():
        if request.headers.get(name) != value:
            return _bucket_error(400, "MissingRequiredHeader", f"the upload must carry {name}: {value}")
    if request.content_length is None:
        return _bucket_error(411, "MissingContentLength", "the upload must carry a Content-Length")
    if request.content_length > MAX_UPLOAD_BYTES:
        return _bucket_error(413, "RequestBodyTooLarge", f"a blob holds at most {MAX_UPLOAD_BYTES} bytes")
    content = await request.read()
    expected_md5 = request.headers.get("Content-MD5")
    if expected_md5 is not None and expected_md5 != base64.b64encode(hashlib.md5(content).digest()).decode():
        return _bucket_error(400, "Md5Mismatch", "the body does not match its Content-MD5")
    blob = kind_named("blob").cls(
        key=key,
        mime_type=request.headers.get("Content-Type") or "application/octet-stream",
        size=len(content),
        created_at=datetime.now(UTC),
        content=base64.b64encode(content).decode("ascii"),
    )
    store = request.app[STORE]
    with store.transaction():
        store.put(blob)
    return web.Response(status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX + "{key:.+}", get_blob)
    app.router.add_put(PREFIX + "{key:.+}", put_blob)
