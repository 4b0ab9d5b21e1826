"""Login limits over HTTP, on SQLite and PostgreSQL: parallel guesses are counted
atomically, new client addresses do not reset an account's count, and
``seadragon users unlock`` lifts a lock at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI
from typer.testing import CliRunner

from account_helpers import PASSWORD, Accounts, assert_openai_error, client_for
from seadragon.cli import app as cli_app
from seadragon.config import Settings

AppMaker = Callable[[Settings], Awaitable[FastAPI]]
WRONG = {"username": "alice", "password": "wrong-password"}
RIGHT = {"username": "alice", "password": PASSWORD}


async def test_parallel_wrong_passwords_check_at_most_the_limit(
    make_settings: Callable[..., Settings], make_app: AppMaker, db_url: str
) -> None:
    app = await make_app(make_settings(database_url=db_url, login_max_failures=5))
    await Accounts(app).user("alice")
    async with client_for(app, "10.0.0.1") as http:
        responses = await asyncio.gather(
            *(http.post("/api/auth/login", json=WRONG) for _ in range(40))
        )
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) <= {401, 429}
        assert 1 <= statuses[401] <= 5, statuses
        locked = await http.post("/api/auth/login", json=RIGHT)
        assert_openai_error(locked, 429, "rate_limit_error")


async def test_new_addresses_do_not_bypass_the_account_limit_and_unlock_lifts_it(
    make_settings: Callable[..., Settings], make_app: AppMaker, db_url: str
) -> None:
    settings = make_settings(
        database_url=db_url,
        login_max_failures=5,
        login_account_max_failures=10,
        login_account_delay_s=600,
    )
    app = await make_app(settings)
    await Accounts(app).user("alice")
    statuses = []
    for n in range(20):  # an attacker that takes a fresh address for every guess
        async with client_for(app, f"10.0.{n}.1") as http:
            statuses.append((await http.post("/api/auth/login", json=WRONG)).status_code)
    assert statuses == [401] * 10 + [429] * 10

    async with client_for(app, "192.168.1.5") as owner:
        slowed = await owner.post("/api/auth/login", json=RIGHT)
        assert_openai_error(slowed, 429, "rate_limit_error")
        assert 500 <= int(slowed.headers["Retry-After"]) <= 600

        env = {
            "SEADRAGON_DATA_DIR": str(settings.data_dir),
            "SEADRAGON_DATABASE_URL": db_url,
            "SEADRAGON_CONFIG": "",
        }
        result = await asyncio.to_thread(
            CliRunner().invoke, cli_app, ["users", "unlock", "ALICE"], env=env
        )
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert "unlocked ALICE (10 failed sign-ins forgotten)" in result.stdout
        assert (await owner.post("/api/auth/login", json=RIGHT)).status_code == 200

    missing = await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["users", "unlock", "nobody"], env=env
    )
    assert missing.exit_code == 1 and "no user named" in missing.stderr


async def test_the_right_password_is_not_slowed_below_the_account_limit(
    make_settings: Callable[..., Settings], make_app: AppMaker
) -> None:
    app = await make_app(make_settings(login_max_failures=3, login_account_max_failures=10))
    await Accounts(app).user("alice")
    for n in range(9):
        async with client_for(app, f"10.1.{n}.1") as http:
            assert (await http.post("/api/auth/login", json=WRONG)).status_code == 401
    async with client_for(app, "10.2.0.1") as http:
        response: httpx.Response = await http.post("/api/auth/login", json=RIGHT)
        assert response.status_code == 200
