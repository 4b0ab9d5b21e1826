"""The native routes behave as ``/v1`` does: bad input before queueing, bands,
cancellation on disconnect, the request log; and ``/`` answers Ollama's probe."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import ollama
import pytest

from fakes.ollama_server import FakeOllama
from tests.api.conftest import Gateway
from tests.api.test_request_log import rows_for

CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}


async def one_slot(gateway_factory: Any, fake: FakeOllama, **settings: Any) -> Gateway:
    backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
    gateway: Gateway = await gateway_factory([backend], models={"llama3"}, **settings)
    return gateway


def generations(fake: FakeOllama) -> list[Any]:
    return [r for r in fake.requests if r.path in ("/api/chat", "/api/generate")]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/chat", {**CHAT, "model": "nope"}, 404, 'model "nope" not found'),
        ("/api/generate", {"model": "nope", "prompt": "x"}, 404, "not found"),
        ("/api/embed", {"model": "nope", "input": "x"}, 404, "not found"),
        ("/api/show", {"model": "nope"}, 404, "not found"),
        ("/api/chat", b"{bad", 400, "not valid JSON"),
        ("/api/chat", {**CHAT, "stream": "yes"}, 400, "stream"),
        ("/api/chat", {**CHAT, "model": "../etc"}, 400, "model"),
        ("/api/chat", {**CHAT, "messages": [{"role": "robot", "content": "x"}]}, 400, "role"),
        ("/api/chat", {**CHAT, "messages": [{"role": "user", "content": "a\u0000"}]}, 400, "NUL"),
        ("/api/chat", {**CHAT, "options": {"num_gpu": 99}}, 400, "options.num_gpu"),
        ("/api/chat", {**CHAT, "options": {"bogus": 1}}, 400, "options"),
        ("/api/chat", {**CHAT, "options": {"temperature": "hot"}}, 400, "temperature"),
        ("/api/chat", {**CHAT, "keep_alive": "forever"}, 400, "keep_alive"),
        ("/api/generate", {"model": "llama3", "prompt": 5}, 400, "prompt"),
        ("/api/generate", {"model": "llama3", "prompt": "x", "images": ["!!"]}, 400, "images"),
        ("/api/embed", {"model": "llama3", "input": []}, 400, "input"),
        ("/api/embed", {"model": "llama3"}, 400, "input"),
        ("/api/chat", {"messages": []}, 400, "model"),
    ],
)
async def test_bad_input_is_refused_in_ollama_shape_before_queueing(
    gateway_factory: Any, path: str, body: Any, status: int, words: str
) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await one_slot(gateway_factory, fake)
        content = body if isinstance(body, bytes) else None
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            response = await http.post(
                path,
                content=content,
                json=None if content else body,
                headers={**gateway.headers(), "content-type": "application/json"},
            )
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert isinstance(error, str) and words in error
        assert (
            generations(fake) == [] and [r for r in fake.requests if r.path == "/api/embed"] == []
        )


async def test_oversized_and_unauthenticated_requests_are_ollama_shaped(
    gateway_factory: Any,
) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await one_slot(gateway_factory, fake, max_body_bytes=2048)
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            big = {**CHAT, "messages": [{"role": "user", "content": "x" * 4096}]}
            too_big = await http.post("/api/chat", json=big, headers=gateway.headers())
            anonymous = await http.get("/api/tags")
        assert too_big.status_code == 413 and "larger than" in too_big.json()["error"]
        assert anonymous.status_code == 401 and isinstance(anonymous.json()["error"], str)
        with pytest.raises(ollama.ResponseError) as refused:
            await ollama.AsyncClient(host=gateway.url).list()
        assert refused.value.status_code == 401


async def test_root_probe_and_version(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            probe = await http.get("/")
            head = await http.head("/")
            page = await http.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
            version = await http.get("/api/version")
        assert (probe.status_code, probe.text) == (200, "Ollama is running")
        # The probe answer carries the same strict policy as the page at this path.
        assert "script-src 'self'" in probe.headers["content-security-policy"]
        assert probe.headers["x-content-type-options"] == "nosniff"
        assert head.status_code == 200
        assert page.headers["content-type"].startswith("text/html") and "<html" in page.text
        assert version.json() == {"version": "0.12.6"}  # the fake Ollama's own version


async def test_high_band_before_low_and_log_rows(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=1.5, tokens=2) as fake:
        gateway = await one_slot(gateway_factory, fake)

        async def until_queued(http: httpx.AsyncClient, tag: str) -> None:
            url = f"{gateway.url}/api/queue/requests/{tag}"
            async with asyncio.timeout(10):
                while (await http.get(url, headers=gateway.headers("root"))).json().get(
                    "state"
                ) != "queued":
                    await asyncio.sleep(0.02)

        def chat(who: str, tag: str) -> Any:
            ol = ollama.AsyncClient(
                host=gateway.url, headers={**gateway.headers(who), "X-Request-Id": tag}
            )
            return ol.chat(model="llama3", messages=[{"role": "user", "content": tag}])

        busy = asyncio.create_task(chat("alice", "first"))
        await fake.until(lambda: len(generations(fake)) == 1)
        async with httpx.AsyncClient() as http:
            low = asyncio.create_task(chat("carol", "low"))  # carol's key is in the low band
            await until_queued(http, "low")
            high = asyncio.create_task(chat("bob", "high"))
            await until_queued(http, "high")
            assert not busy.done()  # both waited while the slot was busy
        await asyncio.gather(busy, low, high)
        order = [r.body["messages"][-1]["content"] for r in generations(fake)]
        assert order == ["first", "high", "low"]
        rows = await rows_for(gateway, 3)
    assert (rows["low"].entry_band, rows["high"].entry_band) == ("low", "high")
    assert rows["high"].status == "ok" and rows["high"].kind == "chat"
    assert rows["high"].completion_tokens == 2 and rows["high"].prompt_tokens == 1


async def test_a_disconnect_cancels_queued_and_running_native_requests(
    gateway_factory: Any,
) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=200, token_delay=0.05) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as http:
            async with http.stream(
                "POST", "/api/chat", json=CHAT, headers=gateway.headers()
            ) as running:
                seen = 0
                async for line in running.aiter_lines():
                    seen += "tok" in line
                    if seen == 3:
                        break
            await fake.until(lambda: any(r.disconnected for r in generations(fake)), timeout=5)
            # Queued behind a running one, then gone: it never reaches the backend.
            fake.config.tokens, fake.config.token_delay = 2, 0.0
            fake.config.service_time = 1.0
            busy = asyncio.create_task(
                http.post("/api/chat", json={**CHAT, "stream": False}, headers=gateway.headers())
            )
            await fake.until(lambda: len(generations(fake)) == 2)
            gone = {**gateway.headers(), "X-Request-Id": "gone"}
            generate = {"model": "llama3", "prompt": "x"}
            async with http.stream("POST", "/api/generate", json=generate, headers=gone) as waiting:
                assert '"queue_position":0' in await anext(waiting.aiter_lines())
            assert (await busy).status_code == 200
        rows = await rows_for(gateway, 3)
    assert len(generations(fake)) == 2
    assert rows["gone"].status == "cancelled" and rows["gone"].started_at is None
