"""Login CSRF: a page of another site cannot sign the browser into an account, whether
by an auto-submitted form, a text/plain or unlabelled fetch, or a JSON one."""

from __future__ import annotations

import json

import httpx
import pytest

from account_helpers import PASSWORD, Accounts, assert_openai_error

CREDENTIALS = {"username": "alice", "password": PASSWORD}
RAW = json.dumps(CREDENTIALS).encode()


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        # What <form method=post action=…/api/auth/login> on evil.example sends.
        (
            b"username=alice&password=correct+horse+battery+staple",
            {"Content-Type": "application/x-www-form-urlencoded",
             "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
            403,
        ),
        # <form enctype=text/plain>, and fetch(no-cors) with a Blob: no preflight either.
        (RAW, {"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403),
        (RAW, {"Sec-Fetch-Site": "cross-site"}, 403),
        (RAW, {"Content-Type": "application/json", "Origin": "null"}, 403),
        (RAW, {"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403),
        (RAW, {"Content-Type": "application/json",
               "Origin": "http://testserver.evil.example"}, 403),
        # Without any browser header, the body must still be JSON.
        (b"username=alice&password=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (RAW, {"Content-Type": "text/plain"}, 415),
        (RAW, {}, 415),
    ],
)  # fmt: skip
async def test_cross_site_and_non_json_sign_ins_are_refused(
    client: httpx.AsyncClient,
    accounts: Accounts,
    content: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    await accounts.user("alice")
    response = await client.post("/api/auth/login", content=content, headers=headers)
    assert_openai_error(response, status, "invalid_request_error" if status == 415 else
                        "permission_error")  # fmt: skip
    assert "seadragon_session" not in response.cookies


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},  # the login page
        {"Origin": "https://testserver"},  # behind a TLS proxy that speaks HTTP to us
        {"Sec-Fetch-Site": "none"},
    ],
)
async def test_same_origin_and_non_browser_json_sign_ins_work(
    client: httpx.AsyncClient, accounts: Accounts, headers: dict[str, str]
) -> None:
    await accounts.user("alice")
    response = await client.post("/api/auth/login", json=CREDENTIALS, headers=headers)
    assert response.status_code == 200, response.text
    assert response.cookies.get("seadragon_session")
