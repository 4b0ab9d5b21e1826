"""A backend that refuses for lack of room before any output (503 "server busy", 429) does
not turn into a 502: the slot keeps the request, waits longer each time and asks again,
and the backend never has more requests in flight than its slots. Both queue modes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from fakes.ollama_server import FakeOllama
from seadragon.worker import runner
from seadragon.worker.runner import BUSY_ATTEMPTS

CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # The workers run in the test's process: the same doubling, on a shorter scale.
    monkeypatch.setattr(runner, "BUSY_FIRST_S", 0.01)
    monkeypatch.setattr(runner, "BUSY_MAX_S", 0.05)


def generations(fake: FakeOllama) -> int:
    return sum(r.path == "/api/chat" for r in fake.requests)


async def test_refusals_for_lack_of_room_are_retried_not_answered_502(
    gateway_factory: Any, queue_settings: dict[str, Any]
) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=0.2) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory([backend], models={"llama3"}, **queue_settings)
        fake.config.busy_refusals = 3  # still busy with work whose callers left
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
            first, second = await asyncio.gather(
                http.post("/v1/chat/completions", json=CHAT, headers=gateway.headers()),
                http.post(
                    "/v1/chat/completions",
                    json={**CHAT, "stream": True},
                    headers=gateway.headers(),
                ),
            )
        assert (first.status_code, second.status_code) == (200, 200), first.text + second.text
        assert "data: [DONE]" in second.text
        assert generations(fake) == 2 + 3  # each refusal was tried again, nothing dropped
        assert fake.max_in_flight == 1  # never more than the backend's one slot


async def test_a_backend_that_never_has_room_ends_with_a_clear_error(
    gateway_factory: Any,
) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory([backend], models={"llama3"})
        fake.config.busy_refusals = 10**6
        async with httpx.AsyncClient(base_url=gateway.url, timeout=120) as http:
            answer = await http.post("/v1/chat/completions", json=CHAT, headers=gateway.headers())
        assert answer.status_code == 502
        assert "server busy" in answer.json()["error"]["message"]
        assert generations(fake) == BUSY_ATTEMPTS  # with a growing wait between tries
