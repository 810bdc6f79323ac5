"""The engine's use of the cache, through the races a user notices: a listing that misses a new project,
a read that fails because another caller gave up. Real asyncio tasks, ordered by events (no sleeps)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from declared import declare, message, op, rpc, rpc_full_name
from encord_gateway.cache import MemoryCache
from encord_gateway.operations.engine import CallContext, Engine
from encord_gateway.telemetry.metrics import Metrics
from encord_gateway.upstream.calls import WireCall
from encord_gateway.upstream.credentials import Credential

NAME = "engine_cache"
LIST = rpc_full_name(NAME, "ListProjects")
D = declare(
    NAME,
    message("ListRequest", "string title"),
    message("Project", "string project_hash"),
    message("Projects", "repeated Project projects"),
    message("CreateRequest", "string title"),
    message("Created", "string project_hash"),
    rpc(
        "ListProjects",
        "ListRequest",
        "Projects",
        op("""
        v1: {query_type: "projects" query_method: "GET"}
        access: ACCESS_READ resource_type: RESOURCE_TYPE_PROJECT cache_ttl_seconds: 60
    """),
    ),
    rpc(
        "CreateProject",
        "CreateRequest",
        "Created",
        op(f"""
        v1: {{query_type: "project" query_method: "POST" payload_fields: ["title"]}}
        access: ACCESS_WRITE resource_type: RESOURCE_TYPE_PROJECT invalidates: ["{LIST}"]
    """),
    ),
)


class Encord:
    """Keeps projects; a listing can be held after Encord has read its state, before its answer arrives."""

    def __init__(self) -> None:
        self.projects: list[str] = []
        self.listed = asyncio.Event()  # a listing has read the state
        self.hold = asyncio.Event()  # set: listings answer at once
        self.hold.set()
        self.listings = 0

    async def send(self, call: WireCall, credential: Any, deadline: float) -> Any:
        if call.query_type == "projects":
            self.listings += 1
            snapshot = [{"project_hash": h} for h in self.projects]
            self.listed.set()
            await self.hold.wait()
            return {"projects": snapshot}
        title = json.loads(call.body or b"{}")["values"]["payload"]["title"]
        self.projects.append(title)
        return {"project_hash": title}


class Resolver:
    async def resolve(self, organisation: str, spec: Any = None, request: Any = None) -> Credential:
        return Credential("org_ssh_key", "cred")

    def record_use(self, credential: Credential) -> None:
        """Use counts are the vault's business, not these tests'."""


def ctx(seconds: float = 30.0) -> CallContext:
    return CallContext("caller", "acme", time.monotonic() + seconds)


@pytest.fixture
def encord() -> Encord:
    return Encord()


@pytest.fixture
def engine(encord: Encord) -> Engine:
    return Engine(encord, Resolver(), MemoryCache(), Metrics())  # type: ignore[arg-type]


async def listing(engine: Engine, seconds: float = 30.0) -> tuple[list[str], str | None]:
    outcome = await engine.execute(D.spec("ListProjects"), D["ListRequest"](), ctx(seconds))
    return [p.project_hash for p in outcome.response.projects], outcome.cache


async def test_a_listing_in_flight_during_a_create_does_not_hide_the_new_project_afterwards(
    engine: Engine, encord: Encord
) -> None:
    encord.hold.clear()
    stale = asyncio.create_task(listing(engine))
    await encord.listed.wait()  # Encord has read its state, without the project created next

    await engine.execute(D.spec("CreateProject"), D["CreateRequest"](title="cars"), ctx())
    encord.hold.set()
    assert await stale == ([], "miss")

    assert await listing(engine) == (["cars"], "miss")  # the stale answer was not cached
    assert await listing(engine) == (["cars"], "hit")
    assert encord.listings == 2


async def test_a_cancelled_caller_does_not_fail_the_callers_that_share_its_read(engine: Engine, encord: Encord) -> None:
    encord.projects.append("cars")
    encord.hold.clear()
    first = asyncio.create_task(listing(engine))
    await encord.listed.wait()
    joined = asyncio.Event()

    async def second_caller() -> tuple[list[str], str | None]:
        joined.set()
        return await listing(engine)

    second = asyncio.create_task(second_caller())
    await joined.wait()
    first.cancel()  # e.g. the first caller's client went away
    with pytest.raises(asyncio.CancelledError):
        await first
    encord.hold.set()

    assert await second == (["cars"], "miss")
    assert encord.listings == 1
    assert await listing(engine) == (["cars"], "hit")  # the detached fetch stored its answer
