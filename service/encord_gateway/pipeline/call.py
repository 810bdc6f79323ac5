"""One call as every interceptor sees it: what was asked, over which edge, by whom, and what came of it.

A `Call` is the one small input object of the pipeline (in the spirit of Temporal's interceptor inputs):
the edge fills in what it knows (the RPC, its kind, the headers, the caller's deadline, how to read the
request and where responses go), and interceptors add what they establish (the request id, the caller,
the organisation, the request) in order. Responses leave the same way for every kind of call: a unary
or client-streaming call ends with `outcome`; a server- or bidirectional-streaming call `send`s each
message as it is produced. So an interceptor sees the whole call as one `await proceed(call)`, however
many messages flow in either direction.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from google.protobuf import message

from ..access.policy import Policy
from ..errors import GatewayError, invalid_argument
from ..operations.catalog import OperationSpec
from ..operations.engine import Outcome, assemble_client_stream
from ..telemetry.context import CallRecord


class CallKind(enum.Enum):
    """The four shapes of an RPC; the values are grpc-prometheus's `grpc_type` label."""

    UNARY = "unary"
    CLIENT_STREAM = "client_stream"
    SERVER_STREAM = "server_stream"
    BIDI_STREAM = "bidi_stream"

    @classmethod
    def of(cls, spec: OperationSpec) -> CallKind:
        if spec.client_streaming and spec.server_streaming:
            return cls.BIDI_STREAM
        if spec.client_streaming:
            return cls.CLIENT_STREAM
        if spec.server_streaming:
            return cls.SERVER_STREAM
        return cls.UNARY

    @property
    def streams_requests(self) -> bool:
        return self in (CallKind.CLIENT_STREAM, CallKind.BIDI_STREAM)

    @property
    def streams_responses(self) -> bool:
        return self in (CallKind.SERVER_STREAM, CallKind.BIDI_STREAM)


class CallerIdentity(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def policy(self) -> Policy: ...


@dataclass(frozen=True)
class Peer:
    """The transport's view of the caller: the client certificate's subject and SANs, under mTLS."""

    certificate_subject: str | None = None
    certificate_sans: tuple[str, ...] = field(default_factory=tuple)


RequestReader = Callable[[], Awaitable[message.Message]]
"""Reads and parses the request of a unary or server-streaming call (a REST body, gRPC bytes). Called
once the caller is authenticated, so that nothing an anonymous caller sends is read, and inside the
call's accounting, so that a request that cannot be read is counted like any other refusal."""
ResponseSender = Callable[[message.Message], Awaitable[None]]
"""Sends one response message of a streaming call to the caller (the edge writes it out at once)."""

REQUEST_ID_METADATA = "x-request-id"
CACHE_METADATA = "x-cache"
REPLAY_METADATA = "x-idempotent-replay"


@dataclass(eq=False, slots=True)
class Call:
    """One RPC on its way through the pipeline."""

    spec: OperationSpec
    kind: CallKind
    metadata: Mapping[str, str]
    """The request's headers (REST) or metadata (gRPC), keys in lower case."""
    time_remaining: float | None
    """Seconds until the caller's deadline when the call arrived (None: the caller set none)."""
    edge: str = "grpc"
    """Which edge the call came in on: "grpc" or "rest"."""
    peer: Peer | None = None
    read: RequestReader | None = None
    """Unary and server-streaming calls: how to read the one request."""
    messages: AsyncIterator[message.Message] | None = None
    """Client- and bidirectional-streaming calls: what the caller sends, in order."""
    send: ResponseSender | None = None
    """Server- and bidirectional-streaming calls: where response messages go."""
    header_problems: list[tuple[str, str]] = field(default_factory=list)
    """Headers found malformed before the pipeline ran (field, description); refused once the caller is known."""

    # Established along the pipeline.
    record: CallRecord = field(default_factory=CallRecord)
    """The request id and upstream attempt count, shared with the layers below (telemetry.context)."""
    request_id_given: bool = False
    """Whether the caller chose the request id (x-request-id), rather than the gateway or a trace."""
    deadline: float = 0.0
    """Absolute time.monotonic() at which the gateway stops waiting for Encord (the Deadline interceptor)."""
    caller: CallerIdentity | None = None
    organisation: str | None = None
    request: message.Message | None = None
    outcome: Outcome | None = None
    """The answer of a unary or client-streaming call."""
    sent: int = 0
    """Response messages sent so far (streaming calls)."""
    response_metadata: dict[str, str] = field(default_factory=dict)
    """Headers the edge returns with the answer or the error (x-request-id, x-cache, ...)."""
    code: grpc.StatusCode = grpc.StatusCode.OK
    """How the call ended, set by the Errors interceptor for the observers outside it."""
    error: GatewayError | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def request_id(self) -> str:
        return self.record.request_id

    @property
    def caller_name(self) -> str:
        return self.caller.name if self.caller is not None else ""

    async def read_request(self) -> message.Message:
        """The request, read once: parsed (unary, server stream), assembled from the stream (client
        stream), or the first message (bidirectional stream; the rest stay in `messages`)."""
        if self.request is not None:
            return self.request
        if self.kind == CallKind.CLIENT_STREAM:
            assert self.messages is not None
            self.request = await assemble_client_stream(self.spec, self.messages)
        elif self.kind == CallKind.BIDI_STREAM:
            assert self.messages is not None
            try:
                self.request = await anext(self.messages)
            except StopAsyncIteration:
                raise invalid_argument([("(request)", "the stream carried no message")]) from None
        else:
            assert self.read is not None
            self.request = await self.read()
        return self.request

    async def respond(self, response: message.Message) -> None:
        """Send one message of a streaming answer."""
        assert self.send is not None, f"{self.kind.value} calls answer with an outcome, not messages"
        self.sent += 1
        await self.send(response)


Proceed = Callable[[Call], Awaitable[None]]
"""The rest of the pipeline, from the next interceptor to the dispatch."""


class Interceptor(Protocol):
    """One concern of every call. Calls `proceed(call)` to go on (at most once), or raises to refuse.

    An interceptor that concerns only some RPCs (writes, data calls) may also define
    `applies(spec, kind) -> bool`; it is then left out of the other RPCs' chains altogether.
    """

    async def intercept(self, call: Call, proceed: Proceed) -> None: ...


class Pipeline:
    """An ordered list of interceptors before a terminal step; both edges run every call through it."""

    def __init__(self, interceptors: Sequence[Interceptor], terminal: Proceed) -> None:
        self.interceptors = tuple(interceptors)
        self._terminal = terminal
        self._chains: dict[tuple[str, CallKind], Proceed] = {}

    def _chain(self, spec: OperationSpec, kind: CallKind) -> Proceed:
        """The steps of one RPC, innermost first: each an interceptor's method with the next step bound to it,
        built on the RPC's first call and kept."""
        step = self._terminal
        for interceptor in reversed(self.interceptors):
            applies = getattr(interceptor, "applies", None)
            if applies is None or applies(spec, kind):
                step = functools.partial(interceptor.intercept, proceed=step)
        return step

    async def run(self, call: Call) -> None:
        """Run `call` through every interceptor and the terminal step; raises GatewayError when refused."""
        key = (call.spec.full_name, call.kind)
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = self._chain(call.spec, call.kind)
        await chain(call)

    def flush(self) -> None:
        """Finish what interceptors keep for later (the access log's lines); the gateway calls it when it stops."""
        for interceptor in self.interceptors:
            flush = getattr(interceptor, "flush", None)
            if flush is not None:
                flush()
