"""A chosen ``X-Request-Id`` belongs to its caller: another user picking the same id is
served as if the id were unknown (no 409 that would confirm it exists), and each of the
two sees only their own request under it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from fakes.ollama_server import FakeOllama
from tests.api.test_bad_input import chat, fake_gateway


async def test_another_users_request_id_is_answered_as_an_unknown_one(
    gateway_factory: Any,
) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=1.0) as fake:
        gateway = await fake_gateway(gateway_factory, fake)
        url = f"{gateway.url}/v1/chat/completions"
        poll = f"{gateway.url}/api/queue/requests/shared-1"
        alice = {**gateway.headers("alice"), "X-Request-Id": "shared-1"}
        bob = {**gateway.headers("bob"), "X-Request-Id": "shared-1"}
        async with (
            httpx.AsyncClient(timeout=20) as http,
            http.stream("POST", url, headers=alice, json=chat(stream=True)) as first,
        ):
            assert first.status_code == 200
            second = asyncio.create_task(http.post(url, headers=bob, json=chat()))
            async with asyncio.timeout(10):
                while (seen := await http.get(poll, headers=gateway.headers("bob"))).is_error:
                    assert not second.done(), second.result().text
                    await asyncio.sleep(0.02)
            assert seen.json()["id"] == "shared-1" and seen.json()["state"] == "queued"
            own = await http.get(poll, headers=gateway.headers("alice"))
            assert own.json()["state"] == "running"
            again = await http.post(url, headers=alice, json=chat())
            assert again.status_code == 409  # one's own id, still in flight
            await first.aread()
            answered = await second
        assert answered.status_code == 200, answered.text
        assert answered.headers["x-request-id"] == "shared-1"
        assert answered.json()["choices"][0]["message"]["content"]
