"""File streams: a bidirectional stream of files, each run through the operation's steps once (options.proto).

The client's messages are read in order: the first carries the call's fields, a message naming a file starts it,
and chunks carry its bytes. Each file is spooled (in memory up to a bound, then in a temporary file) so that
memory does not grow with file size and a transfer can be repeated; once a file has all its bytes, its steps run
in a task of their own while the next file is read, up to `concurrency` at once. What the steps emit, and each
file's failure, streams back as messages numbered with the file's position.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

import aiohttp
import grpc
from google.protobuf import descriptor, message

from .._generated.encord.gateway.v1 import options_pb2
from ..errors import GatewayError, invalid_argument
from ..upstream.calls import WireCall
from ..upstream.errors import malformed
from . import transfers, validate
from .descriptors import FieldDescriptor, MessageDescriptor
from .plan import CallPlan, Entry, PlanError, StepPlan, build_object, parse_result_entry
from .refs import MISSING, ReferenceError, Scope
from .wiremap import MalformedUpstreamResult, decode_value

FD = descriptor.FieldDescriptor
log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 256 * 1024

Send = Callable[[WireCall], Awaitable[Any]]
Pause = Callable[[float, StepPlan], Awaitable[None]]
Prepare = Callable[[message.Message], message.Message]


# ---- the declaration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileStreamPlan:
    name_field: FieldDescriptor
    chunk_field: FieldDescriptor
    call_fields: tuple[FieldDescriptor, ...]
    content_type_field: FieldDescriptor | None
    max_file_bytes: int
    max_files: int
    concurrency: int
    memory_bytes: int
    index_field: FieldDescriptor
    error_field: FieldDescriptor | None
    progress_fields: tuple[Entry, ...]


def _field(msg: MessageDescriptor, name: str, kinds: Sequence[int], what: str) -> FieldDescriptor:
    field = msg.fields_by_name.get(name)
    if field is None or field.type not in kinds or field.is_repeated:
        raise PlanError(f"{msg.full_name}: {what} {name!r} is not a singular field of the right type")
    return field


def _call_field(msg: MessageDescriptor, name: str) -> FieldDescriptor:
    field = msg.fields_by_name.get(name)
    if field is None:
        raise PlanError(f"{msg.full_name} has no call field {name!r}")
    return field


def file_stream_plan(
    operation: options_pb2.Operation, request: MessageDescriptor, response: MessageDescriptor, steps: Sequence[StepPlan]
) -> FileStreamPlan:
    spec = operation.file_stream
    name = request.full_name
    if operation.HasField("client_stream") or operation.HasField("paging") or operation.HasField("chunking"):
        raise PlanError(f"{name}: a file stream neither assembles, pages nor chunks")
    if not operation.steps or any(step.for_each is not None for step in steps):
        raise PlanError(f"{name}: a file stream runs steps (not for_each ones) for every file")
    if not (spec.max_file_bytes and spec.max_files and spec.concurrency and spec.memory_bytes):
        raise PlanError(f"{name}: a file stream needs max_file_bytes, max_files, concurrency and memory_bytes")
    integers = (FD.TYPE_UINT32, FD.TYPE_INT32, FD.TYPE_UINT64, FD.TYPE_INT64)
    error_field = None
    if spec.error_field:
        error_field = _field(response, spec.error_field, (FD.TYPE_MESSAGE,), "error field")
        if error_field.message_type.full_name != "google.rpc.Status":
            raise PlanError(f"{response.full_name}: error field {spec.error_field!r} is not a google.rpc.Status")
    plan = FileStreamPlan(
        name_field=_field(request, spec.name_field, (FD.TYPE_STRING,), "name field"),
        chunk_field=_field(request, spec.chunk_field, (FD.TYPE_BYTES,), "chunk field"),
        call_fields=tuple(_call_field(request, call) for call in spec.call_fields),
        content_type_field=(
            _field(request, spec.content_type_field, (FD.TYPE_STRING,), "content type field")
            if spec.content_type_field
            else None
        ),
        max_file_bytes=spec.max_file_bytes,
        max_files=spec.max_files,
        concurrency=spec.concurrency,
        memory_bytes=spec.memory_bytes,
        index_field=_field(response, spec.index_field, integers, "index field"),
        error_field=error_field,
        progress_fields=tuple(
            parse_result_entry(raw, response, f"{name} progress_fields") for raw in spec.progress_fields
        ),
    )
    reserved = {plan.name_field.name, plan.chunk_field.name}
    if reserved & {f.name for f in plan.call_fields}:
        raise PlanError(f"{name}: the name and chunk fields belong to files, not to the call")
    names = {s.name for s in steps}
    for entry in plan.progress_fields:
        try:
            assert entry.source.reference is not None
            entry.source.reference.check(request, names)
        except ReferenceError as exc:
            raise PlanError(f"{name} progress_fields: {exc}") from None
    return plan


# ---- spooling ------------------------------------------------------------------------------------


class FileTooLarge(Exception):
    pass


def _temporary_file() -> IO[bytes]:
    return tempfile.TemporaryFile(prefix="encord-gateway-upload-")  # closed, and so removed, by Spool.close


class Spool:
    """One file's bytes: in memory up to `memory_bytes`, then in a temporary file deleted on close."""

    def __init__(self, memory_bytes: int, max_bytes: int) -> None:
        self._memory_bytes = memory_bytes
        self._max_bytes = max_bytes
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None
        self._hash = hashlib.sha256()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    async def write(self, data: bytes) -> None:
        if self._size + len(data) > self._max_bytes:
            raise FileTooLarge
        self._size += len(data)
        self._hash.update(data)
        if self._file is None and len(self._buffer) + len(data) <= self._memory_bytes:
            self._buffer += data
            return
        if self._file is None:
            self._file = await asyncio.to_thread(_temporary_file)
            await asyncio.to_thread(self._file.write, bytes(self._buffer))
            self._buffer = bytearray()
        await asyncio.to_thread(self._file.write, data)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes from the start, however often asked."""
        if self._file is None:
            view = memoryview(self._buffer)
            for start in range(0, len(view), READ_CHUNK_BYTES):
                yield bytes(view[start : start + READ_CHUNK_BYTES])
            return
        handle = self._file
        await asyncio.to_thread(handle.seek, 0)
        while chunk := await asyncio.to_thread(handle.read, READ_CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        self._buffer = bytearray()
        if self._file is not None:
            self._file.close()  # a TemporaryFile: closing removes it
            self._file = None


@dataclass
class IncomingFile:
    """A file read whole (or refused): its position, the request its steps see, its bytes."""

    index: int
    request: message.Message
    spool: Spool
    error: GatewayError | None = None


def _set_fields(msg: message.Message) -> list[str]:
    return [field.name for field, _ in msg.ListFields()]


def _file_request(plan: FileStreamPlan, first: message.Message, starting: message.Message) -> message.Message:
    """What a file's steps see: the message that started it, without bytes, with the call's fields."""
    request = type(starting)()
    request.CopyFrom(starting)
    request.ClearField(plan.chunk_field.name)
    for field in plan.call_fields:
        request.ClearField(field.name)
        if field.type == FD.TYPE_MESSAGE:
            if first.HasField(field.name):
                getattr(request, field.name).CopyFrom(getattr(first, field.name))
        elif not field.has_presence or first.HasField(field.name):
            setattr(request, field.name, getattr(first, field.name))
    return request


async def read_files(
    plan: FileStreamPlan, first: message.Message, rest: AsyncIterator[message.Message]
) -> AsyncGenerator[IncomingFile, None]:
    """The files of the stream, each once all its bytes have arrived; INVALID_ARGUMENT for a stream that breaks
    the protocol (bytes before any file, call fields after the first message, too many files)."""
    calls = {field.name for field in plan.call_fields}
    name, chunk_name = plan.name_field.name, plan.chunk_field.name
    current: IncomingFile | None = None
    count = 0
    position = 0
    received: message.Message | None = first
    try:
        while received is not None:
            starts = bool(getattr(received, name))
            if starts and current is not None:
                yield current  # whole: whatever this message holds, it is not more of that file
                current = None
            if position > 0 and (late := sorted(calls & set(_set_fields(received)))):
                raise invalid_argument([(f"[{position}].{late[0]}", "only the first message may set it")])
            if starts:
                if count >= plan.max_files:
                    raise invalid_argument(
                        [(f"[{position}].{name}", f"a stream carries at most {plan.max_files} files")]
                    )
                current = IncomingFile(
                    count, _file_request(plan, first, received), Spool(plan.memory_bytes, plan.max_file_bytes)
                )
                count += 1
            elif position > 0 and (extra := [f for f in _set_fields(received) if f != chunk_name]):
                raise invalid_argument(
                    [(f"[{position}].{extra[0]}", f"only {chunk_name} may follow a file's first message")]
                )
            chunk = getattr(received, chunk_name)
            if chunk:
                if current is None:
                    raise invalid_argument(
                        [(f"[{position}].{chunk_name}", f"bytes must follow a message that sets {name}")]
                    )
                if current.error is None:
                    try:
                        await current.spool.write(chunk)
                    except FileTooLarge:
                        current.error = invalid_argument(
                            [(chunk_name, f"the file is larger than {plan.max_file_bytes} bytes")]
                        )
                        current.spool.close()  # the rest of its bytes are read and dropped
            position += 1
            received = await anext(rest, None)
        if current is not None:
            yield current
            current = None
    finally:
        if current is not None:  # not handed over: a stream broken off, or a caller gone
            current.spool.close()


# ---- running ------------------------------------------------------------------------------------


@dataclass
class FileRun:
    """What a file's steps need besides the plan: how to call Encord, pace polls, bound long polls."""

    plan: CallPlan
    send: Send
    pause: Pause
    prepare: Prepare
    session: aiohttp.ClientSession
    deadline: float
    response_class: type[message.Message]


