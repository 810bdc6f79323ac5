"""The sandbox's HTTP surface: inject faults, then per request one transaction to authenticate and dispatch; answer, log."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from . import blobs, control, faults, routing
from .appkeys import FAULTS, REQUEST_LOG, STORE
from .auth import Caller, authenticate_v1, authenticate_v2
from .errors import ApiError, invalid
from .faults import FAULT_ID, FaultTable, RequestFacts
from .operations import Held, NoContent, V2Call
from .requestlog import OK, LoggedCall, RequestLog
from .routing import Envelope
from .store import Store

log = logging.getLogger(__name__)

# Label documents and upload registrations can be large; Encord itself answers 413 far above aiohttp's 1 MiB.
MAX_BODY_BYTES = 64 * 1024 * 1024
HOLD_POLL_SECONDS = 0.1
"""How often a held long poll runs its handler again to see whether the answer is final."""


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        raise invalid("the request body is not valid JSON") from None


def _v1_error(error: ApiError) -> dict[str, Any]:
    # `response` must be a one-element list: the SDK compares it as a list (§2.5).
    return {"status": 400, "response": [error.code], "payload": error.payload}


async def _handle_v1(request: web.Request, *, user_endpoint: bool) -> web.Response:
    store, body = request.app[STORE], await request.read()
    resource_type = request.headers.get("ResourceType", "")
    resource_id = request.headers.get("ResourceID", "")
    parsed: Any = None
    envelope: Envelope | None = None
    caller: Caller | None = None
    http_status, outcome = 200, OK
    try:
        try:
            parsed = _parse_json(body)
            envelope = Envelope.parse(parsed)
        except ApiError as bad_body:
            envelope_error: ApiError | None = bad_body
        else:
            envelope_error = None
        # Committed before the answer is sent; rolled back if anything raises, so a refusal writes nothing.
        with store.transaction():
            caller = authenticate_v1(store, request.headers, body, user_endpoint=user_endpoint)
            if envelope_error is not None:
                http_status = 400  # the body is not an envelope at all: a transport-level bad request
                raise envelope_error
            assert envelope is not None
            dispatched = caller, envelope  # bound now: the hold below runs the same call again

            def dispatch() -> tuple[Any, str]:
                return routing.dispatch_v1(
                    store,
                    dispatched[0],
                    user_endpoint=user_endpoint,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    envelope=dispatched[1],
                )

            result, outcome = dispatch()
        if isinstance(result, Held):
            result, outcome = await _hold(store, dispatch, result, outcome)
        answer: Any = {"status": 200, "response": result}
    except ApiError as error:
        outcome, answer = error.outcome, _v1_error(error)
    except Exception:
        log.exception("sandbox v1 handler failed")
        http_status, outcome, answer = 500, "UNKNOWN_ERROR", {"status": 500, "response": ["UNKNOWN_ERROR"]}
    request.app[REQUEST_LOG].record(
        LoggedCall(
            api="v1",
            method=request.method,
            path=request.path,
            query_type=envelope.query_type if envelope else None,
            query_method=envelope.query_method if envelope else None,
            resource_id=resource_id or None,
            resource_type=resource_type or None,
            user=caller.user.email if caller else None,
            status=http_status,
            outcome=outcome,
            auth=caller.auth if caller else None,
            key_hash=caller.api_key.key_hash if caller and caller.api_key else None,
            fault=request.get(FAULT_ID),
        )
    )
    return web.json_response(answer, status=http_status)


async def v1_user(request: web.Request) -> web.Response:
    return await _handle_v1(request, user_endpoint=True)


async def v1_resource(request: web.Request) -> web.Response:
    return await _handle_v1(request, user_endpoint=False)


async def v2_any(request: web.Request) -> web.StreamResponse:
    store, body = request.app[STORE], await request.read()
    path = request.match_info["tail"].rstrip("/")
    caller: Caller | None = None
    outcome = OK
    response: web.StreamResponse
    try:
        with store.transaction():
            # The signature covers the request target exactly as sent (`+` for spaces, original order).
            caller = authenticate_v2(store, request.method, request.raw_path, request.headers, body)
            route, params = routing.resolve_v2(request.method, path)
            call = V2Call(
                store=store,
                user=caller.user,
                params=params,
                query=request.query,
                query_lists={k: request.query.getall(k) for k in request.query},
                body=_parse_json(body) if body else None,
                origin=f"{request.scheme}://{request.host}",
            )
            result, outcome = routing.dispatch_v2(route, call)
        if isinstance(result, Held):
            result, outcome = await _hold(store, lambda: routing.dispatch_v2(route, call), result, outcome)
        response = web.Response(status=204) if isinstance(result, NoContent) else web.json_response(result)
    except ApiError as error:
        outcome = error.outcome
        response = web.json_response({"message": error.message}, status=error.http_status)
    except Exception:
        log.exception("sandbox v2 handler failed")
        outcome = "UNKNOWN_ERROR"
        response = web.json_response({"message": "internal sandbox error"}, status=500)
    resource_type, resource_id = routing.route_params(request.method, path)
    request.app[REQUEST_LOG].record(
        LoggedCall(
            api="v2",
            method=request.method,
            path=request.path,
            query_type=None,
            query_method=None,
            resource_id=resource_id,
            resource_type=resource_type,
            user=caller.user.email if caller else None,
            status=response.status,
            outcome=outcome,
            auth=caller.auth if caller else None,
            fault=request.get(FAULT_ID),
        )
    )
    return response


async def _hold(store: Store, dispatch: Callable[[], tuple[Any, str]], held: Held, outcome: str) -> tuple[Any, str]:
    """A long poll (§4.5, v1 or v2) holds the call: the handler runs again, each time in a transaction of its own
    (never one held open while waiting), until it answers something final or the wait it asked for has passed."""
    loop = asyncio.get_running_loop()
    until = loop.time() + held.hold_seconds
    result: Any = held
    while isinstance(result, Held) and (remaining := until - loop.time()) > 0:
        await asyncio.sleep(min(HOLD_POLL_SECONDS, remaining))
        with store.transaction():
            result, outcome = dispatch()
    return (result.body if isinstance(result, Held) else result), outcome


V2_PREFIX = "/v2/public/"


async def _request_facts(request: web.Request) -> RequestFacts | None:
    """What faults match on, for v1/v2 calls only (never the control API); None for other paths."""
    if request.path in ("/public", "/public/user"):
        try:
            envelope: Envelope | None = Envelope.parse(json.loads(await request.read()))
        except (ApiError, ValueError):
            envelope = None
        return RequestFacts(
            api="v1",
            method=request.method,
            path=request.path,
            query_type=envelope.query_type if envelope else None,
            query_method=envelope.query_method if envelope else None,
            resource_id=request.headers.get("ResourceID") or None,
            resource_type=request.headers.get("ResourceType") or None,
        )
    if request.path.startswith(V2_PREFIX):
        resource_type, resource_id = routing.route_params(request.method, request.path[len(V2_PREFIX) :].rstrip("/"))
        return RequestFacts("v2", request.method, request.path, None, None, resource_id, resource_type)
    if request.path.startswith(blobs.PREFIX):  # the bucket behind signed URLs fails too (`"api": "blob"`)
        return RequestFacts("blob", request.method, request.path, None, None, None, None)
    return None


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults apply before authentication, so they also model failures of the infrastructure in front of Encord."""
    table = request.app[FAULTS]
    if not table:
        return await handler(request)
    facts = await _request_facts(request)
    fault = table.take(facts) if facts is not None else None
    if fault is None or facts is None:
        return await handler(request)
    response = await faults.apply(request, table, fault, facts, request.app[REQUEST_LOG])
    return response if response is not None else await handler(request)


async def _close_store(app: web.Application) -> None:
    app[STORE].close()


def create_app(state_path: Path | None = None) -> web.Application:
    """The sandbox application; its state lives in the SQLite database `state_path`, or in memory."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[inject_faults, blobs.remember_origin])
    app[STORE] = Store(state_path)
    app.on_cleanup.append(_close_store)
    app[REQUEST_LOG] = RequestLog()
    app[FAULTS] = FaultTable()
    app.on_shutdown.append(app[FAULTS].on_shutdown)
    app.router.add_post("/public", v1_resource)
    app.router.add_post("/public/user", v1_user)
    app.router.add_route("*", "/v2/public/{tail:.*}", v2_any)
    blobs.add_routes(app)
    control.add_routes(app)
    return app


async def serve(host: str, port: int, state_path: Path | None) -> None:
    """Serve until SIGINT or SIGTERM, then close connections cleanly."""
    runner = web.AppRunner(create_app(state_path), handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("Encord sandbox listening on http://%s:%d", host, port)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
