"""The grpc.aio server: one generic handler per RPC of the catalog, plus health and reflection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf import message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from ..errors import GatewayError, invalid_argument
from ..operations.catalog import OperationSpec, service_names
from .chain import CallChain
from .tls import grpc_peer

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


async def abort(context: grpc.aio.ServicerContext, error: GatewayError) -> None:
    status = rpc_status.to_status(error.to_status())
    await context.abort(status.code, status.details, status.trailing_metadata)


def _unary_handler(spec: OperationSpec, chain: CallChain, secure: bool) -> Handler:
    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        # Requests arrive as bytes so that a malformed message is INVALID_ARGUMENT, not grpc's INTERNAL.
        try:
            request: message.Message = spec.request_class.FromString(raw)
        except message.DecodeError:
            await abort(context, invalid_argument([("(request)", "is not a valid protobuf message")]))
            raise AssertionError("unreachable") from None
        metadata = {key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)}
        try:
            peer = grpc_peer(context.auth_context()) if secure else None
            outcome = await chain.run(spec, request, metadata, context.time_remaining(), peer)
        except GatewayError as error:
            await abort(context, error)
            raise AssertionError("unreachable") from None
        if outcome.cache is not None:
            await context.send_initial_metadata((("x-cache", outcome.cache),))
        return outcome.response.SerializeToString()

    return handle


def build_server(
    specs: dict[str, OperationSpec], chain: CallChain, secure: bool = False
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    # so_reuseport=0: a second server on a taken port must fail loudly, not silently share it.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for spec in specs.values():
        by_service.setdefault(spec.service, {})[spec.method] = grpc.unary_unary_rpc_method_handler(
            _unary_handler(spec, chain, secure)
        )
    server.add_generic_rpc_handlers(
        tuple(grpc.method_handlers_generic_handler(service, methods) for service, methods in by_service.items())
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*service_names(specs), health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    return server, health_servicer


async def set_serving(
    health_servicer: health.aio.HealthServicer, specs: dict[str, OperationSpec], serving: bool
) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *service_names(specs)]:
        await health_servicer.set(name, status)


async def mark_not_serving(health_servicer: health.aio.HealthServicer) -> None:
    await health_servicer.enter_graceful_shutdown()
