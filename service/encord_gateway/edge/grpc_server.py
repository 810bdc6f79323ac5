"""The grpc.aio server: one generic handler per RPC of the catalog, plus health and reflection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NoReturn

import grpc
from google.protobuf import message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from ..errors import GatewayError, invalid_argument
from ..operations.catalog import OperationSpec, service_names
from . import reflection
from .chain import CallChain, RequestReader
from .status import status_of
from .tls import grpc_peer

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]
StreamHandler = Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[bytes]]
ClientStreamHandler = Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext], Awaitable[bytes]]
BidiStreamHandler = Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext], AsyncIterator[bytes]]


async def abort(context: grpc.aio.ServicerContext, error: GatewayError) -> NoReturn:
    status = rpc_status.to_status(status_of(error))  # bounded: it travels in trailing metadata
    await context.abort(status.code, status.details, status.trailing_metadata)
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


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)}


def _unary_handler(spec: OperationSpec, chain: CallChain, secure: bool) -> Handler:
    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            peer = grpc_peer(context.auth_context()) if secure else None
            outcome = await chain.run(spec, _reader(spec, raw), _metadata(context), context.time_remaining(), peer)
        except GatewayError as error:
            await abort(context, error)
        if outcome.cache is not None:
            await context.send_initial_metadata((("x-cache", outcome.cache),))
        return outcome.response.SerializeToString()

    return handle


def _server_stream_handler(spec: OperationSpec, chain: CallChain, secure: bool) -> StreamHandler:
    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        try:
            peer = grpc_peer(context.auth_context()) if secure else None
            stream = chain.run_server_stream(
                spec, _reader(spec, raw), _metadata(context), context.time_remaining(), peer
            )
            async for item in stream:
                yield item.SerializeToString()
        except GatewayError as error:
            await abort(context, error)

    return handle


def _client_stream_handler(spec: OperationSpec, chain: CallChain, secure: bool) -> ClientStreamHandler:
    async def handle(raw_messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
        async def messages() -> AsyncIterator[message.Message]:
            async for raw in raw_messages:
                yield _decode(spec, raw)

        try:
            peer = grpc_peer(context.auth_context()) if secure else None
            outcome = await chain.run_client_stream(
                spec, messages(), _metadata(context), context.time_remaining(), peer
            )
        except GatewayError as error:
            await abort(context, error)
        return outcome.response.SerializeToString()

    return handle


def _file_stream_handler(spec: OperationSpec, chain: CallChain, secure: bool) -> BidiStreamHandler:
    async def handle(raw_messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        async def messages() -> AsyncIterator[message.Message]:
            async for raw in raw_messages:
                yield _decode(spec, raw)

        try:
            peer = grpc_peer(context.auth_context()) if secure else None
            stream = chain.run_file_stream(spec, messages(), _metadata(context), context.time_remaining(), peer)
            async for item in stream:
                yield item.SerializeToString()
        except GatewayError as error:
            await abort(context, error)

    return handle


def _method_handler(spec: OperationSpec, chain: CallChain, secure: bool) -> grpc.RpcMethodHandler:
    if spec.server_streaming and spec.client_streaming:
        return grpc.stream_stream_rpc_method_handler(_file_stream_handler(spec, chain, secure))
    if spec.server_streaming:
        return grpc.unary_stream_rpc_method_handler(_server_stream_handler(spec, chain, secure))
    if spec.client_streaming:
        return grpc.stream_unary_rpc_method_handler(_client_stream_handler(spec, chain, secure))
    return grpc.unary_unary_rpc_method_handler(_unary_handler(spec, chain, secure))


def build_server(
    specs: dict[str, OperationSpec], chain: CallChain, secure: bool = False, reuse_port: bool = False
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    # so_reuseport=0: a second server on a taken port must fail loudly, not silently share it. Only the
    # workers of `serve --workers N` share one, after their supervisor checked it is theirs alone.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if reuse_port else 0)])
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for spec in specs.values():
        by_service.setdefault(spec.service, {})[spec.method] = _method_handler(spec, chain, secure)
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
