"""Limits per user and per key on one gateway: each figure refuses with its own code."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from account_helpers import assert_openai_error
from fakes.ollama_server import FakeOllama
from tests.api.conftest import Gateway
from tests.operate.metrics_helpers import parse, total
from tests.operate.traffic import BODY, user_ids


async def clear_of_minute_boundary() -> None:
    """Per-minute windows are UTC minutes: do not start a test that a new minute would cut."""
    left = 60 - time.time() % 60
    if left < 15:
        await asyncio.sleep(left + 0.1)


async def key_ids(http: httpx.AsyncClient, gateway: Gateway) -> dict[int, int]:
    """Each user's (only) key id, by user id."""
    response = await http.get(
        f"{gateway.url}/api/keys", headers=gateway.headers("root"), params={"all_users": "true"}
    )
    return {key["user_id"]: key["id"] for key in response.json()["data"]}


def chat(
    http: httpx.AsyncClient, gateway: Gateway, who: str, **extra: Any
) -> asyncio.Task[httpx.Response]:
    url = f"{gateway.url}/v1/chat/completions"
    return asyncio.create_task(http.post(url, headers=gateway.headers(who), json={**BODY, **extra}))


async def put_limit(
    http: httpx.AsyncClient, gateway: Gateway, path: str, **spec: Any
) -> httpx.Response:
    return await http.put(
        f"{gateway.url}/api/limits/{path}", headers=gateway.headers("root"), json=spec
    )


def assert_limited(response: httpx.Response, code: str, most_s: float = 60) -> None:
    error = assert_openai_error(response, 429, "rate_limit_error")
    assert error["code"] == code, error
    assert 1 <= int(response.headers["retry-after"]) <= most_s


async def test_each_limit_refuses_with_its_code(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest", "error-after-1"], tokens=3) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 2}
        gateway = await gateway_factory([backend], models={"llama3"})
        async with httpx.AsyncClient(timeout=30) as http:
            users = await user_ids(http, gateway)
            keys = await key_ids(http, gateway)
            for path, spec in (
                (f"users/{users['alice']}", {"requests_per_minute": 2}),
                (f"keys/{keys[users['bob']]}", {"concurrent_requests": 1}),
                (f"users/{users['carol']}", {"allowed_models": ["llama3"]}),
                (f"keys/{keys[users['carol']]}", {"token_budget": 5, "budget_period": "month"}),
                (f"keys/{keys[users['root']]}", {"tokens_per_minute": 4}),
            ):
                response = await put_limit(http, gateway, path, **spec)
                assert response.status_code == 200, response.text
            await clear_of_minute_boundary()

            # requests per minute (a user's limit, whatever key it uses)
            assert [(await chat(http, gateway, "alice")).status_code for _ in range(2)] == [
                200,
                200,
            ]
            assert_limited(await chat(http, gateway, "alice"), "requests_per_minute")
            assert (await chat(http, gateway, "bob")).status_code == 200  # others go on

            # concurrent requests (a key's limit): the second waits for the first to end
            fake.config.service_time = 2.0
            first = chat(http, gateway, "bob")
            await fake.until(lambda: fake.in_flight == 1)
            fake.config.service_time = 0.0
            assert_limited(await chat(http, gateway, "bob"), "concurrent_requests", 1)
            assert (await first).status_code == 200
            async with asyncio.timeout(10):
                while (again := await chat(http, gateway, "bob")).status_code == 429:
                    await asyncio.sleep(0.02)  # the lease goes as the first one's row is logged
            assert again.status_code == 200

            # allowed models: 403 naming the model
            refused = await chat(http, gateway, "carol", model="error-after-1")
            error = assert_openai_error(refused, 403, "permission_error")
            assert (error["code"], error["param"]) == ("model_not_allowed", "model")

            # a token budget: two requests of 4 tokens pass, the budget of 5 is then spent
            for _ in range(2):
                assert (await chat(http, gateway, "carol")).status_code == 200
                await asyncio.sleep(0)  # let the row's settlement run
            async with asyncio.timeout(10):
                while (spent := await chat(http, gateway, "carol")).status_code == 200:
                    pass  # settlement may trail the answer by a moment
            assert_limited(spent, "token_budget", 31 * 86400)

            # tokens per minute: 4 tokens, then refused until the minute ends
            assert (await chat(http, gateway, "root")).status_code == 200
            async with asyncio.timeout(10):
                while (over := await chat(http, gateway, "root")).status_code == 200:
                    pass
            assert_limited(over, "tokens_per_minute")

            listed = (
                await http.get(f"{gateway.url}/api/limits", headers=gateway.headers("root"))
            ).json()
            removed = await http.delete(
                f"{gateway.url}/api/limits/users/{users['alice']}", headers=gateway.headers("root")
            )
            after = await chat(http, gateway, "alice")
            metrics = parse(
                (await http.get(f"{gateway.url}/metrics", headers=gateway.headers("root"))).text
            )

    assert len(listed["data"]) == 5
    assert {(row["scope"], row["user_id"] or row["key_id"]) for row in listed["data"]} >= {
        ("user", users["alice"]), ("key", keys[users["bob"]]),
    }  # fmt: skip
    assert removed.status_code == 204 and after.status_code == 200
    limited = metrics["seadragon_rate_limited"]
    for code in ("requests_per_minute", "concurrent_requests", "token_budget", "tokens_per_minute"):
        assert total(limited, "seadragon_rate_limited_total", code=code) >= 1
    requests = metrics["seadragon_requests"]
    assert (
        total(
            requests, "seadragon_requests_total", outcome="rejected", reason="requests_per_minute"
        )
        == 1
    )
    assert (
        total(requests, "seadragon_requests_total", outcome="rejected", reason="model_not_allowed")
        == 1
    )


async def test_limit_values_are_checked(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=3) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory([backend], models={"llama3"})
        async with httpx.AsyncClient(timeout=30) as http:
            alice = (await user_ids(http, gateway))["alice"]
            path = f"users/{alice}"
            bad = {
                "requests_per_minute": await put_limit(http, gateway, path, requests_per_minute=0),
                "concurrent_requests": await put_limit(
                    http, gateway, path, concurrent_requests=10**6
                ),
                "token_budget": await put_limit(http, gateway, path, token_budget=-3),
                "colour": await put_limit(http, gateway, path, colour="blue"),
                "allowed_models": await put_limit(http, gateway, path, allowed_models=["../etc"]),
                "budget_period": await put_limit(
                    http, gateway, path, budget_period="week", token_budget=5
                ),
            }
            orphan = await put_limit(http, gateway, path, budget_period="day")
            missing = await put_limit(http, gateway, "users/999999", requests_per_minute=5)
            by_user = await http.put(
                f"{gateway.url}/api/limits/{path}", headers=gateway.headers("alice"),
                json={"requests_per_minute": 1000},
            )  # fmt: skip
            none = await http.get(
                f"{gateway.url}/api/limits/{path}", headers=gateway.headers("root")
            )
    for param, response in bad.items():
        error = assert_openai_error(response, 400, "invalid_request_error")
        assert error["param"] is not None and error["param"].startswith(param), (param, error)
    assert assert_openai_error(orphan, 400, "invalid_request_error")["param"] == "budget_period"
    assert_openai_error(missing, 404, "not_found_error")
    assert_openai_error(by_user, 403, "permission_error")
    assert_openai_error(none, 404, "not_found_error")  # nothing was stored
