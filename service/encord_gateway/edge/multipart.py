"""A file stream over REST: a multipart/form-data body read part by part into the messages of the stream.

The first message is the path and query (where the files go). Each part with a filename is a file: a message
naming it (the declared name and content-type fields from the part's filename and Content-Type), then its bytes
in chunks as they arrive, never the whole part at once. A part of JSON without a filename gives more fields of
the file after it (its title, client metadata). Each read must arrive within the body timeout; the stream as a
whole may take as long as the operation's deadline allows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc
from aiohttp import BodyPartReader, MultipartReader, http_exceptions, web
from google.protobuf import message

from ..errors import GatewayError, invalid_argument
from ..operations.catalog import HttpRule, OperationSpec
from .transcode import parse_request, request_fields

CHUNK_BYTES = 256 * 1024
MAX_FIELDS_PART_BYTES = 64 * 1024
"""A JSON part holds a file's options, never its bytes."""

T = TypeVar("T")


async def _in_time(read: Awaitable[T], seconds: float) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await read
    except TimeoutError:
        raise GatewayError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"the request body stalled for more than {seconds:g} seconds",
            reason="REQUEST_BODY_TIMEOUT",
        ) from None
    except (http_exceptions.HttpProcessingError, ValueError):  # a broken multipart body or chunked encoding
        raise invalid_argument([("(body)", "is not a well-formed multipart/form-data body")]) from None
    except ConnectionError:
        raise GatewayError(
            grpc.StatusCode.CANCELLED, "the client went away while sending the body", reason="CLIENT_DISCONNECTED"
        ) from None


async def _fields_part(part: BodyPartReader, seconds: float) -> dict[str, Any]:
    raw = await _in_time(part.read(decode=False), seconds)
    if len(raw) > MAX_FIELDS_PART_BYTES:
        raise invalid_argument([("(body)", f"a JSON part is larger than {MAX_FIELDS_PART_BYTES} bytes")])
    try:
        fields = json.loads(raw)
    except ValueError:
        raise invalid_argument(
            [("(body)", "a part without a filename must be a JSON object of the file's fields")]
        ) from None
    if not isinstance(fields, dict):
        raise invalid_argument([("(body)", "a part without a filename must be a JSON object of the file's fields")])
    return fields


async def file_messages(
    spec: OperationSpec, rule: HttpRule, request: web.Request, seconds: float
) -> AsyncIterator[message.Message]:
    """The messages of a file stream, from the request's path, query and multipart body."""
    files = spec.plan.file_stream if spec.plan is not None else None
    assert files is not None, f"{spec.full_name} is not a file stream"
    yield parse_request(spec, request_fields(spec, rule, request.query, dict(request.match_info), None))
    if not request.content_type.startswith("multipart/"):
        raise invalid_argument([("(body)", "must be multipart/form-data, one part per file")])
    reader = await _in_time(request.multipart(), seconds)
    pending: dict[str, Any] = {}
    while True:
        part = await _in_time(reader.next(), seconds)
        if part is None:
            return
        if isinstance(part, MultipartReader):
            raise invalid_argument([("(body)", "nested multipart parts are not files")])
        if part.filename is None:
            pending = await _fields_part(part, seconds)
            continue
        fields = {**pending, files.name_field.name: part.filename}
        content_type = part.headers.get("Content-Type")
        if files.content_type_field is not None and content_type:
            fields.setdefault(files.content_type_field.name, content_type)
        pending = {}
        yield parse_request(spec, fields)
        while chunk := await _in_time(part.read_chunk(CHUNK_BYTES), seconds):
            piece = spec.request_class()
            setattr(piece, files.chunk_field.name, chunk)
            yield piece
