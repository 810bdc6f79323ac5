"""Slow and stalling REST clients, over raw sockets: no connection is held open past the configured
header and body timeouts, bodies are read only from authenticated callers, and each route reads at most
its own body limit.

The gateway here runs with a 1 s header timeout and a 1 s body timeout; every wait below has a generous
bound (BOUND) that only a connection held open indefinitely would reach: these are not timing tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import hostile
import pytest
from encord_gateway.edge.httpserver import RestLimits
from encord_gateway.edge.rest import body_limit
from encord_gateway.operations.catalog import OperationSpec, load_catalog
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess

BOUND = 15.0
MAX_BODY = 64 * 1024
MAX_DOCUMENT = 1024 * 1024
ENV = {
    "ENCORD_GATEWAY_REST_HEADER_TIMEOUT": "1",
    "ENCORD_GATEWAY_REST_BODY_TIMEOUT": "1",
    "ENCORD_GATEWAY_REST_MAX_BODY_BYTES": str(MAX_BODY),
    "ENCORD_GATEWAY_REST_MAX_DOCUMENT_BYTES": str(MAX_DOCUMENT),
}
SPECS = load_catalog()
LIMITS = RestLimits(1.0, 1.0, MAX_BODY, MAX_DOCUMENT)


@pytest.fixture(scope="module")
def gw(gateway_kit: GatewayKit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory = tmp_path_factory.mktemp("slow-clients")
    data_dir = directory / "data"
    data_dir.mkdir()
    tenant = gateway_kit.add_organisation(directory, data_dir)
    server = gateway_kit.launch(directory, data_dir, [tenant], env=ENV)
    try:
        yield server
    finally:
        server.stop()


def body_routes() -> list[tuple[OperationSpec, str, str]]:
    """(spec, verb, path) of every public REST binding that takes a body, path variables filled in."""
    routes = []
    for spec in SPECS.values():
        if spec.http is None or spec.admin is not None or spec.client_streaming:
            continue
        for rule in spec.http.bindings:
            if rule.body:
                path = rule.template
                for name in rule.path_fields:
                    path = path.replace("{" + name + "}", "00000000-0000-4000-8000-000000000000")
                routes.append((spec, rule.verb, path))
    return routes


def ordinary_route() -> tuple[str, str]:
    _, verb, path = next(r for r in body_routes() if body_limit(r[0], LIMITS) == MAX_BODY)
    return verb, path


def document_route() -> tuple[str, str]:
    _, verb, path = next(r for r in body_routes() if body_limit(r[0], LIMITS) > MAX_BODY)
    return verb, path


async def exchange(gw: GatewayProcess, data: bytes) -> bytes:
    """Send `data` on a new connection, then read until the gateway closes it (failing past BOUND)."""
    host, port = gw.rest_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        async with asyncio.timeout(BOUND):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)
    except TimeoutError:
        raise AssertionError(f"the gateway held the connection open for {BOUND}s") from None
    finally:
        writer.close()


def head(verb: str, path: str, token: str | None, extra: str) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"{verb} {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n{auth}{extra}\r\n".encode()


def answer_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the google.rpc.Status JSON of one answer."""
    header, _, body = raw.partition(b"\r\n\r\n")
    assert header, "the gateway closed the connection without an answer"
    status = int(header.split(b" ", 2)[1])
    assert b"application/json" in header.lower(), raw[:300]
    return status, json.loads(body)


def reason_of(status: dict[str, Any]) -> str:
    return next(d["reason"] for d in status["details"] if d["@type"].endswith("ErrorInfo"))


def handled(gw: GatewayProcess, code: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(gw.metrics())
        for sample in family.samples
        if sample.name == "grpc_server_handled_total" and sample.labels.get("grpc_code") == code
    )


# ---- headers --------------------------------------------------------------------------------------------------


async def test_a_connection_that_sends_nothing_is_closed(gw: GatewayProcess) -> None:
    assert await exchange(gw, b"") == b""


