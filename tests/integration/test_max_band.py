"""Self-service keys are capped: a user's own keys get at most the band an admin allowed
them (``max_band``, by default the API default band), and never more than the key that
makes them. Admins set the cap over the API and the CLI."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from account_helpers import Accounts, assert_openai_error, bearer
from seadragon.cli import app as cli_app

PASSWORD = "a long enough password"


async def test_a_user_cannot_give_their_own_keys_more_than_their_max_band(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = bearer(await accounts.key(await accounts.admin()))
    alice = await accounts.user("alice")
    changed = await client.patch(
        f"/api/users/{alice.id}", json={"max_band": "normal"}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["max_band"] == "normal"

    session_csrf = await accounts.login(client, "alice")  # a web session: band low
    web = {"X-CSRF-Token": session_csrf}
    refused = await client.post("/api/keys", json={"band": "high"}, headers=web)
    assert assert_openai_error(refused, 403, "permission_error")["param"] == "band"
    made = await client.post("/api/keys", json={}, headers=web)
    assert made.status_code == 201 and made.json()["band"] == "normal"  # the cap, not high
    client.cookies.clear()

    # A normal key cannot mint a high one, even when an admin later raises the cap.
    normal_key = bearer(made.json()["key"])
    await client.patch(f"/api/users/{alice.id}", json={"max_band": "high"}, headers=admin)
    again = await client.post("/api/keys", json={"band": "high"}, headers=normal_key)
    assert_openai_error(again, 403, "permission_error")
    low = await client.post("/api/keys", json={"band": "low"}, headers=normal_key)
    assert low.status_code == 201 and low.json()["band"] == "low"

    # Admins issue keys at any band, for anyone.
    issued = await client.post(
        "/api/keys", json={"band": "high", "user_id": alice.id}, headers=admin
    )
    assert issued.status_code == 201 and issued.json()["band"] == "high"


async def test_max_band_defaults_to_the_api_band_and_is_validated(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = bearer(await accounts.key(await accounts.admin()))
    created = await client.post(
        "/api/users", json={"name": "bob", "password": PASSWORD}, headers=admin
    )
    assert created.json()["max_band"] == "high"
    capped = await client.post(
        "/api/users", json={"name": "carol", "password": PASSWORD, "max_band": "low"},
        headers=admin,
    )  # fmt: skip
    assert capped.status_code == 201 and capped.json()["max_band"] == "low"
    listed = (await client.get("/api/users", headers=admin)).json()["data"]
    assert {u["name"]: u["max_band"] for u in listed}["carol"] == "low"
    bad = await client.patch(
        f"/api/users/{created.json()['id']}", json={"max_band": "gold"}, headers=admin
    )
    assert assert_openai_error(bad, 400, "invalid_request_error")["param"] == "max_band"
    user_key = bearer(await accounts.key(await accounts.user("dave")))
    denied = await client.patch(
        f"/api/users/{created.json()['id']}", json={"max_band": "high"}, headers=user_key
    )
    assert_openai_error(denied, 403, "permission_error")


def test_the_cli_sets_and_shows_max_band(tmp_path: Path) -> None:
    env = {
        "SEADRAGON_DATA_DIR": str(tmp_path),
        "SEADRAGON_DATABASE_URL": "",
        "SEADRAGON_CONFIG": "",
    }

    def cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli_app, list(args), input=input, env=env)
        return result.exit_code, result.stdout, result.stderr

    assert cli("users", "create", "bot", "--max-band", "normal", "--password-stdin",
               input=PASSWORD)[0] == 0  # fmt: skip
    assert cli("users", "create", "x", "--max-band", "gold", "--password-stdin",
               input=PASSWORD)[0] == 2  # fmt: skip
    code, out, _ = cli("users", "list")
    assert code == 0 and "max band" in out and "normal" in out.split("bot", 1)[1]
    code, out, _ = cli("users", "set", "bot", "--max-band", "low")
    assert code == 0 and "up to low" in out
    assert "low" in cli("users", "list")[1].split("bot", 1)[1]
    assert cli("users", "set", "bot", "--max-band", "gold")[0] == 2
    assert cli("users", "set", "nobody", "--max-band", "low")[0] == 1
