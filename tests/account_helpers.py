"""Helpers for tests that need accounts: settings, PostgreSQL databases, users and keys,
signing in, checking error shapes.

Importable from any test module as ``account_helpers`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy.engine import URL, make_url

from seadragon.auth import accounts as account_ops
from seadragon.auth.keys import generate_key
from seadragon.config import Settings
from seadragon.db import keys as key_repo
from seadragon.db.tables import User
from services import require

PASSWORD = "correct horse battery staple"
PG_ADMIN_URL = os.environ.get(
    "SEADRAGON_TEST_DATABASE_URL",
    "postgresql+asyncpg://postgres:seadragon@127.0.0.1:5432/postgres",
)


def build_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for one test: its own data dir, SQLite, no model, no backends."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": "",
        "secret_key": "",
        "queue": "memory",
        "local_model": "off",
        "ollama_url": None,
        "backends": [],
        "allow_anonymous": False,
        "secure_cookies": False,
        "cors_origins": [],
    }
    values.update(overrides)
    return Settings(**values)


async def _pg_admin(sql: str) -> None:
    url = make_url(PG_ADMIN_URL)
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _unavailable(reason: str) -> None:
    require(False, f"PostgreSQL ({reason})")


@contextmanager
def pg_database() -> Iterator[str]:
    """Create an empty PostgreSQL database; yield its SQLAlchemy URL; drop it afterwards."""
    name = f"seadragon_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _unavailable(type(exc).__name__)
    url: URL = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def client_for(app: FastAPI, client_ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class Accounts:
    """Makes users and keys straight through the database, and signs clients in."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def user(self, name: str = "alice", *, admin: bool = False) -> User:
        async with self.app.state.database.session() as session:
            user = await account_ops.create_user(session, name, PASSWORD, is_admin=admin)
            await session.commit()
            return user

    async def admin(self, name: str = "root") -> User:
        return await self.user(name, admin=True)

    async def key(
        self, user: User, *, band: str | None = None, expires_at: datetime | None = None
    ) -> str:
        """A key for ``user``; ``expires_at`` may lie in the past (to test expiry)."""
        async with self.app.state.database.session() as session:
            new = generate_key()
            await key_repo.add_key(
                session, user_id=user.id, name="test", prefix=new.prefix, last4=new.last4,
                digest=new.digest, band=band or self.app.state.settings.api_key_default_band,
                expires_at=expires_at,
            )  # fmt: skip
            await session.commit()
            return new.plaintext

    @staticmethod
    async def login(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
        """Sign ``http`` in (it keeps the cookies); return the CSRF token."""
        response = await http.post("/api/auth/login", json={"username": name, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["csrf_token"]
        return token


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_openai_error(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == type_
    assert isinstance(error["message"], str) and error["message"]
    return error
