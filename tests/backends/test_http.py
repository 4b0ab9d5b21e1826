"""The upstream client every HTTP backend shares (seadragon.backends.http) against the fakes:
kept-alive connections, closed streams, the read timeout, no pool cap, no redirects, no
proxies from the environment, the session's life."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, cast

import pytest

from seadragon.backends.local import LocalModel
from seadragon.backends.ollama import OllamaBackend
from seadragon.backends.openai import OpenAIBackend
from seadragon.config import BackendConfig
from seadragon.errors import ModelNotFound, UpstreamError
from tests.fakes import FakeConfig
from tests.fakes.ollama_server import FakeOllama
from tests.fakes.openai_server import FakeOpenAI

from .wire import Connection, CountingProxy, WireServer, answer


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake(openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.config = FakeConfig(models=["m1"], tokens=4)
    openai_server.reset()
    return openai_server


def openai(url: str, timeout_s: float = 10.0, slots: int = 1) -> OpenAIBackend:
    config = BackendConfig(name="vllm", url=url, kind="openai", slots=slots)
    return OpenAIBackend(config, timeout_s)


def chat(model: str = "m1", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


def text(chunks: list[dict[str, Any]]) -> str:
    deltas = (c["choices"][0]["delta"] for c in chunks if c["choices"])
    return "".join(d.get("content") or "" for d in deltas)


async def test_one_connection_serves_every_request_in_turn(
    fake: FakeOpenAI, closing: list[Any]
) -> None:
    async with CountingProxy(fake.port) as proxy:
        backend = openai(proxy.url)
        closing.append(backend)
        for _ in range(5):
            assert text(await collect(backend.stream_chat(chat()))) == "tok0 tok1 tok2 tok3"
        assert await backend.list_models() == ["m1"]
        await backend.embed({"model": "m1", "input": "x"})
        with pytest.raises(ModelNotFound):
            await collect(backend.stream_completion({"model": "nope", "prompt": "x"}))
        await collect(backend.stream_completion({"model": "m1", "prompt": "x"}))
        assert proxy.connections == 1


async def test_ollama_streams_keep_their_connection_too(closing: list[Any]) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=3) as fake:
        async with CountingProxy(fake.port) as proxy:
            backend = OllamaBackend(BackendConfig(name="gpu", url=proxy.url), {}, 10.0)
            closing.append(backend)
            for _ in range(4):
                await collect(backend.stream_chat(chat("llama3:latest")))
                await collect(backend.stream_completion({"model": "llama3", "prompt": "x"}))
            assert proxy.connections == 1


async def test_a_closed_stream_takes_its_connection_with_it(
    fake: FakeOpenAI, closing: list[Any]
) -> None:
    fake.config.tokens, fake.config.token_delay = 1000, 0.01
    async with CountingProxy(fake.port) as proxy:
        backend = openai(proxy.url)
        closing.append(backend)
        stream = cast(AsyncGenerator[dict[str, Any], None], backend.stream_chat(chat()))
        await anext(stream)
        await anext(stream)
        await stream.aclose()
        await fake.until(lambda: fake.requests[-1].finished, timeout=5)
        assert fake.requests[-1].disconnected
        fake.config.tokens = 2
        assert text(await collect(backend.stream_chat(chat()))) == "tok0 tok1"
        assert proxy.connections == 2


async def test_a_long_generation_outlives_the_read_timeout(
    fake: FakeOpenAI, closing: list[Any]
) -> None:
    fake.config.tokens, fake.config.token_delay = 16, 0.05  # ~0.8 s in all
    backend = openai(fake.url, timeout_s=0.3)
    closing.append(backend)
    chunks = await collect(backend.stream_chat(chat()))
    assert chunks[-1]["usage"]["completion_tokens"] == 16


async def test_more_streams_than_slots_all_run_at_once(
    fake: FakeOpenAI, closing: list[Any]
) -> None:
    fake.config.tokens, fake.config.token_delay = 5, 0.05
    backend = openai(fake.url, slots=2)
    closing.append(backend)
    await asyncio.gather(*(collect(backend.stream_chat(chat())) for _ in range(12)))
    assert fake.max_in_flight == 12


async def test_redirects_are_not_followed(fake: FakeOpenAI, closing: list[Any]) -> None:
    target = f"{fake.url}/v1/chat/completions".encode()

    async def handle(conn: Connection) -> None:
        await conn.request()
        await conn.send(answer({}, "307 Temporary Redirect", b"location: %s\r\n" % target))

    async with WireServer(handle) as server:
        backend = openai(server.url)
        closing.append(backend)
        with pytest.raises(UpstreamError, match="answered 307"):
            await collect(backend.stream_chat(chat()))
    assert fake.requests == []


async def test_proxies_from_the_environment_are_ignored(
    fake: FakeOpenAI, closing: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    backend = openai(fake.url)
    closing.append(backend)
    assert await backend.list_models() == ["m1"]


def test_backends_are_built_outside_an_event_loop() -> None:
    """The gateway and the worker build them before their loop runs anything."""
    openai("http://127.0.0.1:9")
    OllamaBackend(BackendConfig(name="gpu", url="http://127.0.0.1:9"), {}, 1.0)
    LocalModel()


async def test_a_closed_backend_refuses_politely(fake: FakeOpenAI) -> None:
    backend = openai(fake.url)
    assert await backend.list_models() == ["m1"]
    await backend.close()
    await backend.close()
    with pytest.raises(UpstreamError, match="closed"):
        await backend.list_models()
