"""OllamaBackend against a fake Ollama speaking the native API over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, cast

import httpx
import pytest

from seadragon.backends.ollama import OllamaBackend
from seadragon.config import BackendConfig, ModelOptions
from seadragon.errors import InvalidRequest, ModelNotFound, UpstreamError, UpstreamTimeout
from tests.fakes import FakeConfig
from tests.fakes.ollama_server import FakeOllama

OPTIONS = {"llama3:latest": ModelOptions(num_ctx=4096, num_thread=2, num_gpu=10, keep_alive="10m")}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


@pytest.fixture
def fake(server: FakeOllama) -> FakeOllama:
    server.config = FakeConfig(models=["llama3:latest", "qwen:0.5b"], tokens=5)
    server.reset()
    return server


def make_backend(url: str, timeout_s: float = 10.0) -> OllamaBackend:
    return OllamaBackend(BackendConfig(name="gpu1", url=url, slots=2), OPTIONS, timeout_s)


@pytest.fixture
async def backend(fake: FakeOllama) -> AsyncIterator[OllamaBackend]:
    backend = make_backend(fake.url + "/")
    yield backend
    await backend.close()


def chat(model: str = "llama3:latest", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi there"}], **extra}


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


async def test_lists_tags_and_latest_aliases(backend: OllamaBackend) -> None:
    assert await backend.list_models() == ["llama3:latest", "qwen:0.5b", "llama3"]


async def test_streamed_chat_is_translated_to_openai_chunks(backend: OllamaBackend) -> None:
    chunks = await collect(backend.stream_chat(chat()))
    first, *middle, finish, usage = chunks
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "finish_reason": None,
            "logprobs": None,
        }
    ]
    text = "".join(c["choices"][0]["delta"]["content"] for c in middle)
    assert text == "tok0 tok1 tok2 tok3 tok4"
    assert all(c["choices"][0]["finish_reason"] is None for c in middle)
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    assert len({c["id"] for c in chunks}) == 1


async def test_length_limit_becomes_finish_reason_length(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    chunks = await collect(backend.stream_chat(chat(max_tokens=3)))
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert fake.requests[-1].body["options"]["num_predict"] == 3


async def test_request_is_translated_with_model_defaults_underneath(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    await backend.list_models()
    body = {
        "model": "llama3",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
        ],
        "max_completion_tokens": 4,
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "stop": "END",
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "options": {"num_ctx": 8192, "num_gpu": 99, "top_k": 5},
        "response_format": {"type": "json_object"},
    }
    await collect(backend.stream_chat(body))
    sent = fake.requests[-1].body
    assert sent["model"] == "llama3:latest"
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a\nb"},
    ]
    assert sent["options"] == {
        "num_gpu": 10,
        "num_thread": 2,
        "num_ctx": 8192,
        "top_k": 5,
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "num_predict": 4,
        "stop": ["END"],
    }
    assert sent["keep_alive"] == "10m"
    assert sent["format"] == "json"
    assert sent["stream"] is True


async def test_json_schema_becomes_format(backend: OllamaBackend, fake: FakeOllama) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    await collect(backend.stream_chat(chat("qwen:0.5b", response_format=fmt)))
    sent = fake.requests[-1].body
    assert sent["format"] == schema
    assert "options" not in sent and "keep_alive" not in sent


async def test_remote_image_urls_are_refused(backend: OllamaBackend, fake: FakeOllama) -> None:
    part = {"type": "image_url", "image_url": {"url": "http://169.254.169.254/x.png"}}
    body = {"model": "llama3:latest", "messages": [{"role": "user", "content": [part]}]}
    with pytest.raises(InvalidRequest):
        await collect(backend.stream_chat(body))
    assert fake.requests == []


async def test_streamed_completion_uses_generate_raw(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    body = {"model": "llama3:latest", "prompt": "once upon a time", "max_tokens": 2}
    chunks = await collect(backend.stream_completion(body))
    assert [c["object"] for c in chunks] == ["text_completion"] * 4
    assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == "tok0 tok1"
    assert chunks[0]["choices"][0] == {
        "index": 0,
        "text": "tok0",
        "finish_reason": None,
        "logprobs": None,
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    sent = fake.requests[-1]
    assert sent.path == "/api/generate"
    assert sent.body["prompt"] == "once upon a time" and sent.body["raw"] is True


async def test_token_id_prompts_are_invalid(backend: OllamaBackend) -> None:
    with pytest.raises(InvalidRequest):
        await collect(backend.stream_completion({"model": "llama3:latest", "prompt": [1, 2]}))


async def test_error_mid_stream_is_upstream_error(backend: OllamaBackend) -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError, match="fake failure after 2 tokens"):
        async for chunk in backend.stream_chat(chat("error-after-2")):
            seen.append(chunk)
    assert [c["choices"][0]["delta"].get("content") for c in seen] == ["", "tok0", " tok1"]


async def test_unknown_model_is_model_not_found_before_any_chunk(backend: OllamaBackend) -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises(ModelNotFound):
        async for chunk in backend.stream_chat(chat("missing:7b")):
            seen.append(chunk)
    assert seen == []


@pytest.mark.parametrize(
    ("model", "error"), [("status-500", UpstreamError), ("status-400", InvalidRequest)]
)
async def test_error_statuses(backend: OllamaBackend, model: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        await collect(backend.stream_chat(chat(model)))


async def test_unreachable_backend_is_upstream_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = make_backend(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(UpstreamError, match="unreachable"):
            await collect(backend.stream_chat(chat()))
        with pytest.raises(UpstreamError):
            await backend.list_models()
    finally:
        await backend.close()


async def test_slow_backend_is_upstream_timeout(fake: FakeOllama) -> None:
    fake.config.service_time = 5.0
    backend = make_backend(fake.url, timeout_s=0.2)
    try:
        with pytest.raises(UpstreamTimeout):
            await collect(backend.stream_chat(chat()))
    finally:
        await backend.close()


async def test_aclose_closes_the_upstream_stream(backend: OllamaBackend, fake: FakeOllama) -> None:
    fake.config.tokens, fake.config.token_delay = 10_000, 0.01
    stream = cast(AsyncGenerator[dict[str, Any], None], backend.stream_chat(chat()))
    async for chunk in stream:
        if chunk["choices"][0]["delta"].get("content") == " tok2":
            break
    await stream.aclose()
    await fake.until(lambda: fake.requests[-1].finished, timeout=5)
    assert fake.requests[-1].disconnected
    assert fake.in_flight == 0


async def test_cancelling_the_consumer_closes_the_upstream_stream(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    fake.config.tokens, fake.config.token_delay = 10_000, 0.01
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.stream_completion({"model": "llama3:latest", "prompt": "go"}):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.until(lambda: fake.requests[-1].finished, timeout=5)
    assert fake.requests[-1].disconnected


async def test_embeddings_float(backend: OllamaBackend, fake: FakeOllama) -> None:
    answer = await backend.embed({"model": "llama3:latest", "input": ["a b", "c"]})
    assert answer["object"] == "list" and answer["model"] == "llama3:latest"
    assert [d["index"] for d in answer["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 8 for d in answer["data"])
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert fake.requests[-1].body["input"] == ["a b", "c"]
    assert fake.requests[-1].body["options"]["num_ctx"] == 4096


async def test_embeddings_base64_is_little_endian_float32(backend: OllamaBackend) -> None:
    floats = await backend.embed({"model": "llama3:latest", "input": "x"})
    packed = await backend.embed(
        {"model": "llama3:latest", "input": "x", "encoding_format": "base64"}
    )
    raw = base64.b64decode(packed["data"][0]["embedding"])
    decoded = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    assert decoded == pytest.approx(floats["data"][0]["embedding"], rel=1e-6)


@pytest.mark.parametrize("bad", [[1, 2, 3], [[1, 2]], [], 5])
async def test_embeddings_reject_token_ids_and_junk(backend: OllamaBackend, bad: Any) -> None:
    with pytest.raises(InvalidRequest):
        await backend.embed({"model": "llama3:latest", "input": bad})


async def test_fake_answers_non_streamed_requests_too(fake: FakeOllama) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as client:
        resp = await client.post("/api/chat", json=chat(stream=False, options={"num_predict": 2}))
        version = (await client.get("/api/version")).json()
    answer = resp.json()
    assert answer["message"] == {"role": "assistant", "content": "tok0 tok1"}
    assert answer["done"] is True and answer["done_reason"] == "length"
    assert answer["eval_count"] == 2 and "version" in version
