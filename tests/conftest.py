"""Shared fixtures: settings, a started app with an HTTP client, PostgreSQL, accounts.

PostgreSQL: a fresh database per test session on ``SEADRAGON_TEST_DATABASE_URL``'s server
(default 127.0.0.1:5432 as postgres), dropped at the end. Without a server the tests that
need it skip, except with ``CI`` set, where they fail: CI must prove PostgreSQL works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from account_helpers import Accounts, build_settings, client_for, pg_database
from seadragon.config import Settings
from seadragon.db.engine import Database

TABLES = (
    "setup_tokens",
    "conversation_messages",
    "conversations",
    "request_log",
    "login_failures",
    "sessions",
    "limit_leases",
    "limit_counters",
    "limits",
    "api_keys",
    "users",
)


# Settings -----------------------------------------------------------------------------


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    return lambda **overrides: build_settings(tmp_path / "data", **overrides)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


# PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """One PostgreSQL database for the whole test session."""
    with pg_database() as url:
        yield url


async def _truncate(url: str) -> None:
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username,
        password=parsed.password, database=parsed.database,
    )  # fmt: skip
    try:
        present = await connection.fetchval("SELECT to_regclass('public.users') IS NOT NULL")
        if present:
            await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each account test runs twice: on a SQLite file and on (emptied) PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
    url: str = request.getfixturevalue("pg_database_url")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
async def database(make_settings: Callable[..., Settings], db_url: str) -> AsyncIterator[Database]:
    """A migrated database, on SQLite and on PostgreSQL (see ``db_url``)."""
    database = Database(make_settings(database_url=db_url))
    await database.start()
    yield database
    await database.close()


# The app ------------------------------------------------------------------------------


@pytest.fixture
async def make_app() -> AsyncIterator[Callable[[Settings], Awaitable[FastAPI]]]:
    """``await make_app(settings)`` → an app whose lifespan runs until the test ends."""
    from seadragon.app import create_app

    async with AsyncExitStack() as stack:

        async def factory(settings: Settings) -> FastAPI:
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield factory


@pytest.fixture
async def app(settings: Settings, make_app: Callable[[Settings], Awaitable[FastAPI]]) -> FastAPI:
    return await make_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


# Accounts ---------------------------------------------------------------------------------


@pytest.fixture
def accounts(app: FastAPI) -> Accounts:
    return Accounts(app)
