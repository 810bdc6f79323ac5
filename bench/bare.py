"""The ceilings of any Python gateway on this machine: a bare grpc.aio server and a bare aiohttp endpoint.

Each answers every request with one fixed message (the gateway's own GetProject answer, so the bytes on the
wire are the same size) and does nothing else: no authentication, no cache, no metrics.

    python bench/bare.py grpc PORT MESSAGE_FILE     # any unary method; answers MESSAGE_FILE's bytes
    python bench/bare.py rest PORT BODY_FILE        # any GET path; answers BODY_FILE as application/json
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
from aiohttp import web


async def serve_grpc(port: int, answer: bytes) -> None:
    async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return answer

    class Generic(grpc.GenericRpcHandler):
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(handle)

    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((Generic(),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


async def serve_rest(port: int, body: bytes) -> None:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def main() -> int:
    kind, port, path = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    payload = path.read_bytes()
    asyncio.run(serve_grpc(port, payload) if kind == "grpc" else serve_rest(port, payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