def _progress(run: FileRun, index: int, scope: Scope, error: GatewayError | None) -> message.Message:
    files = run.plan.file_stream
    assert files is not None
    try:
        built = build_object(files.progress_fields, scope, camel=False, keep_nulls=False)
        progress = decode_value(run.response_class, built)
    except MalformedUpstreamResult as exc:
        raise malformed(str(exc), label="file stream progress") from None
    setattr(progress, files.index_field.name, index)
    if error is not None and files.error_field is not None:
        getattr(progress, files.error_field.name).CopyFrom(error.to_status())
    return progress


async def _renew(run: FileRun, scope: Scope, name: str) -> None:
    step = next(s for s in run.plan.steps if s.name == name)
    try:
        call = run.plan.build_call(step, scope)
    except MalformedUpstreamResult as exc:
        raise malformed(str(exc), label=step.label) from None
    scope.results[name] = await run.send(call)


async def _answer(run: FileRun, step: StepPlan, scope: Scope, body: transfers.Body) -> Any:
    if step.transfer is not None:
        return await transfers.send(
            run.session, step.transfer, scope, body, run.deadline, lambda name: _renew(run, scope, name)
        )
    try:
        call = run.plan.build_call(step, scope)
    except MalformedUpstreamResult as exc:
        raise malformed(str(exc), label=step.label) from None
    return await run.send(call)


