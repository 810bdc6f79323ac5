"""A failure's status always reaches a gRPC caller as itself: however long its message and violations,
it fits gRPC's 8 KiB trailer limit, which a client otherwise enforces by replacing it with RESOURCE_EXHAUSTED."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from encord_gateway.edge import status
from encord_gateway.edge.grpc_server import abort
from encord_gateway.errors import GatewayError, invalid_argument
from google.rpc import error_details_pb2
from grpc_status import rpc_status

METHOD = "/test.Failing/Fail"


def worst_case(count: int) -> GatewayError:
    """Violations as long as the per-field caps allow, in three-byte UTF-8 characters."""
    return invalid_argument([(f"items[{n}]." + "€" * 300, "ü" * 400) for n in range(count)])


@pytest.fixture
async def failing_server() -> AsyncIterator[tuple[grpc.aio.Channel, list[GatewayError]]]:
    """A grpc.aio server on a loopback port of its own, that fails each call with the next queued error
    through the gateway's own abort()."""
    queued: list[GatewayError] = []

    async def fail(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await abort(context, queued.pop(0))

    handler = grpc.method_handlers_generic_handler("test.Failing", {"Fail": grpc.unary_unary_rpc_method_handler(fail)})
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, queued
    finally:
        await server.stop(None)


async def call(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary(METHOD)(b"", timeout=10)
    return raised.value


@pytest.mark.parametrize(("count", "all_fit"), [(1, True), (20, False), (200, False)])
async def test_an_error_with_many_long_violations_arrives_as_invalid_argument(
    failing_server: tuple[grpc.aio.Channel, list[GatewayError]], count: int, all_fit: bool
) -> None:
    channel, queued = failing_server
    queued.append(worst_case(count))

    error = await call(channel)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    received = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert received is not None
    bad_request = error_details_pb2.BadRequest()
    assert received.details[1].Unpack(bad_request)
    fields = [violation.field for violation in bad_request.field_violations]
    assert fields[0].startswith("items[0].")
    listed = [field for field in fields if field != "(request)"]
    if all_fit:
        assert fields == listed and len(listed) == count
    else:  # what could not be carried is counted, never silently dropped
        assert fields[-1] == "(request)"
        assert bad_request.field_violations[-1].description == f"{count - len(listed)} more fields are invalid"


def test_a_bounded_status_keeps_within_its_byte_budgets() -> None:
    bounded = status.status_of(worst_case(200))
    assert bounded.ByteSize() <= status.MAX_STATUS_BYTES
    assert len(bounded.message.encode("utf-8")) <= status.MAX_MESSAGE_BYTES
    assert bounded.message.endswith("…")


def test_a_small_error_passes_unchanged() -> None:
    error = invalid_argument([("project_hash", "is required")])
    assert status.status_of(error) == error.to_status()
