"""No request ends in a traceback: deep bodies of any content type are 400, impossible
dates are 400, and a genuine bug is a shaped 500 whose log line carries no request data."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI, Request

from account_helpers import Accounts, assert_openai_error, bearer
from seadragon.auth.keys import generate_key
from seadragon.db import keys as key_repo

DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json"])
async def test_deeply_nested_login_body_is_a_400(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/api/auth/login", content=DEEP, headers=headers)
    assert_openai_error(response, 400, "invalid_request_error")


async def test_deeply_nested_unlabelled_body_on_a_validated_route_is_a_400(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    key = await accounts.key(await accounts.admin())
    response = await client.post("/api/keys", content=DEEP, headers=bearer(key))
    assert_openai_error(response, 400, "invalid_request_error")


@pytest.mark.parametrize(
    "expires_at", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z", "2400-01-01T00:00:00Z"]
)
async def test_an_expiry_out_of_range_is_a_400_naming_the_field(
    client: httpx.AsyncClient, accounts: Accounts, expires_at: str
) -> None:
    key = await accounts.key(await accounts.user())
    response = await client.post("/api/keys", json={"expires_at": expires_at}, headers=bearer(key))
    error = assert_openai_error(response, 400, "invalid_request_error")
    assert error["param"] == "expires_at"


async def test_an_unexpected_error_is_a_shaped_500_logged_without_bound_parameters(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, caplog: pytest.LogCaptureFixture
) -> None:
    user = await accounts.user()
    taken = generate_key()
    async with app.state.database.session() as session:
        await key_repo.add_key(
            session, user_id=user.id, name="a", prefix=taken.prefix, last4=taken.last4,
            digest=taken.digest, band="high", expires_at=None,
        )  # fmt: skip
        await session.commit()

    async def duplicate_digest(request: Request) -> None:
        # A bug of the kind the boundary exists for: an INSERT the database refuses.
        async with request.app.state.database.session() as session:
            await key_repo.add_key(
                session, user_id=user.id, name="b", prefix=taken.prefix, last4=taken.last4,
                digest=taken.digest, band="high", expires_at=None,
            )  # fmt: skip

    app.add_api_route("/api/test-bug", duplicate_digest, methods=["POST"])
    caplog.set_level(logging.DEBUG)
    key = await accounts.key(user)  # a body is only read once its sender is known
    response = await client.post("/api/test-bug", headers=bearer(key))

    error = assert_openai_error(response, 500, "server_error")
    assert error == {
        "message": "internal error",
        "type": "server_error",
        "param": None,
        "code": "internal_error",
    }
    assert "IntegrityError" in caplog.text and "/api/test-bug" in caplog.text
    assert taken.digest not in caplog.text and "INSERT" not in caplog.text
    assert "Traceback" not in caplog.text