async def run_file(run: FileRun, incoming: IncomingFile, emit: Callable[[message.Message], Awaitable[None]]) -> None:
    """One file through the steps, in order (conditions, requirements and poll loops as a composite's); what its
    emitting steps produce, and its failure, are passed to `emit`."""
    scope = run.plan.scope(incoming.request)
    try:
        if incoming.error is not None:
            raise incoming.error
        validate.validate(incoming.request)
        for step in run.plan.steps:
            if not step.runs(scope):
                continue
            while True:
                started = time.monotonic()
                scope.request = run.prepare(scope.request)
                scope.results[step.name] = await _answer(run, step, scope, incoming.spool)
                if step.emit:
                    await emit(_progress(run, incoming.index, scope, None))
                if step.repeat_until is None or step.repeat_until.holds(scope):
                    break
                await run.pause(started, step)
            if step.require is not None and step.require.resolve(scope) is MISSING:
                raise GatewayError(grpc.StatusCode.NOT_FOUND, step.require_message, reason="NOT_FOUND")
    except GatewayError as error:
        await emit(_progress(run, incoming.index, scope, error))
    finally:
        incoming.spool.close()


_DONE = object()


async def run_files(
    run: FileRun, first: message.Message, rest: AsyncIterator[message.Message]
) -> AsyncIterator[message.Message]:
    """Every message about every file of the stream, as they come. A stream that breaks the protocol ends with
    its error once the files read before it have finished; a caller that goes away cancels what is running."""
    files = run.plan.file_stream
    assert files is not None
    # Unbounded: a file's steps never wait for the client to read (a few small messages per file), so the next
    # file keeps being read even from a client that sends its whole body before it reads the answer.
    queue: asyncio.Queue[Any] = asyncio.Queue()
    slots = asyncio.Semaphore(files.concurrency)
    started: list[asyncio.Task[None]] = []  # at most max_files

    async def one(incoming: IncomingFile) -> None:
        try:
            await run_file(run, incoming, queue.put)
        finally:
            slots.release()

    async def produce() -> None:
        failure: BaseException | None = None
        try:
            async with contextlib.aclosing(read_files(files, first, rest)) as incoming_files:
                async for incoming in incoming_files:
                    try:
                        await slots.acquire()
                    except BaseException:
                        incoming.spool.close()
                        raise
                    started.append(asyncio.create_task(one(incoming)))
        except GatewayError as error:
            failure = error  # the files read before it still finish and report
        for task in started:
            try:
                await task
            except Exception as error:  # a bug in a file's steps: the stream fails with it, after the others
                failure = error
        await queue.put(failure if failure is not None else _DONE)

    producer = asyncio.create_task(produce())
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        unfinished = [task for task in started if not task.done()]
        if unfinished:  # the caller went away: nobody is left to tell which files were not (fully) uploaded
            log.warning("a file stream was cancelled with %d file(s) still being uploaded", len(unfinished))
        for task in [producer, *started]:
            task.cancel()
        for task in [producer, *started]:
            with contextlib.suppress(BaseException):
                await task
