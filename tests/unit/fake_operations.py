"""Stand-ins for generated *_pb2 modules: upstream RPCs built at test time, for the start-up checks."""

from __future__ import annotations

import types

from encord_gateway._generated.encord.gateway.v1 import options_pb2
from encord_gateway.operations.catalog import PUBLIC_PACKAGE
from google.protobuf import descriptor_pb2, descriptor_pool


def api_module(name: str, catalogue_ids: list[str], package: str = PUBLIC_PACKAGE) -> types.SimpleNamespace:
    """A stand-in for a generated *_pb2 module: one service with one upstream RPC naming `catalogue_ids`."""
    file = descriptor_pb2.FileDescriptorProto(name=f"catalogue_test/{name}.proto", package=package, syntax="proto3")
    file.dependency.append(options_pb2.DESCRIPTOR.name)
    file.message_type.add(name=f"{name}Request")
    method = file.service.add(name=f"{name}Service").method.add(
        name="Fetch", input_type=f".{package}.{name}Request", output_type=f".{package}.{name}Request"
    )
    method.options.Extensions[options_pb2.operation].CopyFrom(
        options_pb2.Operation(
            access=options_pb2.ACCESS_READ,
            v2=options_pb2.V2Call(method="GET", path="projects"),
            catalogue_ids=catalogue_ids,
        )
    )
    return types.SimpleNamespace(DESCRIPTOR=descriptor_pool.Default().AddSerializedFile(file.SerializeToString()))
