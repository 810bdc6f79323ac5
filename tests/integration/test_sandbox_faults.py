"""Fault injection over real sockets: injected statuses, delays, raw bodies and resets, then normal service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from encord_gateway.upstream.signing import encode_body, v1_authorization, v2_signature_headers

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser


@pytest.fixture
def faulty(sandbox_factory: Callable[[Path | None], Sandbox]) -> Sandbox:
    """A sandbox of the test's own: faults never leak into tests that share the session sandbox."""
    return sandbox_factory(None)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def add_fault(sandbox: Sandbox, spec: dict[str, Any]) -> str:
    status, answer = sandbox.control("POST", "/sandbox/v1/faults", spec)
    assert status == 201, answer
    fault_id: str = answer["id"]
    return fault_id


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


async def v1_list_projects(session: aiohttp.ClientSession, sandbox: Sandbox, user: SandboxUser) -> Reply:
    body = encode_body({"query_type": "projectwithuserrole", "query_method": "GET", "values": {"uid": None}})
    headers = {
        "Content-Type": "application/json",
        "ResourceType": "",
        "ResourceID": "",
        "Authorization": v1_authorization(user.signer, body),
    }
    async with session.post(sandbox.url + "/public/user", data=body, headers=headers) as response:
        return Reply(response.status, dict(response.headers), await response.read())


async def v2_list_ontologies(session: aiohttp.ClientSession, sandbox: Sandbox, user: SandboxUser) -> Reply:
    target = "/v2/public/ontologies"
    headers = v2_signature_headers(user.signer, "GET", target, b"", int(time.time()))
    async with session.get(sandbox.url + target, headers=headers) as response:
        return Reply(response.status, dict(response.headers), await response.read())


def is_envelope_ok(reply: Reply) -> bool:
    return reply.status == 200 and reply.body.startswith(b'{"status": 200')


async def test_status_and_retry_after_are_served_n_times_then_normal_service_resumes(
    faulty: Sandbox, session: aiohttp.ClientSession
) -> None:
    user = faulty.new_user()
    fault_id = add_fault(
        faulty,
        {
            "match": {"api": "v1", "query_type": "projectwithuserrole", "query_method": "GET"},
            "times": 2,
            "status": 429,
            "headers": {"Retry-After": "1"},
        },
    )
    replies = [await v1_list_projects(session, faulty, user) for _ in range(3)]
    assert [r.status for r in replies[:2]] == [429, 429]
    assert all(r.headers["Retry-After"] == "1" for r in replies[:2])
    assert is_envelope_ok(replies[2])

    entries = faulty.requests_log()
    assert [(e["outcome"], e["status"], e["fault"], e["auth"]) for e in entries] == [
        ("fault", 429, fault_id, None),
        ("fault", 429, fault_id, None),
        ("ok", 200, None, "ssh"),
    ]
    assert entries[0]["query_type"] == "projectwithuserrole"
    status, listed = faulty.control("GET", "/sandbox/v1/faults")
    assert status == 200
    assert [(f["id"], f["hits"], f["remaining"]) for f in listed] == [(fault_id, 2, 0)]


