"""Session fixtures for the shared engines: a real Redis and a real PostgreSQL, started by the tests themselves.

The engines come from `encord_gateway.cluster.engines` (what `make cluster` uses). When one is missing the
fixture FAILS, naming the install: CI must prove the shared backends, never silently leave them out.
tests/conftest.py makes both fixtures available to every test.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator

import pytest
from encord_gateway.cluster import engines
from encord_gateway.cluster.engines import Engine, EngineError


@pytest.fixture(scope="session", name="redis_engine")
def redis_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One redis-server for the session; tests keep apart by key prefix."""
    try:
        server = engines.start_redis(tmp_path_factory.mktemp("redis"))
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", name="postgres_engine")
def postgres_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One PostgreSQL cluster for the session; tests keep apart by database (`fresh_database`)."""
    try:
        server = engines.start_postgres(tmp_path_factory.mktemp("postgres"))
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        engines.remove_postgres_files(server)


def fresh_database(server: Engine) -> str:
    """A new, empty database on `server`; its DSN. (Runs its own loop in a thread: callable from async tests.)"""
    import asyncpg

    name = "t_" + secrets.token_hex(6)

    async def create() -> None:
        connection = await asyncpg.connect(server.url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(create())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return server.url.rsplit("/", 1)[0] + "/" + name
