"""Users, keys, sessions through the HTTP API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from account_helpers import PASSWORD, Accounts, assert_openai_error, bearer, client_for
from seadragon.auth.service import AuthService
from seadragon.config import Settings
from seadragon.db import keys as key_repo
from seadragon.errors import AuthenticationError


@pytest.fixture
def settings(make_settings: Callable[..., Settings], db_url: str) -> Settings:
    return make_settings(database_url=db_url)


async def test_admin_manages_users_and_others_get_403(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    root = await accounts.admin()
    alice = await accounts.user("alice")
    admin_key, alice_key = await accounts.key(root), await accounts.key(alice)

    created = await client.post(
        "/api/users", json={"name": "bob", "password": PASSWORD}, headers=bearer(admin_key)
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "bob" and created.json()["is_admin"] is False
    assert "password" not in created.text and "argon2" not in created.text
    listed = await client.get("/api/users", headers=bearer(admin_key))
    assert [u["name"] for u in listed.json()["data"]] == ["root", "alice", "bob"]

    duplicate = await client.post(
        "/api/users", json={"name": "BOB", "password": PASSWORD}, headers=bearer(admin_key)
    )
    assert assert_openai_error(duplicate, 409, "invalid_request_error")["param"] == "name"

    bob_id = created.json()["id"]
    for method, path, body in (
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"name": "eve", "password": PASSWORD}),
        ("GET", f"/api/users/{bob_id}", None),
        ("PATCH", f"/api/users/{bob_id}", {"is_admin": True}),
        ("DELETE", f"/api/users/{bob_id}", None),
    ):
        response = await client.request(method, path, json=body, headers=bearer(alice_key))
        assert_openai_error(response, 403, "permission_error")


async def test_user_validation_errors_are_400_with_param(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    key = await accounts.key(await accounts.admin())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "bad name!", "password": PASSWORD}, "name"),
        ({"name": "ok", "password": "short"}, "password"),
        ({"name": 7, "password": PASSWORD}, "name"),
        ({"name": "ok", "password": PASSWORD, "is_admin": "yes"}, "is_admin"),
        ({"name": "ok"}, "password"),
        ({"name": "ok", "password": PASSWORD, "role": "admin"}, "role"),
    ]
    for body, param in cases:
        response = await client.post("/api/users", json=body, headers=bearer(key))
        assert assert_openai_error(response, 400, "invalid_request_error")["param"] == param
    missing = await client.patch("/api/users/99999", json={}, headers=bearer(key))
    assert_openai_error(missing, 404, "not_found_error")
    huge = await client.get("/api/users/99999999999999999999", headers=bearer(key))
    assert_openai_error(huge, 400, "invalid_request_error")


async def test_key_lifecycle_shown_once_then_prefix_and_last4(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    await accounts.user("alice")
    csrf = await accounts.login(client, "alice")
    created = await client.post(
        "/api/keys", json={"name": "laptop", "expires_in_days": 30}, headers={"X-CSRF-Token": csrf}
    )
    assert created.status_code == 201, created.text
    data = created.json()
    key = data["key"]
    assert key.startswith("sd-") and data["display"] == f"{data['prefix']}…{key[-4:]}"
    assert data["band"] == "high"
    expires = datetime.fromisoformat(data["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)

    listed = await client.get("/api/keys")
    assert key not in listed.text and "key" not in listed.json()["data"][0]
    assert listed.json()["data"][0]["display"] == data["display"]

    async with client_for(app) as api:
        for headers in (bearer(key), {"x-api-key": key}):
            me = await api.get("/api/auth/me", headers=headers)
            assert me.status_code == 200, me.text
            assert me.json()["auth_type"] == "api_key"
            assert me.json()["user"]["name"] == "alice" and me.json()["band"] == "high"
        revoked = await api.delete(f"/api/keys/{data['id']}", headers=bearer(key))
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        # Revoked through this gateway: refused at once, not after the cache TTL.
        assert_openai_error(await api.get("/api/auth/me", headers=bearer(key)), 401,
                            "authentication_error")  # fmt: skip


async def test_last_used_at_is_recorded_off_the_request_path(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    key = await accounts.key(await accounts.user("alice"))
    assert (await client.get("/api/auth/me", headers=bearer(key))).status_code == 200
    async with asyncio.timeout(5):
        while True:
            listed = (await client.get("/api/keys", headers=bearer(key))).json()["data"]
            if listed[0]["last_used_at"]:
                break
            await asyncio.sleep(0.02)


async def test_users_cannot_see_or_revoke_each_others_keys(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    alice, bob, root = (
        await accounts.user("alice"),
        await accounts.user("bob"),
        await accounts.admin(),
    )
    alice_key, bob_key, root_key = (
        await accounts.key(alice), await accounts.key(bob), await accounts.key(root)
    )  # fmt: skip
    bob_keys = (await client.get("/api/keys", headers=bearer(bob_key))).json()["data"]
    bob_key_id = bob_keys[0]["id"]

    mine = (await client.get("/api/keys", headers=bearer(alice_key))).json()["data"]
    assert all(k["user_id"] == alice.id for k in mine)
    for method in ("GET", "DELETE"):
        response = await client.request(
            method, f"/api/keys/{bob_key_id}", headers=bearer(alice_key)
        )
        assert_openai_error(response, 404, "not_found_error")
    other = await client.get(f"/api/keys?user_id={bob.id}", headers=bearer(alice_key))
    assert_openai_error(other, 403, "permission_error")
    assert (await client.get("/api/auth/me", headers=bearer(bob_key))).status_code == 200

    as_admin = await client.get(f"/api/keys?user_id={bob.id}", headers=bearer(root_key))
    assert [k["id"] for k in as_admin.json()["data"]] == [bob_key_id]
    revoked = await client.delete(f"/api/keys/{bob_key_id}", headers=bearer(root_key))
    assert revoked.status_code == 200
    assert_openai_error(await client.get("/api/auth/me", headers=bearer(bob_key)), 401,
                        "authentication_error")  # fmt: skip


async def test_key_bands_non_admins_capped_at_the_default_band(
    make_settings: Callable[..., Settings],
    db_url: str,
    make_app: Callable[[Settings], Awaitable[FastAPI]],
) -> None:
    app = await make_app(make_settings(database_url=db_url, api_key_default_band="normal"))
    accounts = Accounts(app)
    alice_key = await accounts.key(await accounts.user("alice"), band="normal")
    root_key = await accounts.key(await accounts.admin(), band="high")
    async with client_for(app) as client:
        high = await client.post("/api/keys", json={"band": "high"}, headers=bearer(alice_key))
        assert assert_openai_error(high, 403, "permission_error")["param"] == "band"
        low = await client.post("/api/keys", json={"band": "low"}, headers=bearer(alice_key))
        assert low.status_code == 201 and low.json()["band"] == "low"
        default = await client.post("/api/keys", json={}, headers=bearer(alice_key))
        assert default.json()["band"] == "normal"
        unknown = await client.post("/api/keys", json={"band": "gold"}, headers=bearer(alice_key))
        assert assert_openai_error(unknown, 400, "invalid_request_error")["param"] == "band"
        admin_high = await client.post("/api/keys", json={"band": "high"}, headers=bearer(root_key))
        assert admin_high.status_code == 201
        past = await client.post(
            "/api/keys", json={"expires_at": "2001-01-01T00:00:00Z"}, headers=bearer(alice_key)
        )
        assert assert_openai_error(past, 400, "invalid_request_error")["param"] == "expires_at"


async def test_expired_revoked_and_disabled_are_refused(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    alice, root = await accounts.user("alice"), await accounts.admin()
    root_key = await accounts.key(root)
    expired = await accounts.key(alice, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    active = await accounts.key(alice)
    error = assert_openai_error(
        await client.get("/api/auth/me", headers=bearer(expired)), 401, "authentication_error"
    )
    assert error["code"] == "invalid_api_key"
    assert (await client.get("/api/auth/me", headers=bearer(active))).status_code == 200

    disabled = await client.patch(
        f"/api/users/{alice.id}", json={"disabled": True}, headers=bearer(root_key)
    )
    assert disabled.json()["disabled"] is True
    assert_openai_error(await client.get("/api/auth/me", headers=bearer(active)), 401,
                        "authentication_error")  # fmt: skip
    login = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert_openai_error(login, 401, "authentication_error")
    await client.patch(f"/api/users/{alice.id}", json={"disabled": False}, headers=bearer(root_key))
    assert (await client.get("/api/auth/me", headers=bearer(active))).status_code == 200

    own = await client.patch(
        f"/api/users/{root.id}", json={"disabled": True}, headers=bearer(root_key)
    )
    assert_openai_error(own, 400, "invalid_request_error")
    deleted = await client.delete(f"/api/users/{alice.id}", headers=bearer(root_key))
    assert deleted.status_code == 204
    async with app.state.database.session() as session:  # keys went with the user (FK cascade)
        assert list(await key_repo.list_keys(session, alice.id)) == []
    assert_openai_error(await client.get("/api/auth/me", headers=bearer(active)), 401,
                        "authentication_error")  # fmt: skip


async def test_login_me_logout_and_the_old_cookie_is_dead(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    await accounts.user("alice")
    response = await client.post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["name"] == "alice" and body["csrf_token"]
    me = await client.get("/api/auth/me")
    assert me.json() == {
        "user": {"id": body["user"]["id"], "name": "alice", "is_admin": False},
        "auth_type": "session",
        "band": "low",
        "key_id": None,
    }
    session_cookie = client.cookies["seadragon_session"]
    out = await client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 200
    assert "seadragon_session" not in client.cookies
    async with client_for(app) as replay:
        replay.cookies.set("seadragon_session", session_cookie)
        assert_openai_error(await replay.get("/api/auth/me"), 401, "authentication_error")


async def test_password_change_signs_out_everywhere(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    alice, root = await accounts.user("alice"), await accounts.admin()
    root_key = await accounts.key(root)
    async with client_for(app) as browser:
        await accounts.login(browser, "alice")
        assert (await browser.get("/api/auth/me")).status_code == 200
        changed = await client.patch(
            f"/api/users/{alice.id}", json={"password": "a new password"}, headers=bearer(root_key)
        )
        assert changed.status_code == 200
        assert_openai_error(await browser.get("/api/auth/me"), 401, "authentication_error")
        await accounts.login(browser, "alice", "a new password")


async def test_key_cache_revocation_delay_is_key_cache_ttl_s(
    app: FastAPI, accounts: Accounts
) -> None:
    """A key revoked elsewhere (CLI, another gateway) works until the cache entry expires."""
    now = [0.0]
    database = app.state.database
    service = AuthService(app.state.settings, database, clock=lambda: now[0])
    key = await accounts.key(await accounts.user("alice"))
    caller = await service.authenticate_key(key)
    async with database.session() as session:
        row = await key_repo.get_key(session, caller.key_id or 0)
        assert row is not None
        await key_repo.revoke_key(session, row, datetime.now(UTC))
        await session.commit()
    now[0] += app.state.settings.key_cache_ttl_s - 0.01
    assert await service.authenticate_key(key) == caller  # within the documented delay
    now[0] += 0.02
    with pytest.raises(AuthenticationError):
        await service.authenticate_key(key)
    await service.close()