async def test_headers_that_never_finish_are_cut_off(gw: GatewayProcess) -> None:
    verb, path = ordinary_route()
    assert await exchange(gw, f"{verb} {path} HTTP/1.1\r\nHost: gateway\r\nX-Slow: ".encode()) == b""


# ---- bodies ---------------------------------------------------------------------------------------------------


async def test_a_declared_body_that_never_comes_is_408_and_the_connection_closes(gw: GatewayProcess) -> None:
    verb, path = ordinary_route()
    before = handled(gw, "DEADLINE_EXCEEDED")

    status, body = answer_of(await exchange(gw, head(verb, path, gw.token, "Content-Length: 100\r\n")))

    assert status == 408, body
    assert reason_of(body) == "REQUEST_BODY_TIMEOUT"
    assert hostile.status_shape_problem(body) is None
    assert handled(gw, "DEADLINE_EXCEEDED") == before + 1  # counted under its method like any call


async def test_a_chunked_body_that_stops_is_408(gw: GatewayProcess) -> None:
    verb, path = ordinary_route()
    request = head(verb, path, gw.token, "Transfer-Encoding: chunked\r\n") + b'5\r\n{"tit\r\n'
    status, body = answer_of(await exchange(gw, request))
    assert (status, reason_of(body)) == (408, "REQUEST_BODY_TIMEOUT")


async def test_without_a_token_the_body_is_never_waited_for(gw: GatewayProcess) -> None:
    """Authentication needs only headers: the 401 comes at once, though the declared body never does."""
    verb, path = ordinary_route()
    status, body = answer_of(await exchange(gw, head(verb, path, None, "Content-Length: 100\r\n")))
    assert (status, reason_of(body)) == (401, "MISSING_CREDENTIALS")


async def test_fifty_stalled_connections_are_all_closed(gw: GatewayProcess) -> None:
    verb, path = ordinary_route()
    stalls = [
        b"",
        f"{verb} {path} HTTP/1.1\r\nHost: gateway\r\n".encode(),
        head(verb, path, gw.token, "Content-Length: 100\r\n"),
        head(verb, path, None, "Content-Length: 100\r\n"),
        head(verb, path, gw.token, "Transfer-Encoding: chunked\r\n") + b"1\r\n{\r\n",
    ]
    answers = await asyncio.gather(*(exchange(gw, stalls[i % len(stalls)]) for i in range(50)))
    assert len(answers) == 50  # every exchange ended: the gateway closed each connection


# ---- body limits per route ------------------------------------------------------------------------------------


async def test_an_ordinary_route_refuses_a_body_over_its_limit_before_reading_it(gw: GatewayProcess) -> None:
    verb, path = ordinary_route()
    request = head(verb, path, gw.token, f"Content-Length: {MAX_BODY + 1}\r\n")  # and no body at all
    status, body = answer_of(await exchange(gw, request))
    assert (status, reason_of(body)) == (413, "REQUEST_BODY_TOO_LARGE")
    info = next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))
    assert info["metadata"]["limit_bytes"] == str(MAX_BODY)


async def test_a_streamed_body_is_refused_as_it_passes_the_limit(gw: GatewayProcess) -> None:
    verb, path = ordinary_route()
    chunk = b"x" * 8192
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY // len(chunk) + 2))
    status, body = answer_of(await exchange(gw, head(verb, path, gw.token, "Transfer-Encoding: chunked\r\n") + chunks))
    assert (status, reason_of(body)) == (413, "REQUEST_BODY_TOO_LARGE")


async def test_a_route_carrying_documents_accepts_a_larger_body(gw: GatewayProcess) -> None:
    """The same declared size that an ordinary route refuses at once is read here (and then times out)."""
    verb, path = document_route()
    status, body = answer_of(await exchange(gw, head(verb, path, gw.token, f"Content-Length: {MAX_BODY + 1}\r\n")))
    assert (status, reason_of(body)) == (408, "REQUEST_BODY_TIMEOUT")
    request = head(verb, path, gw.token, f"Content-Length: {MAX_DOCUMENT + 1}\r\n")
    status, body = answer_of(await exchange(gw, request))
    assert (status, reason_of(body)) == (413, "REQUEST_BODY_TOO_LARGE")
