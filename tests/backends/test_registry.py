"""start_backends: which backends a Seadragon process ends up with, for each configuration."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from seadragon.backends.local import LocalModel
from seadragon.backends.ollama import OllamaBackend
from seadragon.backends.openai import OpenAIBackend
from seadragon.backends.registry import Backends, start_backends
from seadragon.config import ModelOptions, Settings
from services import require_local_model
from tests.fakes.ollama_server import FakeOllama


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"backends": [], "ollama_url": None, "local_model": "off"}
    return Settings(**(values | overrides))


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["llama3:latest"]) as fake:
        yield fake


@pytest.fixture
async def started() -> AsyncIterator[Callable[..., Any]]:
    opened: list[Backends] = []

    async def start(config: Settings, **kwargs: Any) -> Backends:
        backends = await start_backends(config, **kwargs)
        opened.append(backends)
        return backends

    yield start
    for backends in opened:
        await backends.close()


async def test_configured_backends_are_built_by_kind(
    fake_ollama: FakeOllama, started: Callable[..., Any]
) -> None:
    config = settings(
        backends=[
            {"name": "gpu1", "url": fake_ollama.url, "kind": "ollama", "slots": 4},
            {"name": "vllm", "url": "http://127.0.0.1:9/v1", "kind": "openai", "slots": 8},
        ],
        ollama_url="http://127.0.0.1:9",
        model_options={"llama3:latest": ModelOptions(num_ctx=2048)},
        local_model="auto",
    )
    backends = await started(config, probe_url=fake_ollama.url)
    gpu1, vllm = backends.items
    assert isinstance(gpu1, OllamaBackend) and isinstance(vllm, OpenAIBackend)
    assert (gpu1.name, gpu1.slots, vllm.name, vllm.slots) == ("gpu1", 4, "vllm", 8)
    assert await gpu1.list_models() == ["llama3:latest", "llama3"]


async def test_ollama_url_gives_one_ollama_backend(
    fake_ollama: FakeOllama, started: Callable[..., Any]
) -> None:
    backends = await started(settings(ollama_url=fake_ollama.url, local_model="auto"))
    (only,) = backends.items
    assert isinstance(only, OllamaBackend)
    assert (only.name, only.slots, only.config.url) == ("ollama", 1, fake_ollama.url)


async def test_auto_uses_an_ollama_that_answers(
    fake_ollama: FakeOllama, started: Callable[..., Any]
) -> None:
    backends = await started(settings(local_model="auto"), probe_url=fake_ollama.url)
    (only,) = backends.items
    assert isinstance(only, OllamaBackend) and only.config.url == fake_ollama.url
    assert await only.list_models() == ["llama3:latest", "llama3"]


async def test_nothing_configured_and_local_off_is_empty(started: Callable[..., Any]) -> None:
    backends = await started(settings(), probe_url=f"http://127.0.0.1:{free_port()}")
    assert backends.items == []


@pytest.mark.local_model
async def test_auto_without_ollama_starts_the_local_model(started: Callable[..., Any]) -> None:
    require_local_model()
    config = settings(local_model="auto", local_model_port=free_port(), local_model_slots=2)
    backends = await started(config, probe_url=f"http://127.0.0.1:{free_port()}")
    (local,) = backends.items
    assert isinstance(local, LocalModel) and (local.name, local.slots) == ("local", 2)
    assert await local.list_models() == [LocalModel.model_name]
    await backends.close()
    assert backends.items == []
