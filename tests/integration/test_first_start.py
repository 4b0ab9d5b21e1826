"""First start without the script: ``seadragon serve`` on an empty database prints a
one-time setup link; ``--version``; ``serve --help`` shows the main settings."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from typer.testing import CliRunner

from account_helpers import PASSWORD, Accounts, assert_openai_error, client_for
from seadragon.auth.setup import issue_token
from seadragon.cli import app as cli_app
from seadragon.config import Settings
from seadragon.db.tables import SetupToken

SETUP_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/setup#token=([A-Za-z0-9_-]{40,})")
SEADRAGON = Path(sys.executable).with_name("seadragon")


def test_version_and_serve_help() -> None:
    version = CliRunner().invoke(cli_app, ["--version"])
    assert version.exit_code == 0
    assert re.fullmatch(r"seadragon \d+\.\d+\.\d+\S*\n", version.stdout)
    helped = CliRunner().invoke(cli_app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert helped.exit_code == 0
    for shown in (
        "SEADRAGON_HOST = 127.0.0.1",
        "SEADRAGON_PORT = 8000",
        "SEADRAGON_QUEUE = memory",
        "SEADRAGON_DATABASE_URL = SQLite in data_dir",
        "SEADRAGON_WEB_BAND = low",
        "SEADRAGON_DEFAULT_MODEL = unset",
    ):
        assert shown in helped.stdout, shown


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``seadragon serve`` as an operator runs it; yields the process and its first lines."""
    env = {
        **os.environ,
        "SEADRAGON_DATA_DIR": str(data_dir),
        "SEADRAGON_PORT": str(free_port()),
        "SEADRAGON_LOCAL_MODEL": "off",
        "SEADRAGON_CONFIG": "",
        "SEADRAGON_DATABASE_URL": "",
    }
    process = subprocess.Popen(
        [str(SEADRAGON), "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:  # until uvicorn says it is up
            lines.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
        yield process, lines
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_on_an_empty_database_prints_a_setup_link_once(tmp_path: Path) -> None:
    with serve(tmp_path) as (process, lines):
        links = [m for m in map(SETUP_URL.search, lines) if m]
        assert len(links) == 1, lines
        port, token = links[0].groups()
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/api/setup").json() == {"needed": True}
        made = httpx.post(
            f"{base}/api/setup", json={"token": token, "name": "boss", "password": PASSWORD}
        )
        assert made.status_code == 201, made.text
        assert made.json()["user"] == {"id": 1, "name": "boss", "is_admin": True}
        again = httpx.post(
            f"{base}/api/setup", json={"token": token, "name": "eve", "password": PASSWORD}
        )
        assert_openai_error(again, 403, "permission_error")
        signed_in = httpx.post(
            f"{base}/api/auth/login", json={"username": "boss", "password": PASSWORD}
        )
        assert signed_in.status_code == 200 and signed_in.json()["user"]["is_admin"] is True
        assert process.poll() is None
    # A later start on the same database has users: no link.
    with serve(tmp_path) as (_, lines):
        assert not any(SETUP_URL.search(line) or "/setup" in line for line in lines), lines


@pytest.fixture
def settings(make_settings: Callable[..., Settings], db_url: str) -> Settings:
    return make_settings(database_url=db_url)


async def test_a_setup_token_works_once_and_not_after_an_hour(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    database = app.state.database
    token, stale = await issue_token(database), await issue_token(database)
    assert token and stale and token != stale
    async with database.session() as session:
        await session.execute(
            update(SetupToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    token = await issue_token(database)
    assert token is not None

    async def attempt(value: Any, name: str = "first", password: str = PASSWORD) -> httpx.Response:
        body = {"token": value, "name": name, "password": password}
        return await client.post("/api/setup", json=body)

    assert_openai_error(await attempt(stale), 403, "permission_error")  # expired
    assert_openai_error(await attempt("x" * 43), 403, "permission_error")
    assert_openai_error(await attempt(token + "\x00"), 403, "permission_error")
    bad = await attempt(token, password="short")
    assert assert_openai_error(bad, 400, "invalid_request_error")["param"] == "password"
    bad = await attempt(token, name="bad name!")
    assert assert_openai_error(bad, 400, "invalid_request_error")["param"] == "name"
    assert_openai_error(await attempt(5), 400, "invalid_request_error")

    # Two racing requests with the one good token: exactly one administrator.
    first, second = await asyncio.gather(attempt(token, "ann"), attempt(token, "bea"))
    assert sorted([first.status_code, second.status_code]) == [201, 403]
    assert (await client.get("/api/setup")).json() == {"needed": False}
    assert await issue_token(database) is None  # users exist: no new link, ever


async def test_no_setup_once_users_exist(app: FastAPI) -> None:
    await Accounts(app).user("someone")
    token = await issue_token(app.state.database)
    assert token is None
    async with client_for(app) as client:
        response = await client.post(
            "/api/setup", json={"token": "anything", "name": "x", "password": PASSWORD}
        )
    assert_openai_error(response, 403, "permission_error")
