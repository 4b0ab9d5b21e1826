"""A model whose every backend is down is a 503 with ``Retry-After``, in both queue modes;
a model nobody serves (or that its backends dropped) stays a 404."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from fakes.ollama_server import FakeOllama
from tests.api.conftest import Gateway

CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}


async def served(http: httpx.AsyncClient, gateway: Gateway) -> set[str]:
    response = await http.get(f"{gateway.url}/v1/models", headers=gateway.headers())
    return {m["id"] for m in response.json()["data"]}


async def until_not_served(http: httpx.AsyncClient, gateway: Gateway, model: str) -> None:
    async with asyncio.timeout(20):
        while model in await served(http, gateway):
            await asyncio.sleep(0.05)


async def test_a_model_whose_backends_are_all_down_is_503(
    gateway_factory: Any, queue_settings: dict[str, Any]
) -> None:
    fake = FakeOllama(models=["llama3:latest"]).__enter__()
    try:
        backend = {"name": "o", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory([backend], models={"llama3"}, **queue_settings)
    finally:
        fake.__exit__(None, None, None)
    url = f"{gateway.url}/v1/chat/completions"
    async with httpx.AsyncClient(timeout=10) as http:
        await until_not_served(http, gateway, "llama3")
        for stream in (False, True):
            response = await http.post(
                url, headers=gateway.headers(), json={**CHAT, "stream": stream}
            )
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1
            assert response.headers["content-type"].startswith("application/json")
            error = response.json()["error"]
            assert error["code"] == "model_unavailable" and error["param"] == "model"
        one = await http.get(f"{gateway.url}/v1/models/llama3", headers=gateway.headers())
        assert one.status_code == 503 and "retry-after" in one.headers
        native = await http.post(f"{gateway.url}/api/chat", headers=gateway.headers(), json=CHAT)
        assert native.status_code == 503 and "retry-after" in native.headers
        unknown = await http.post(url, headers=gateway.headers(), json={**CHAT, "model": "nope"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "model_not_found"


async def test_a_model_its_backend_dropped_is_404(
    gateway_factory: Any, queue_settings: dict[str, Any]
) -> None:
    with FakeOllama(models=["llama3:latest", "other:latest"]) as fake:
        backend = {"name": "o", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory([backend], models={"llama3"}, **queue_settings)
        fake.config.models = ["other:latest"]
        async with httpx.AsyncClient(timeout=10) as http:
            await until_not_served(http, gateway, "llama3")
            response = await http.post(
                f"{gateway.url}/v1/chat/completions", headers=gateway.headers(), json=CHAT
            )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "model_not_found"
