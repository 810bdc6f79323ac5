"""The upstream client against a scripted HTTP server: signing on the wire, retries, deadlines, error mapping."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.errors import GATEWAY_DOMAIN, UPSTREAM_DOMAIN, GatewayError
from encord_gateway.telemetry.metrics import Metrics
from encord_gateway.upstream import signing
from encord_gateway.upstream.calls import WireCall
from encord_gateway.upstream.client import UpstreamClient

Reply = Callable[[web.Request], web.Response]


@dataclass
class Script:
    """Replies served in order (the last one repeats); every request is recorded."""

    replies: list[Reply] = field(default_factory=list)
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.method, request.raw_path, dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self.replies[min(len(self.seen), len(self.replies)) - 1]
        return reply(request)


def envelope(response: object, status: int = 200) -> Reply:
    return lambda _: web.json_response({"status": status, "response": response})


def http(status: int, body: str = "", headers: dict[str, str] | None = None) -> Reply:
    return lambda _: web.Response(status=status, text=body, headers=headers or {})


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Script]]:
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", script
    await runner.cleanup()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[str], UpstreamClient]]:
    clients: list[UpstreamClient] = []

    def make(url: str) -> UpstreamClient:
        client = UpstreamClient(url, Metrics())
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


SIGNER = signing.Signer(Ed25519PrivateKey.generate())


def v1_read(body: bytes = b'{"query_type": "project"}') -> WireCall:
    return WireCall("v1", "POST", "/public", "", body, "project", "p-1", "project", "GET", retryable=True)


def v2_call(method: str = "GET", query: str = "search=a+b%26c", retryable: bool = True) -> WireCall:
    return WireCall(
        "v2", method, "/v2/public/storage/folders", query, None, "", "", "storage/folders", method, retryable
    )


async def send(client: UpstreamClient, call: WireCall, budget: float = 5.0) -> object:
    await client.start()
    return await client.send(call, SIGNER, time.monotonic() + budget)


async def test_v1_call_carries_a_signature_over_the_exact_body(server, make_client) -> None:
    url, script = server
    script.replies = [envelope({"title": "T"})]
    assert await send(make_client(url), v1_read()) == {"title": "T"}
    method, path, headers, body = script.seen[0]
    assert (method, path, headers["ResourceType"], headers["ResourceID"]) == ("POST", "/public", "project", "p-1")
    pubhex, _, sighex = headers["Authorization"].partition(":")
    assert pubhex == SIGNER.public_key_hex
    assert signing.verify(pubhex, bytes.fromhex(sighex), hashlib.sha256(body).digest())


async def test_v2_signature_covers_the_query_exactly_as_sent(server, make_client) -> None:
    url, script = server
    script.replies = [lambda _: web.json_response({"results": []})]
    await send(make_client(url), v2_call())
    method, target, headers, _ = script.seen[0]
    assert target == "/v2/public/storage/folders?search=a+b%26c"  # not re-encoded on the way
    assert "Authorization" not in headers
    params = headers["Signature-Input"].removeprefix("encord-sig=")
    base = signing.signature_base(method, target, headers["Content-Digest"], params)
    signature = headers["Signature"].removeprefix("encord-sig=:").removesuffix(":")
    assert signing.verify(SIGNER.public_key_hex, base64.b64decode(signature), base)


async def test_reads_are_retried_on_503_and_succeed(server, make_client) -> None:
    url, script = server
    script.replies = [http(503), http(502), envelope({"ok": True})]
    assert await send(make_client(url), v1_read()) == {"ok": True}
    assert len(script.seen) == 3


async def test_rate_limited_read_honours_retry_after_then_reports_retry_info(server, make_client) -> None:
    url, script = server
    script.replies = [http(429, headers={"Retry-After": "0"})]
    with pytest.raises(GatewayError) as caught:
        await send(make_client(url), v1_read())
    assert len(script.seen) == 3  # bounded attempts
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.retry_after == 0.0
    assert any(d.type_url.endswith("google.rpc.RetryInfo") for d in caught.value.to_status().details)


async def test_writes_are_never_retried(server, make_client) -> None:
    url, script = server
    script.replies = [http(503)]
    with pytest.raises(GatewayError) as caught:
        await send(make_client(url), v2_call("POST", "", retryable=False))
    assert len(script.seen) == 1
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("RESOURCE_NOT_FOUND_ERROR", grpc.StatusCode.NOT_FOUND),
        ("AUTHORISATION_ERROR", grpc.StatusCode.PERMISSION_DENIED),
        ("SSH_KEY_NOT_FOUND_ERROR", grpc.StatusCode.FAILED_PRECONDITION),
        ("OPERATION_NOT_ALLOWED", grpc.StatusCode.PERMISSION_DENIED),
        ("SOMETHING_NEW_ERROR", grpc.StatusCode.UNKNOWN),
    ],
)
async def test_v1_error_codes_map_to_statuses_with_the_code_as_reason(server, make_client, code, expected) -> None:
    url, script = server
    script.replies = [lambda _: web.json_response({"status": 400, "response": [code], "payload": "detail"})]
    with pytest.raises(GatewayError) as caught:
        await send(make_client(url), v1_read())
    assert (caught.value.code, caught.value.reason, caught.value.domain) == (expected, code, UPSTREAM_DOMAIN)
    assert len(script.seen) == 1  # application errors are not transient


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, grpc.StatusCode.INVALID_ARGUMENT), (401, grpc.StatusCode.FAILED_PRECONDITION),
     (404, grpc.StatusCode.NOT_FOUND), (409, grpc.StatusCode.ALREADY_EXISTS)],
)  # fmt: skip
async def test_v2_http_errors_map_to_statuses(server, make_client, status, expected) -> None:
    url, script = server
    script.replies = [lambda _: web.json_response({"message": "nope"}, status=status)]
    with pytest.raises(GatewayError) as caught:
        await send(make_client(url), v2_call())
    assert caught.value.code == expected


async def test_html_instead_of_json_is_a_clear_malformed_answer(server, make_client) -> None:
    url, script = server
    script.replies = [lambda _: web.Response(text="<html>oops</html>", content_type="text/html")]
    with pytest.raises(GatewayError) as caught:
        await send(make_client(url), v1_read())
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE")


async def test_empty_single_object_answer_reads_as_not_found(server, make_client) -> None:
    url, script = server
    script.replies = [envelope(None)]
    with pytest.raises(GatewayError) as caught:
        await send(make_client(url), v1_read())
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


async def test_a_slow_upstream_is_cut_off_at_the_callers_deadline(server, make_client) -> None:
    url, script = server
    script.replies = [envelope({"late": True})]
    script.delay = 3.0
    started = time.monotonic()
    with pytest.raises(GatewayError) as caught:
        await send(make_client(url), v1_read(), budget=0.3)
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < script.delay  # it did not wait for the late answer


async def test_an_unreachable_upstream_is_unavailable_in_the_gateways_domain(make_client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GatewayError) as caught:
        await send(make_client(f"http://127.0.0.1:{port}"), v2_call("POST", "", retryable=False))
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNREACHABLE")
    # Encord said nothing: the failed connection is the gateway's observation, and its domain says so.
    assert caught.value.domain == GATEWAY_DOMAIN
