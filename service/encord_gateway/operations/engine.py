"""Executes an OperationSpec: consult the cache, resolve the credential, run the plan's wire calls, map back.

One engine runs every shape the declarations allow: a single call, a composite (steps bound to
earlier answers, with conditions, requirements and poll loops), chunked calls, paged listings, long
polls, server streams (all pages of a listing, or what a composite's steps emit) and client streams
(assembled into one request).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf import message

from ..cache.backend import CacheBackend, CacheKey
from ..errors import GatewayError, invalid_argument
from ..telemetry.metrics import Metrics
from ..upstream.calls import WireCall
from ..upstream.client import UpstreamClient
from ..upstream.credentials import Credential, CredentialResolver
from ..upstream.errors import malformed, upstream_error
from . import filestream, transfers
from .catalog import OperationSpec
from .descriptors import member, set_member
from .paging import PagePosition, decode_token, encode_token, upstream_next_token
from .plan import ANSWER, EACH, ITEM, LAST, CallPlan, ForEach, StepPlan, build_object
from .refs import MISSING, Scope
from .wiremap import MalformedUpstreamResult, decode_value

if TYPE_CHECKING:
    from .results import ResultStep

REPEAT_MIN_INTERVAL = 1.0
"""Seconds between the starts of two polls of a repeated step: Encord answers a poll at once when the
job is done or when asked not to wait, and a loop must not hammer it."""
LONG_POLL_MARGIN = 1.0
"""Seconds of the caller's deadline kept free when telling Encord how long it may hold a long poll,
so that its answer still arrives in time."""


@dataclass(frozen=True)
class CallContext:
    """Who is calling, for which organisation, and until when (absolute `time.monotonic()`)."""

    caller: str
    organisation: str
    deadline: float


@dataclass(frozen=True)
class Outcome:
    response: message.Message
    cache: str | None  # "hit", "miss", or None for calls that are not cached


CredentialObserver = Callable[[CallContext, OperationSpec, Credential, str], Awaitable[None]]


class LocalStep(Protocol):
    """Python a plan runs between its wire calls (options.proto: a step's `local`, or its `emit_handler`).

    Both run in a worker thread (a conversion may take a while), on plain JSON values.
    """

    def compute(self, scope: Scope) -> Any:
        """A `local` step's answer, from the request and the earlier answers in `scope`."""
        ...

    def emit(self, chunk: list[Any], answer: Any, scope: Scope, state: dict[str, Any]) -> list[Any]:
        """An `emit_handler`'s messages (JSON objects) for one chunk of a for_each step and its answer
        (MISSING when the chunk's `when` did not hold); `state` is kept across the chunks of one call."""
        ...


@dataclass
class _Run:
    """The state of one execution of a plan: what references see, and the last answer."""

    scope: Scope
    last: Any = MISSING
    handler_state: dict[str, dict[str, Any]] = dataclass_field(default_factory=dict)  # per emit_handler


class Engine:
    """The one code path every RPC takes, whatever its edge (gRPC or REST)."""

    def __init__(
        self,
        upstream: UpstreamClient,
        credentials: CredentialResolver,
        cache: CacheBackend,
        metrics: Metrics,
        steps: Mapping[str, ResultStep] | None = None,
        local_steps: Mapping[str, LocalStep] | None = None,
    ) -> None:
        self._steps: Mapping[str, ResultStep] = steps or {}
        self._local_steps: Mapping[str, LocalStep] = local_steps or {}
        self._upstream = upstream
        self._credentials = credentials
        self._cache = cache
        self._metrics = metrics
        self.observer: CredentialObserver | None = None  # told of every upstream use of a credential

    # ---- unary ----------------------------------------------------------------------------------

    async def execute(self, spec: OperationSpec, request: message.Message, ctx: CallContext) -> Outcome:
        """Run a validated, authorised upstream operation."""
        step = self._step(spec)
        if step is not None:
            step.check(spec, request)
        credential = await self._credentials.resolve(ctx.organisation, spec, request)
        if spec.cache_ttl <= 0:
            response = await self._observed(spec, ctx, credential, self._unary(spec, request, ctx, credential))
            await self._invalidate(spec, ctx)
            return Outcome(response, None)

        key = CacheKey(
            ctx.organisation, spec.full_name, credential.credential_id, request.SerializeToString(deterministic=True)
        )
        cached = await self._cache.get(key)
        counter = self._metrics.cache_requests
        if cached is not None:
            counter.labels(spec.service, spec.method, "hit").inc()
            return Outcome(spec.response_class.FromString(cached), "hit")
        counter.labels(spec.service, spec.method, "miss").inc()
        # Noted before fetching: a write that invalidates this method meanwhile makes `put` refuse the answer.
        generation = await self._cache.generation(ctx.organisation, spec.full_name)

        async def fetch(deadline: float) -> bytes:
            # Runs detached from this caller (see cache.backend): the deadline is the flight's, not ours.
            flight = replace(ctx, deadline=deadline)
            response = await self._observed(spec, flight, credential, self._unary(spec, request, flight, credential))
            value = response.SerializeToString()
            await self._cache.put(key, value, spec.cache_ttl, generation)
            return value

        value, _ = await self._cache.coalesce(key, generation, fetch, ctx.deadline)
        return Outcome(spec.response_class.FromString(value), "miss")

    async def _unary(
        self, spec: OperationSpec, request: message.Message, ctx: CallContext, credential: Credential
    ) -> message.Message:
        plan = _plan(spec)
        request = _prepared(plan, request, ctx)
        if plan.paging is not None:
            return await self._page(spec, plan, request, ctx, credential)
        if plan.chunking is not None:
            run = _Run(plan.scope(request), await self._chunked(plan, request, ctx, credential))
        else:
            run = _Run(plan.scope(request))
            async for _ in self._walk(plan, run, ctx, credential, None):
                pass
        return await self._respond(spec, plan, run, request, ctx)

    async def _respond(
        self, spec: OperationSpec, plan: CallPlan, run: _Run, request: message.Message, ctx: CallContext
    ) -> message.Message:
        _raise_union_error(plan, run, spec)
        step = self._step(spec)
        if step is not None:
            return await step.finish(spec, run.last, request, ctx)
        try:
            return plan.response(spec.response_class, None if run.last is MISSING else run.last, request, run.scope)
        except MalformedUpstreamResult as exc:
            raise malformed(str(exc), label=spec.full_name) from None

    # ---- server streams -------------------------------------------------------------------------

    async def stream(
        self, spec: OperationSpec, request: message.Message, ctx: CallContext
    ) -> AsyncIterator[message.Message]:
        """A server-streaming RPC: every item of every page, or every message a composite's steps emit."""
        credential = await self._credentials.resolve(ctx.organisation, spec, request)
        plan = _plan(spec)
        request = _prepared(plan, request, ctx)
        outcome = "CANCELLED"  # unless the stream ends one way or the other
        try:
            if plan.paging is not None:
                async for item in self._all_pages(spec, plan, request, ctx, credential):
                    yield item
            else:
                run = _Run(plan.scope(request))
                async for item in self._walk(plan, run, ctx, credential, spec.response_class):
                    yield item
                _raise_union_error(plan, run, spec)
            outcome = "OK"
        except GatewayError as error:
            outcome = error.code.name
            raise
        finally:
            await self._observe(ctx, spec, credential, outcome)
        await self._invalidate(spec, ctx)

    # ---- file streams (operations/filestream.py) ------------------------------------------------

    async def file_stream(
        self,
        spec: OperationSpec,
        first: message.Message,
        rest: AsyncIterator[message.Message],
        ctx: CallContext,
    ) -> AsyncIterator[message.Message]:
        """A bidirectional stream of files: each file's steps, and what they emit, as the files arrive."""
        credential = await self._credentials.resolve(ctx.organisation, spec, first)
        plan = _plan(spec)

        async def send(call: WireCall) -> Any:
            return await self._send(call, credential, ctx)

        async def pause(started: float, step: StepPlan) -> None:
            await _pause(started, ctx, plan, step)

        outcome = "CANCELLED"
        try:
            async with transfers.new_session() as session:
                run = filestream.FileRun(
                    plan, send, pause, lambda request: _prepared(plan, request, ctx), session, ctx.deadline,
                    spec.response_class,
                )  # fmt: skip
                async for item in filestream.run_files(run, first, rest):
                    yield item
            outcome = "OK"
        except GatewayError as error:
            outcome = error.code.name
            raise
        finally:
            await self._observe(ctx, spec, credential, outcome)
        await self._invalidate(spec, ctx)

    async def _transfer(
        self, plan: CallPlan, step: StepPlan, scope: Scope, ctx: CallContext, credential: Credential
    ) -> Any:
        """A transfer step outside a file stream: the bytes of its body_field (see operations/transfers.py)."""
        transfer = step.transfer
        assert transfer is not None and transfer.body_field is not None

        async def renew(name: str) -> None:
            earlier = next(s for s in plan.steps if s.name == name)
            scope.results[name] = await self._send(_build(plan, earlier, scope), credential, ctx)

        body = transfers.BytesBody(getattr(scope.request, transfer.body_field.name))
        async with transfers.new_session() as session:
            return await transfers.send(session, transfer, scope, body, ctx.deadline, renew)

    # ---- plans ----------------------------------------------------------------------------------

    async def _send(self, call: WireCall, credential: Credential, ctx: CallContext) -> Any:
        return await self._upstream.send(call, credential, ctx.deadline)

    async def _walk(
        self,
        plan: CallPlan,
        run: _Run,
        ctx: CallContext,
        credential: Credential,
        emit_class: type[message.Message] | None,
    ) -> AsyncIterator[message.Message]:
        """Run the steps in order; yields what emitting steps produce when `emit_class` is given."""
        for step in plan.steps:
            if step.for_each is not None:
                async for item in self._each(plan, step, run, ctx, credential, emit_class):
                    yield item
                continue
            if not step.runs(run.scope):
                continue
            while True:
                started = time.monotonic()
                # A poll loop's wait is bounded by what is left of the deadline at each poll, not at the first.
                run.scope.request = _prepared(plan, run.scope.request, ctx)
                if step.local:
                    answer = await asyncio.to_thread(self._local_steps[step.local].compute, run.scope)
                elif step.transfer is not None:
                    answer = await self._transfer(plan, step, run.scope, ctx, credential)
                else:
                    answer = await self._send(_build(plan, step, run.scope), credential, ctx)
                if step.name:
                    run.scope.results[step.name] = answer
                run.last = answer
                if emit_class is not None and step.emit:
                    for item in _emitted(step, run, answer, emit_class, plan):
                        yield item
                if step.repeat_until is None or step.repeat_until.holds(run.scope):
                    break
                await _pause(started, ctx, plan, step)
            if step.require is not None and step.require.resolve(run.scope) is MISSING:
                raise GatewayError(grpc.StatusCode.NOT_FOUND, step.require_message, reason="NOT_FOUND")

    async def _each(
        self,
        plan: CallPlan,
        step: StepPlan,
        run: _Run,
        ctx: CallContext,
        credential: Credential,
        emit_class: type[message.Message] | None,
    ) -> AsyncIterator[message.Message]:
        """A for_each step: one call per chunk of a list from an earlier answer, in order; with emit_fields, one
        message per element of the list, joined with its chunk's answer.

        While a chunk's messages go out, the next chunk's call is already on its way (the calls still leave in
        order, one ahead at most), so Encord's time and the gateway's overlap.
        """
        for_each = step.for_each
        assert for_each is not None
        values = _ordered(for_each, run.scope, plan)
        scope, batch = run.scope, for_each.batch
        size = batch.size or max(1, len(values))
        gathered: list[Any] = []
        if for_each.gather and step.name:
            scope.results[step.name] = gathered  # every chunk's answer, joined as they come

        def prepared(start: int) -> tuple[list[Any], asyncio.Task[Any] | None]:
            """The chunk from `start` and its call, sent at once (None when its `when` does not hold)."""
            chunk = values[start : start + size]
            scope.results[EACH] = chunk
            if not chunk or not step.runs(scope):
                return chunk, None
            call = _build(plan, step, scope)
            return chunk, asyncio.ensure_future(self._send(call, credential, ctx))

        start = 0
        chunk, pending = prepared(start)
        try:
            while chunk:
                answer: Any = MISSING
                if pending is not None:
                    try:
                        answer = await pending
                    except GatewayError as error:
                        smaller = _smaller_chunk(error, batch.limit_error, batch.limit_key, batch.limit_fallback, size)
                        if smaller is None:
                            raise
                        size = smaller
                        chunk, pending = prepared(start)
                        continue
                following, pending = prepared(start + len(chunk))
                scope.results[EACH] = chunk
                scope.indexes.clear()  # lookups into the last chunk's answer; keeping them would keep the answer
                if for_each.gather:
                    if answer is not MISSING:
                        gathered.extend(answer if isinstance(answer, list) else [answer])
                elif step.name:
                    scope.results[step.name] = answer
                run.last = answer if answer is not MISSING else run.last
                if emit_class is not None and step.emit:
                    if for_each.emit_handler:
                        handler = self._local_steps[for_each.emit_handler]
                        state = run.handler_state.setdefault(for_each.emit_handler, {})
                        for value in await asyncio.to_thread(handler.emit, chunk, answer, scope, state):
                            yield _decoded(emit_class, value, step)
                    elif for_each.emit_fields:
                        for item in chunk:
                            yield _joined(for_each, scope, item, answer, emit_class, step)
                    elif answer is not MISSING:
                        for emitted in _emitted(step, run, answer, emit_class, plan):
                            yield emitted
                start += len(chunk)
                chunk = following
        finally:
            if pending is not None and not pending.done():
                pending.cancel()  # the stream ended early (an error, or the caller went away)
                with contextlib.suppress(asyncio.CancelledError, GatewayError):
                    await pending
        for name in (EACH, ITEM, ANSWER):
            scope.results.pop(name, None)

    async def _chunked(self, plan: CallPlan, request: message.Message, ctx: CallContext, credential: Credential) -> Any:
        """Split the chunked fields into calls of at most `size` items, in order; merge the answers."""
        chunking = plan.chunking
        assert chunking is not None
        lists = [list(getattr(request, f.name)) for f in chunking.fields]
        total = len(lists[0])
        if any(len(values) != total for values in lists):
            names = ", ".join(f.name for f in chunking.fields)
            raise invalid_argument([(chunking.fields[1].name, f"must have as many elements as {names.split(',')[0]}")])
        size, start, answers = chunking.size, 0, []
        while True:
            part = type(request)()
            part.CopyFrom(request)
            for field, values in zip(chunking.fields, lists, strict=True):
                target = getattr(part, field.name)
                del target[:]
                target.extend(values[start : start + size])
            try:
                answer = await self._send(plan.wire_call(part), credential, ctx)
            except GatewayError as error:
                smaller = _smaller_chunk(error, chunking.limit_error, chunking.limit_key, chunking.limit_fallback, size)
                if smaller is None:
                    raise
                size = smaller
                continue
            answers.append(answer)
            start += size
            if start >= total:
                break
        return _merge(answers, chunking.merge_key, plan)

    async def _page(
        self,
        spec: OperationSpec,
        plan: CallPlan,
        request: message.Message,
        ctx: CallContext,
        credential: Credential,
    ) -> message.Message:
        """One page for the caller: Encord's page sliced at the caller's page size (AIP-158)."""
        paging = plan.paging
        assert paging is not None and paging.items_field is not None
        position = decode_token(str(member(request, "page_token")))
        size = _page_size(plan, request)
        answer = await self._send(
            plan.wire_call(_with_page(request, position.upstream_token, size, plan)), credential, ctx
        )
        items = _items(answer, paging.items, spec)
        upstream_next = "" if paging.single_page else upstream_next_token(answer)
        remaining = items[position.offset :]
        next_token = ""
        if size and len(remaining) > size:
            remaining = remaining[:size]
            next_token = encode_token(PagePosition(position.upstream_token, position.offset + size))
        elif upstream_next:
            next_token = encode_token(PagePosition(upstream_next, 0))
        page = dict(answer) if isinstance(answer, dict) else {}
        page[paging.items] = remaining
        run = _Run(plan.scope(request), page)
        response = await self._respond(spec, plan, run, request, ctx)
        # The page's items go into the declared field, whatever the rest of the mapping made of them.
        try:
            decoded = decode_value(spec.response_class, {paging.items_field.name: remaining})
        except MalformedUpstreamResult as exc:
            raise malformed(str(exc), label=spec.full_name) from None
        response.ClearField(paging.items_field.name)
        member(response, paging.items_field.name).extend(member(decoded, paging.items_field.name))
        set_member(response, "next_page_token", next_token)
        return response

    async def _all_pages(
        self,
        spec: OperationSpec,
        plan: CallPlan,
        request: message.Message,
        ctx: CallContext,
        credential: Credential,
    ) -> AsyncIterator[message.Message]:
        paging = plan.paging
        assert paging is not None
        position = decode_token(str(member(request, "page_token")))
        token, offset = position.upstream_token, position.offset
        size = _page_size(plan, request) if paging.size_param else 0
        while True:
            answer = await self._send(plan.wire_call(_with_page(request, token, size, plan)), credential, ctx)
            for item in _items(answer, paging.items, spec)[offset:]:
                try:
                    yield decode_value(spec.response_class, item)
                except MalformedUpstreamResult as exc:
                    raise malformed(str(exc), label=spec.full_name) from None
            token, offset = ("" if paging.single_page else upstream_next_token(answer)), 0
            if not token:
                return

    # ---- plumbing -------------------------------------------------------------------------------

    async def _observed(
        self,
        spec: OperationSpec,
        ctx: CallContext,
        credential: Credential,
        work: Awaitable[message.Message],
    ) -> message.Message:
        try:
            response = await work
        except GatewayError as error:
            await self._observe(ctx, spec, credential, error.code.name)
            raise
        await self._observe(ctx, spec, credential, "OK")
        return response

    def _step(self, spec: OperationSpec) -> ResultStep | None:
        name = spec.operation.result_handler if spec.operation is not None else ""
        return self._steps[name] if name else None

    def check_steps(self, specs: Mapping[str, OperationSpec]) -> None:
        """Fail at start-up, not at call time, when the proto names a result or local step nobody provides."""
        for spec in specs.values():
            if spec.operation is not None and spec.operation.result_handler:
                if spec.operation.result_handler not in self._steps:
                    raise ValueError(f"{spec.full_name} names unknown result_handler {spec.operation.result_handler!r}")
            for step in spec.plan.steps if spec.plan is not None else ():
                names = [step.local, step.for_each.emit_handler if step.for_each is not None else ""]
                for name in filter(None, names):
                    if name not in self._local_steps:
                        raise ValueError(f"{spec.full_name} step {step.name!r} names unknown local step {name!r}")

    async def _observe(self, ctx: CallContext, spec: OperationSpec, credential: Credential, outcome: str) -> None:
        self._credentials.record_use(credential)
        if self.observer is not None:
            await self.observer(ctx, spec, credential, outcome)

    async def _invalidate(self, spec: OperationSpec, ctx: CallContext) -> None:
        for target in spec.invalidates:
            service, _, method = target.rpartition(".")
            dropped = await self._cache.invalidate(ctx.organisation, target)
            if dropped:
                self._metrics.cache_invalidations.labels(service, method).inc(dropped)


# ---- helpers (pure) -------------------------------------------------------------------------------


def _plan(spec: OperationSpec) -> CallPlan:
    assert spec.plan is not None, f"{spec.full_name} is not an upstream operation"
    return spec.plan


def _build(plan: CallPlan, step: StepPlan, scope: Scope) -> WireCall:
    try:
        return plan.build_call(step, scope)
    except MalformedUpstreamResult as exc:
        # A read-modify-write found something other than what it modifies (e.g. not an object).
        raise malformed(str(exc), label=step.label) from None


def _prepared(plan: CallPlan, request: message.Message, ctx: CallContext) -> message.Message:
    """The request as the wire will carry it: a long poll's wait bounded by its cap and the deadline."""
    field = plan.long_poll_field
    if field is None:
        return request
    cap = plan.operation.long_poll.max_seconds
    asked = getattr(request, field.name) if (not field.has_presence or request.HasField(field.name)) else cap
    budget = max(0, math.floor(ctx.deadline - time.monotonic() - LONG_POLL_MARGIN))
    prepared = type(request)()
    prepared.CopyFrom(request)
    setattr(prepared, field.name, max(0, min(int(asked), cap, budget)))
    return prepared


def _page_size(plan: CallPlan, request: message.Message) -> int:
    paging = plan.paging
    assert paging is not None
    size = int(member(request, "page_size"))
    if size < 0:
        raise invalid_argument([("page_size", "must not be negative")])
    if paging.max_page_size and size > paging.max_page_size:
        size = paging.max_page_size  # AIP-158: coerce a too-large page size to the maximum
    return size


def _with_page(request: message.Message, upstream_token: str, size: int, plan: CallPlan) -> message.Message:
    """The request with Encord's token in `page_token`, and `page_size` only where Encord takes one."""
    paging = plan.paging
    assert paging is not None
    wire = type(request)()
    wire.CopyFrom(request)
    set_member(wire, "page_token", upstream_token)
    set_member(wire, "page_size", size if paging.size_param else 0)
    return wire


def _items(answer: Any, key: str, spec: OperationSpec) -> list[Any]:
    items = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise malformed(f"the answer has no {key!r} list", label=spec.full_name)
    return items


def _smaller_chunk(error: GatewayError, limit_error: str, limit_key: str, fallback: int, size: int) -> int | None:
    """The chunk size Encord asks for after a limit error (the SDK's MULTI_LABEL_LIMIT_ERROR fallback)."""
    if not limit_error or error.reason != limit_error or size <= 1:
        return None
    raw = error.metadata.get(limit_key, "")
    limit = int(raw) if raw.isdigit() else fallback
    return max(1, limit if limit < size else min(fallback, size - 1))


def _merge(answers: list[Any], merge_key: str, plan: CallPlan) -> Any:
    if merge_key:
        merged: list[Any] = []
        for answer in answers:
            members = answer.get(merge_key) if isinstance(answer, dict) else None
            if not isinstance(members, list):
                raise malformed(f"the answer has no {merge_key!r} list", label=plan.steps[0].label)
            merged.extend(members)
        return {**(answers[-1] if isinstance(answers[-1], dict) else {}), merge_key: merged}
    if all(isinstance(answer, list) for answer in answers):
        return [item for answer in answers for item in answer]
    if all(isinstance(answer, dict) for answer in answers):
        return _merge_objects(answers)
    return answers[-1]


def _merge_objects(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Several answers to one chunked request as one: lists joined in order, counts added, the rest the last's."""
    merged: dict[str, Any] = {}
    for answer in answers:
        for key, value in answer.items():
            earlier = merged.get(key)
            if isinstance(earlier, list) and isinstance(value, list):
                merged[key] = earlier + value
            elif _count(earlier) and _count(value):
                merged[key] = earlier + value
            else:
                merged[key] = value
    return merged


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _emitted(
    step: StepPlan, run: _Run, answer: Any, emit_class: type[message.Message], plan: CallPlan
) -> list[message.Message]:
    value = step.emit_path.resolve(run.scope) if step.emit_path is not None else answer
    values = value if isinstance(value, list) else [] if value is MISSING else [value]
    try:
        return [decode_value(emit_class, item) for item in values]
    except MalformedUpstreamResult as exc:
        raise malformed(str(exc), label=step.label) from None


async def _pause(started: float, ctx: CallContext, plan: CallPlan, step: StepPlan) -> None:
    wait = REPEAT_MIN_INTERVAL - (time.monotonic() - started)
    if wait <= 0:
        return
    if time.monotonic() + wait >= ctx.deadline:
        raise upstream_error(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "DEADLINE_EXCEEDED",
            f"the deadline expired while waiting for {step.name} to finish",
            label=step.label,
        )
    await asyncio.sleep(wait)


def _ordered(for_each: ForEach, scope: Scope, plan: CallPlan) -> list[Any]:
    """The list a for_each step walks: ordered by its key, less what a resumed stream already sent."""
    values = for_each.values.resolve(scope)
    if values is MISSING or values is None:
        return []
    if not isinstance(values, list):
        raise malformed(f"{for_each.values.text} is not a list", label=plan.steps[0].label)
    if not for_each.key:
        return values
    key = for_each.key

    def key_of(value: Any) -> str:
        found = value.get(key) if isinstance(value, dict) else None
        return found if isinstance(found, str) else ""

    ordered = sorted(values, key=key_of)
    if for_each.resume_field is not None:
        after = str(member(scope.request, for_each.resume_field.name))
        if after:
            ordered = [value for value in ordered if key_of(value) > after]
    return ordered


def _joined(
    for_each: ForEach, scope: Scope, item: Any, answer: Any, emit_class: type[message.Message], step: StepPlan
) -> message.Message:
    scope.results[ITEM] = item
    if answer is MISSING:
        scope.results.pop(ANSWER, None)
    else:
        scope.results[ANSWER] = answer
    try:
        built = build_object(for_each.emit_fields, scope, camel=False, keep_nulls=False, read_only=True)
        return decode_value(emit_class, built)
    except MalformedUpstreamResult as exc:
        raise malformed(str(exc), label=step.label) from None


def _decoded(emit_class: type[message.Message], value: Any, step: StepPlan) -> message.Message:
    try:
        return decode_value(emit_class, value)
    except MalformedUpstreamResult as exc:
        raise malformed(str(exc), label=step.label) from None


def _raise_union_error(plan: CallPlan, run: _Run, spec: OperationSpec) -> None:
    """A success/error union answer (J-06L) that holds an error fails the call."""
    if plan.error_path is None:
        return
    run.scope.results[LAST] = run.last
    error = plan.error_path.resolve(run.scope)
    if error is MISSING or error is None:
        return
    text = error.get("message") if isinstance(error, dict) else error
    raise GatewayError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"Encord reported a failure: {text if isinstance(text, str) else 'see details'}",
        reason="UPSTREAM_OPERATION_FAILED",
        metadata={"operation": spec.full_name},
    )


async def assemble_client_stream(spec: OperationSpec, messages: AsyncIterator[message.Message]) -> message.Message:
    """One request from a client stream: the first message, plus later messages' chunks appended in order.

    The size bound is checked as chunks arrive, so an oversized upload is refused before it is all read.
    """
    plan = _plan(spec)
    field = plan.client_chunk_field
    assert field is not None, f"{spec.full_name} declares no client_stream"
    limit = plan.operation.client_stream.max_bytes
    request: message.Message | None = None
    chunks: list[bytes] = []
    size = 0
    index = 0
    async for received in messages:
        if request is None:
            request = type(received)()
            request.CopyFrom(received)
            chunk = getattr(request, field.name)
        else:
            extra = [f.name for f, _ in received.ListFields() if f.name != field.name]
            if extra:
                raise invalid_argument([(f"[{index}].{extra[0]}", f"only {field.name} may follow the first message")])
            chunk = getattr(received, field.name)
        size += len(chunk)
        if size > limit:
            raise invalid_argument([(field.name, f"is larger than {limit} bytes")])
        chunks.append(chunk)
        index += 1
    if request is None:
        raise invalid_argument([("(request)", "the stream carried no message")])
    setattr(request, field.name, b"".join(chunks))
    return request
