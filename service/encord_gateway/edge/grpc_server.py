"""The grpc.aio server: one generic handler per RPC of the catalog, each running the call through the
pipeline; plus health and reflection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import NoReturn

import grpc
from google.protobuf import message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry import trace

from ..errors import GatewayError, invalid_argument
from ..operations.catalog import OperationSpec, service_names
from ..pipeline import Call, CallKind, Pipeline, RequestReader
from ..telemetry.tracing import grpc_interceptors
from . import reflection
from .status import status_of
from .tls import grpc_peer

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]
StreamHandler = Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[bytes]]
ClientStreamHandler = Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext], Awaitable[bytes]]
BidiStreamHandler = Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext], AsyncIterator[bytes]]


async def abort(
    context: grpc.aio.ServicerContext, error: GatewayError, response_metadata: Mapping[str, str] | None = None
) -> NoReturn:
    """End the call with `error` as its status; `response_metadata` (x-request-id) goes with it."""
    status = rpc_status.to_status(status_of(error))  # bounded: it travels in trailing metadata
    trailing = (*status.trailing_metadata, *(response_metadata or {}).items())
    await context.abort(status.code, status.details, trailing)
    raise AssertionError("unreachable")


def _decode(spec: OperationSpec, raw: bytes) -> message.Message:
    # Requests arrive as bytes so that a malformed message is INVALID_ARGUMENT, not grpc's INTERNAL.
    try:
        return spec.request_class.FromString(raw)
    except message.DecodeError:
        raise invalid_argument([("(request)", "is not a valid protobuf message")]) from None


def _reader(spec: OperationSpec, raw: bytes) -> RequestReader:
    async def read() -> message.Message:
        return _decode(spec, raw)

    return read


async def _decoded(spec: OperationSpec, raw_messages: AsyncIterator[bytes]) -> AsyncIterator[message.Message]:
    async for raw in raw_messages:
        yield _decode(spec, raw)


def _call(spec: OperationSpec, context: grpc.aio.ServicerContext, secure: bool) -> Call:
    metadata = {key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)}
    peer = grpc_peer(context.auth_context()) if secure else None
    return Call(spec, CallKind.of(spec), metadata, context.time_remaining(), edge="grpc", peer=peer)


def _unary_handler(spec: OperationSpec, pipeline: Pipeline, secure: bool) -> Handler:
    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        call = _call(spec, context, secure)
        call.read = _reader(spec, raw)
        try:
            await pipeline.run(call)
        except GatewayError as error:
            await abort(context, error, call.response_metadata)
        assert call.outcome is not None
        await context.send_initial_metadata(tuple(call.response_metadata.items()))
        return call.outcome.response.SerializeToString()

    return handle


def _client_stream_handler(spec: OperationSpec, pipeline: Pipeline, secure: bool) -> ClientStreamHandler:
    async def handle(raw_messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
        call = _call(spec, context, secure)
        call.messages = _decoded(spec, raw_messages)
        try:
            await pipeline.run(call)
        except GatewayError as error:
            await abort(context, error, call.response_metadata)
        assert call.outcome is not None
        await context.send_initial_metadata(tuple(call.response_metadata.items()))
        return call.outcome.response.SerializeToString()

    return handle


async def _stream(call: Call, pipeline: Pipeline, context: grpc.aio.ServicerContext) -> None:
    """Run a call whose answers stream: each message is written as the pipeline sends it, after the
    response metadata (x-request-id) has gone out with the first one."""
    headers_sent = False

    async def send(item: message.Message) -> None:
        nonlocal headers_sent
        if not headers_sent:
            headers_sent = True
            await context.send_initial_metadata(tuple(call.response_metadata.items()))
        await context.write(item.SerializeToString())

    call.send = send
    try:
        await pipeline.run(call)
    except GatewayError as error:
        await abort(context, error, call.response_metadata)
    if not headers_sent:
        await context.send_initial_metadata(tuple(call.response_metadata.items()))


def _server_stream_handler(spec: OperationSpec, pipeline: Pipeline, secure: bool) -> StreamHandler:
    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        call = _call(spec, context, secure)
        call.read = _reader(spec, raw)
        await _stream(call, pipeline, context)
        return
        yield  # an async generator, as grpc (and its tracing interceptor) expect of a streaming handler

    return handle


def _bidi_stream_handler(spec: OperationSpec, pipeline: Pipeline, secure: bool) -> BidiStreamHandler:
    async def handle(raw_messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        call = _call(spec, context, secure)
        call.messages = _decoded(spec, raw_messages)
        await _stream(call, pipeline, context)
        return
        yield  # see _server_stream_handler

    return handle


def _method_handler(spec: OperationSpec, pipeline: Pipeline, secure: bool) -> grpc.RpcMethodHandler:
    kind = CallKind.of(spec)
    if kind == CallKind.BIDI_STREAM:
        return grpc.stream_stream_rpc_method_handler(_bidi_stream_handler(spec, pipeline, secure))
    if kind == CallKind.SERVER_STREAM:
        return grpc.unary_stream_rpc_method_handler(_server_stream_handler(spec, pipeline, secure))
    if kind == CallKind.CLIENT_STREAM:
        return grpc.stream_unary_rpc_method_handler(_client_stream_handler(spec, pipeline, secure))
    return grpc.unary_unary_rpc_method_handler(_unary_handler(spec, pipeline, secure))


def build_server(
    specs: dict[str, OperationSpec],
    pipeline: Pipeline,
    secure: bool = False,
    tracer_provider: trace.TracerProvider | None = None,
    reuse_port: bool = False,
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    # so_reuseport=0: a second server on a taken port must fail loudly, not silently share it. Only the
    # workers of `serve --workers N` share one, after their supervisor checked it is theirs alone.
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
        interceptors=grpc_interceptors(tracer_provider),  # a span per RPC
    )
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for spec in specs.values():
        by_service.setdefault(spec.service, {})[spec.method] = _method_handler(spec, pipeline, secure)
    server.add_generic_rpc_handlers(
        tuple(grpc.method_handlers_generic_handler(service, methods) for service, methods in by_service.items())
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*service_names(specs), health.SERVICE_NAME], server)  # v1 and v1alpha
    return server, health_servicer


async def set_serving(
    health_servicer: health.aio.HealthServicer, specs: dict[str, OperationSpec], serving: bool
) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *service_names(specs)]:
        await health_servicer.set(name, status)


async def mark_not_serving(health_servicer: health.aio.HealthServicer) -> None:
    await health_servicer.enter_graceful_shutdown()
