"""The security baseline checked through HTTP: credentials, secrets at rest,
throttling, input limits, cookies, JWTs, CSRF, CORS and anonymous access."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from argon2 import Type, extract_parameters
from fastapi import FastAPI
from sqlalchemy import select, text

from account_helpers import PASSWORD, Accounts, assert_openai_error, bearer, client_for
from seadragon.config import Settings
from seadragon.db.tables import User

AppMaker = Callable[[Settings], Awaitable[FastAPI]]
VALID_SHAPE = "sd-" + "A" * 32  # well-formed, but no such key
NAUGHTY: list[str | bytes] = [
    VALID_SHAPE,
    "sk-" + "a" * 32,
    "' OR '1'='1' --",
    "sd-'; DROP TABLE api_keys; --",
    "sd-" + "a" * 10_240,
    "sd-" + "a" * 31 + "\x00",
    "\x00",
    "sd-ключ-ключ-ключ-ключ-ключ-ключ-ab".encode(),
    "sd-!!!!====////++++",
    "%00%27%22",
    "",
]


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("value", NAUGHTY)
async def test_malformed_api_keys_are_401_in_the_openai_shape(
    client: httpx.AsyncClient, accounts: Accounts, value: str | bytes
) -> None:
    await accounts.key(await accounts.user("alice"))
    raw = value if isinstance(value, bytes) else value.encode()
    for headers in (
        {"Authorization": b"Bearer " + raw},
        {"Authorization": raw},
        {"x-api-key": raw},
    ):
        for path in ("/api/auth/me", "/v1/models", "/api/keys"):
            response = await client.get(path, headers=headers)
            assert_openai_error(response, 401, "authentication_error")


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNzd29yZA==", "Bearer", "Bearer  ", "Token sd-abc", "bearer"]
)
async def test_wrong_authorization_schemes_are_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/api/auth/me", headers={"Authorization": header})
    assert_openai_error(response, 401, "authentication_error")


async def test_forged_and_junk_session_cookies_are_401(
    settings: Settings, app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    alice = await accounts.user("alice")
    await accounts.login(client, "alice")  # makes the server's secret exist
    real = client.cookies["seadragon_session"]
    secret = (settings.data_dir / "secret_key").read_text().strip()
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": str(alice.id), "jti": "made-up", "iat": now, "exp": now + 600}
    header, payload, _ = real.split(".")
    forged = [
        b64({"alg": "none", "typ": "JWT"}) + "." + payload + ".",
        jwt.encode(claims, "not-the-server-secret-but-long-enough-0123456789", "HS256"),
        jwt.encode({**claims, "exp": now - 10}, secret, "HS256"),
        jwt.encode(claims, secret, "HS256"),  # right key, but no such session
        header + "." + b64({**claims, "sub": "999"}) + "." + real.rsplit(".", 1)[1],
        "x" * 10_000,
        "garbage",
    ]
    async with client_for(app) as control:  # the same carrier with the real token works
        control.cookies.set("seadragon_session", real)
        assert (await control.get("/api/auth/me")).status_code == 200
    for token in forged:
        async with client_for(app) as other:
            other.cookies.set("seadragon_session", token)
            assert_openai_error(await other.get("/api/auth/me"), 401, "authentication_error")


async def test_no_plaintext_key_or_password_in_the_database_or_logs(
    settings: Settings,
    client: httpx.AsyncClient,
    accounts: Accounts,
    app: FastAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQL and its parameters too
    await accounts.user("alice")
    csrf = await accounts.login(client, "alice")
    session_token = client.cookies["seadragon_session"]
    created = await client.post("/api/keys", json={"name": "ci"}, headers={"X-CSRF-Token": csrf})
    key = created.json()["key"]
    assert (await client.get("/api/auth/me", headers=bearer(key))).status_code == 200
    await client.get("/api/auth/me", headers=bearer(key[:-1] + "x"))
    await client.post("/api/auth/login", json={"username": "alice", "password": "wrong-password"})

    rows: list[str] = []
    async with app.state.database.session() as session:
        for table in ("users", "api_keys", "sessions", "request_log"):
            result = await session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            rows.extend(repr(tuple(row)) for row in result)
        user = (await session.execute(select(User))).scalars().one()
    dumped = "\n".join(rows)
    files = b"".join(p.read_bytes() for p in settings.data_dir.glob("seadragon.db*"))
    for secret in (key, PASSWORD, "wrong-password", csrf, session_token):
        assert secret not in dumped
        assert secret.encode() not in files
        assert secret not in caplog.text
    assert created.json()["prefix"] + "…" + key[-4:] == created.json()["display"]
    assert any(len(part) == 64 for part in dumped.replace("'", " ").split())  # the digest

    params = extract_parameters(user.password_hash)
    assert params.type is Type.ID and params.memory_cost >= 19456 and params.time_cost >= 2


async def test_login_is_throttled_per_user_and_client(
    make_settings: Callable[..., Settings], make_app: AppMaker
) -> None:
    app = await make_app(make_settings(login_max_failures=3, login_window_s=60))
    await Accounts(app).user("alice")
    bad = {"username": "alice", "password": "wrong-password"}
    async with client_for(app, "10.0.0.1") as attacker, client_for(app, "10.0.0.2") as other:
        for _ in range(3):
            assert (await attacker.post("/api/auth/login", json=bad)).status_code == 401
        locked = await attacker.post("/api/auth/login", json=bad)
        assert_openai_error(locked, 429, "rate_limit_error")
        assert 1 <= int(locked.headers["Retry-After"]) <= 60
        good = {"username": "alice", "password": PASSWORD}
        still = await attacker.post("/api/auth/login", json=good)
        assert_openai_error(still, 429, "rate_limit_error")  # even the right password
        assert (await other.post("/api/auth/login", json=good)).status_code == 200


async def test_unknown_user_and_wrong_password_look_the_same(
    make_settings: Callable[..., Settings], make_app: AppMaker
) -> None:
    app = await make_app(make_settings(login_max_failures=100))
    await Accounts(app).user("alice")
    async with client_for(app) as http:

        async def attempt(name: str) -> tuple[float, httpx.Response]:
            started = time.perf_counter()
            body = {"username": name, "password": "wrong-password"}
            response = await http.post("/api/auth/login", json=body)
            return time.perf_counter() - started, response

        unknown = [await attempt("nobody") for _ in range(5)]
        wrong = [await attempt("alice") for _ in range(5)]
    assert unknown[0][1].json() == wrong[0][1].json()
    assert unknown[0][1].status_code == wrong[0][1].status_code == 401
    # An unknown user still pays for a full Argon2 verification.
    assert min(t for t, _ in unknown) > 0.3 * min(t for t, _ in wrong)


async def test_bad_bodies_are_clean_4xx(
    make_settings: Callable[..., Settings], make_app: AppMaker
) -> None:
    app = await make_app(make_settings(max_body_bytes=4096, max_json_depth=16))
    key = await Accounts(app).key(await Accounts(app).admin())
    json_type = {"Content-Type": "application/json"}
    async with client_for(app) as http:
        broken = await http.post("/api/auth/login", content=b'{"username": ', headers=json_type)
        assert_openai_error(broken, 400, "invalid_request_error")
        not_object = await http.post("/api/auth/login", json=["alice", PASSWORD])
        assert_openai_error(not_object, 400, "invalid_request_error")
        for body, param in (
            ({"username": 1, "password": PASSWORD}, "username"),
            ({"username": "alice"}, "password"),
            ({"username": "a" * 3000, "password": PASSWORD}, "username"),
        ):
            response = await http.post("/api/auth/login", json=body)
            assert assert_openai_error(response, 400, "invalid_request_error")["param"] == param
        days = await http.post("/api/keys", json={"expires_in_days": "ten"}, headers=bearer(key))
        assert assert_openai_error(days, 400, "invalid_request_error")["param"] == "expires_in_days"
        users = await http.post(
            "/api/users", content=b"{nope", headers={**json_type, **bearer(key)}
        )
        assert_openai_error(users, 400, "invalid_request_error")
        big = await http.post("/api/auth/login", json={"username": "a", "password": "p" * 8000})
        assert_openai_error(big, 413, "invalid_request_error")
        deep = await http.post(
            "/api/users", content=b"[" * 40 + b"]" * 40, headers={**json_type, **bearer(key)}
        )
        assert_openai_error(deep, 400, "invalid_request_error")


async def test_session_cookies_are_httponly_samesite_and_secure_when_asked(
    make_settings: Callable[..., Settings], make_app: AppMaker
) -> None:
    for secure in (False, True):
        app = await make_app(make_settings(secure_cookies=secure))
        await Accounts(app).user(f"user{int(secure)}")
        async with client_for(app) as http:
            body = {"username": f"user{int(secure)}", "password": PASSWORD}
            response = await http.post("/api/auth/login", json=body)
        cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
        session, csrf = cookies["seadragon_session"], cookies["seadragon_csrf"]
        assert "httponly" in session and "samesite=lax" in session and "path=/" in session
        assert "httponly" not in csrf and "samesite=lax" in csrf
        assert ("; secure" in session) is secure and ("; secure" in csrf) is secure
        assert response.json()["csrf_token"] == response.cookies["seadragon_csrf"]


async def test_csrf_is_required_for_cookie_requests_only(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    root = await accounts.admin()
    csrf = await accounts.login(client, "root")
    refused = [
        await client.post("/api/keys", json={}),
        await client.post("/api/keys", json={}, headers={"X-CSRF-Token": "not-the-token"}),
        await client.patch(f"/api/users/{root.id}", json={}),
        await client.post("/api/auth/logout"),
    ]
    for response in refused:
        assert assert_openai_error(response, 403, "permission_error")["code"] == "csrf_failed"
    assert (await client.get("/api/keys")).status_code == 200  # safe methods need none

    created = await client.post("/api/keys", json={}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    path = f"/api/keys/{created.json()['id']}"
    assert_openai_error(await client.delete(path), 403, "permission_error")
    assert (await client.delete(path, headers={"X-CSRF-Token": csrf})).status_code == 200

    # Another session's token, planted in both cookie and header, does not fit this session.
    async with client_for(app) as other:
        foreign = await accounts.login(other, "root")
    client.cookies.delete("seadragon_csrf")
    client.cookies.set("seadragon_csrf", foreign)
    mixed = await client.post("/api/keys", json={}, headers={"X-CSRF-Token": foreign})
    assert (
        "belong to this session" in assert_openai_error(mixed, 403, "permission_error")["message"]
    )

    key = await accounts.key(root)
    async with client_for(app) as api:
        assert (await api.post("/api/keys", json={}, headers=bearer(key))).status_code == 201


async def test_no_cors_wildcard_with_credentials(
    make_settings: Callable[..., Settings], make_app: AppMaker
) -> None:
    closed = await make_app(make_settings())
    async with client_for(closed) as http:
        response = await http.get("/api/auth/me", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers
    app = await make_app(make_settings(cors_origins=["https://ui.example", "*"]))
    preflight = {"Access-Control-Request-Method": "POST"}
    async with client_for(app) as http:
        for origin in ("https://evil.example", "null"):
            evil = await http.options("/api/keys", headers={"Origin": origin, **preflight})
            assert evil.headers.get("access-control-allow-origin") in (None, "")
            plain = await http.get("/api/auth/me", headers={"Origin": origin})
            assert "access-control-allow-origin" not in plain.headers
        good = await http.options(
            "/api/keys", headers={"Origin": "https://ui.example", **preflight}
        )
        assert good.headers["access-control-allow-origin"] == "https://ui.example"
        assert good.headers["access-control-allow-credentials"] == "true"


async def test_anonymous_only_when_enabled_and_at_the_lowest_band(
    make_settings: Callable[..., Settings], make_app: AppMaker
) -> None:
    closed = await make_app(make_settings())
    async with client_for(closed) as http:
        assert_openai_error(await http.get("/api/auth/me"), 401, "authentication_error")
        assert_openai_error(await http.get("/v1/models"), 401, "authentication_error")
    opened = await make_app(make_settings(allow_anonymous=True))
    async with client_for(opened) as http:
        me = await http.get("/api/auth/me")
        assert me.json() == {"user": None, "auth_type": "anonymous", "band": "low", "key_id": None}
        assert_openai_error(await http.get("/api/keys"), 401, "authentication_error")
        assert_openai_error(await http.get("/api/users"), 403, "permission_error")
        bad = await http.get("/api/auth/me", headers=bearer(VALID_SHAPE))
        assert_openai_error(bad, 401, "authentication_error")  # a wrong key is not anonymous