async def test_a_delay_only_fault_answers_late_but_normally(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    fault_id = add_fault(faulty, {"match": {"api": "v2"}, "delay_seconds": 0.6})
    started = time.monotonic()
    late = await v2_list_ontologies(session, faulty, user)
    assert time.monotonic() - started >= 0.6
    assert late.status == 200
    assert (await v2_list_ontologies(session, faulty, user)).status == 200
    assert [(e["outcome"], e["fault"]) for e in faulty.requests_log()] == [("ok", fault_id), ("ok", None)]


async def test_a_delayed_error_waits_before_answering(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    add_fault(faulty, {"match": {"api": "v1"}, "delay_seconds": 0.5, "status": 503})
    started = time.monotonic()
    reply = await v1_list_projects(session, faulty, user)
    assert reply.status == 503 and time.monotonic() - started >= 0.5


async def test_an_html_error_page_is_served_as_given(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    add_fault(faulty, {"status": 502, "body": page, "headers": {"Content-Type": "text/html"}})
    reply = await v1_list_projects(session, faulty, user)
    assert reply.status == 502
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.body == page.encode()


async def test_a_truncated_json_body_is_served_byte_for_byte(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    add_fault(faulty, {"match": {"api": "v2"}, "status": 200, "body": '{"results": [{"ontologyUuid": "'})
    reply = await v2_list_ontologies(session, faulty, user)
    assert reply.status == 200 and reply.body == b'{"results": [{"ontologyUuid": "'


async def test_a_reset_closes_the_connection_without_an_answer(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    fault_id = add_fault(faulty, {"match": {"path_prefix": "/public"}, "reset": True})
    with pytest.raises(aiohttp.ClientConnectionError):
        await v1_list_projects(session, faulty, user)
    assert is_envelope_ok(await v1_list_projects(session, faulty, user))
    entries = faulty.requests_log()
    assert [(e["outcome"], e["status"], e["fault"]) for e in entries] == [("fault", None, fault_id), ("ok", 200, None)]


async def test_a_reset_is_a_tcp_reset_not_a_clean_close(faulty: Sandbox) -> None:
    add_fault(faulty, {"reset": True})
    reader, writer = await asyncio.open_connection("127.0.0.1", faulty.port)
    try:
        writer.write(b"GET /v2/public/projects HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        await writer.drain()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


async def wait_until_applied(sandbox: Sandbox) -> None:
    for _ in range(200):
        _, listed = await asyncio.to_thread(sandbox.control, "GET", "/sandbox/v1/faults")
        if any(f["hits"] for f in listed):
            return
        await asyncio.sleep(0.05)
    pytest.fail("the fault was never applied")


async def test_a_pending_delay_never_holds_up_shutdown(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    add_fault(faulty, {"delay_seconds": 60})
    pending = asyncio.create_task(v1_list_projects(session, faulty, user))
    await wait_until_applied(faulty)
    started = time.monotonic()
    await asyncio.to_thread(faulty.stop)
    assert faulty.process.returncode == 0
    assert time.monotonic() - started < 5
    assert (await pending).status == 200  # the cut-short call is still answered


async def test_faults_apply_before_authentication(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    add_fault(faulty, {"match": {"method": "GET"}, "status": 500, "body": "upstream exploded"})
    async with session.get(faulty.url + "/v2/public/projects") as response:  # no credentials at all
        assert response.status == 500 and await response.text() == "upstream exploded"
    async with session.get(faulty.url + "/v2/public/projects") as response:
        assert response.status == 401


async def test_faults_match_only_what_they_name(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    add_fault(faulty, {"match": {"api": "v2", "path_prefix": "/v2/public/projects"}, "times": 0, "status": 503})
    assert (await v2_list_ontologies(session, faulty, user)).status == 200
    assert is_envelope_ok(await v1_list_projects(session, faulty, user))
    assert faulty.control("GET", "/sandbox/v1/health") == (200, {"status": "ok"})  # the control API is never faulted
    async with session.get(faulty.url + "/v2/public/projects") as response:
        assert response.status == 503


async def test_cleared_faults_stop_applying(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    add_fault(faulty, {"times": 0, "status": 500})
    for _ in range(3):
        assert (await v1_list_projects(session, faulty, user)).status == 500
    status, listed = faulty.control("GET", "/sandbox/v1/faults")
    assert status == 200 and listed[0]["hits"] == 3 and listed[0]["remaining"] is None
    assert faulty.control("DELETE", "/sandbox/v1/faults") == (204, None)
    assert faulty.control("GET", "/sandbox/v1/faults") == (200, [])
    assert is_envelope_ok(await v1_list_projects(session, faulty, user))


async def test_the_first_registered_matching_fault_wins(faulty: Sandbox, session: aiohttp.ClientSession) -> None:
    user = faulty.new_user()
    add_fault(faulty, {"match": {"api": "v1"}, "status": 502})
    add_fault(faulty, {"status": 503})
    assert [(await v1_list_projects(session, faulty, user)).status for _ in range(3)] == [502, 503, 200]


@pytest.mark.parametrize(
    "spec",
    [
        {"times": -1},
        {"times": "2"},
        {"delay_seconds": 61},
        {"delay_seconds": -0.1},
        {"status": 99},
        {"status": True},
        {"reset": True, "status": 500},
        {"headers": {"Content-Length": "5"}},
        {"headers": {"Retry-After": 1}},
        {"match": {"api": "v3"}},
        {"match": {"host": "x"}},
        {"explode": True},
        [],
    ],
)
def test_a_bad_fault_spec_is_refused(faulty: Sandbox, spec: Any) -> None:
    status, answer = faulty.control("POST", "/sandbox/v1/faults", spec)
    assert status == 400 and answer["message"]
    assert faulty.control("GET", "/sandbox/v1/faults") == (200, [])
