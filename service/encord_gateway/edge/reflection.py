"""Server reflection under grpc.reflection.v1 as well as v1alpha (grpcio-reflection ships only v1alpha).

The two protocols are the same messages under two package names, so one v1alpha servicer answers both:
the v1 method is registered with the v1alpha message classes, which read and write the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME


def enable_server_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Answer reflection requests over both protocols; both list themselves among `service_names`."""
    names = [*service_names, V1ALPHA_SERVICE_NAME, V1_SERVICE_NAME]
    servicer = reflection.aio.ReflectionServicer(names)
    reflection.enable_server_reflection(names, server)  # v1alpha, with its own servicer over the same names
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {"ServerReflectionInfo": handler}),)
    )
