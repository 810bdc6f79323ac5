"""The end of the pipeline: hand the call to the admin API or to the operation engine, by kind of call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from google.protobuf import message

from ..operations.engine import CallContext, Engine, Outcome
from .call import CACHE_METADATA, Call, CallKind

AdminHandler = Callable[[message.Message, "AdminCall"], Awaitable[message.Message]]


@dataclass(frozen=True)
class AdminCall:
    """What an admin handler knows about its call."""

    caller: str
    organisation: str | None
    method: str


class Dispatch:
    """Runs an authorised call: admin calls by their handler, data calls by the engine."""

    def __init__(self, engine: Engine, admin_handlers: Mapping[str, AdminHandler]) -> None:
        self._engine = engine
        self._admin_handlers = admin_handlers

    async def __call__(self, call: Call) -> None:
        request = call.request
        assert request is not None and call.caller is not None
        if call.spec.admin is not None:
            handler = self._admin_handlers[call.spec.full_name]
            response = await handler(request, AdminCall(call.caller.name, call.organisation, call.spec.full_name))
            call.outcome = Outcome(response, None)
            return
        assert call.organisation is not None
        context = CallContext(call.caller.name, call.organisation, call.deadline)
        if call.kind in (CallKind.UNARY, CallKind.CLIENT_STREAM):
            call.outcome = await self._engine.execute(call.spec, request, context)
            if call.outcome.cache is not None:
                call.response_metadata[CACHE_METADATA] = call.outcome.cache
        elif call.kind == CallKind.SERVER_STREAM:
            async for item in self._engine.stream(call.spec, request, context):
                await call.respond(item)
        else:  # a stream of files: the first message (`request`) says where they go; the rest are the files
            assert call.messages is not None
            async for item in self._engine.file_stream(call.spec, request, call.messages, context):
                await call.respond(item)
