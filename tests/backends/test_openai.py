"""OpenAIBackend against a fake OpenAI-compatible server speaking SSE over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from seadragon.backends.openai import OpenAIBackend
from seadragon.config import BackendConfig
from seadragon.errors import InvalidRequest, ModelNotFound, UpstreamError
from tests.fakes import FakeConfig
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-upstream-key"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.config = FakeConfig(models=["m1", "m2"], tokens=4, api_key=KEY)
    server.reset()
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_backend(url: str, api_key: str | None = KEY) -> OpenAIBackend:
    return OpenAIBackend(BackendConfig(name="vllm", url=url, kind="openai", api_key=api_key), 10.0)


@pytest.fixture
async def backend(fake: FakeOpenAI) -> AsyncIterator[OpenAIBackend]:
    backend = make_backend(fake.url + "/v1/")
    yield backend
    await backend.close()


def chat(model: str = "m1", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello you"}], **extra}


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_lists_models_with_any_base_url_form(fake: FakeOpenAI, suffix: str) -> None:
    backend = make_backend(fake.url + suffix)
    try:
        assert await backend.list_models() == ["m1", "m2"]
    finally:
        await backend.close()
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_streamed_chat_passes_chunks_and_usage(
    backend: OpenAIBackend, fake: FakeOpenAI
) -> None:
    chunks = await collect(backend.stream_chat(chat(max_tokens=3)))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "tok0 tok1 tok2"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.headers["authorization"] == f"Bearer {KEY}"


async def test_fields_naming_urls_are_not_forwarded(
    backend: OpenAIBackend, fake: FakeOpenAI
) -> None:
    body = chat(api_base="http://evil", base_url="http://evil", callback_url="x", user="u1")
    await collect(backend.stream_chat(body))
    sent = fake.requests[-1].body
    assert not {"api_base", "base_url", "callback_url"} & set(sent)
    assert sent["user"] == "u1"


async def test_streamed_completion(backend: OpenAIBackend, fake: FakeOpenAI) -> None:
    chunks = await collect(backend.stream_completion({"model": "m2", "prompt": "a b c"}))
    assert {c["object"] for c in chunks} == {"text_completion"}
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "tok0 tok1 tok2 tok3"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["prompt_tokens"] == 3
    assert fake.requests[-1].path == "/v1/completions"


async def test_error_mid_stream_is_upstream_error(backend: OpenAIBackend) -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError, match="fake failure after 1 tokens"):
        async for chunk in backend.stream_chat(chat("error-after-1")):
            seen.append(chunk)
    assert len(seen) == 2  # the role chunk and one token


async def test_a_dropped_stream_fails_and_the_next_requests_still_work(
    backend: OpenAIBackend,
) -> None:
    for _ in range(5):
        with pytest.raises(UpstreamError, match="before finishing"):
            await collect(backend.stream_chat(chat("drop-after-2")))
        # The server closed that kept-alive connection just after the body ended.
        chunks = await collect(backend.stream_chat(chat()))
        assert chunks[-1]["usage"]["completion_tokens"] == 4


async def test_bad_request_keeps_the_upstream_message(backend: OpenAIBackend) -> None:
    with pytest.raises(InvalidRequest, match="fake status 400") as caught:
        await collect(backend.stream_chat(chat("status-400")))
    assert len(caught.value.message) < 300


@pytest.mark.parametrize(
    ("model", "error"), [("nope", ModelNotFound), ("status-503", UpstreamError)]
)
async def test_error_statuses(backend: OpenAIBackend, model: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        await collect(backend.stream_completion({"model": model, "prompt": "x"}))


async def test_wrong_credentials_are_upstream_error(fake: FakeOpenAI) -> None:
    backend = make_backend(fake.url, api_key=None)
    try:
        with pytest.raises(UpstreamError, match="credentials"):
            await collect(backend.stream_chat(chat()))
    finally:
        await backend.close()
    assert "authorization" not in fake.requests[-1].headers


async def test_unreachable_backend_is_upstream_error() -> None:
    backend = make_backend(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(UpstreamError, match="unreachable"):
            await collect(backend.stream_chat(chat()))
    finally:
        await backend.close()


async def test_aclose_closes_the_upstream_stream(backend: OpenAIBackend, fake: FakeOpenAI) -> None:
    fake.config.tokens, fake.config.token_delay = 10_000, 0.01
    stream = cast(AsyncGenerator[dict[str, Any], None], backend.stream_chat(chat()))
    async for chunk in stream:
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content") == " tok1":
            break
    await stream.aclose()
    await fake.until(lambda: fake.requests[-1].finished, timeout=5)
    assert fake.requests[-1].disconnected


async def test_cancelling_the_consumer_closes_the_upstream_stream(
    backend: OpenAIBackend, fake: FakeOpenAI
) -> None:
    fake.config.tokens, fake.config.token_delay = 10_000, 0.01
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.stream_chat(chat()):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.until(lambda: fake.requests[-1].finished, timeout=5)
    assert fake.requests[-1].disconnected


async def test_embeddings_float_and_base64(backend: OpenAIBackend) -> None:
    floats = await backend.embed({"model": "m1", "input": ["one", "two words"]})
    assert [d["index"] for d in floats["data"]] == [0, 1]
    assert len(floats["data"][0]["embedding"]) == 8
    assert floats["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    packed = await backend.embed({"model": "m1", "input": "one", "encoding_format": "base64"})
    raw = base64.b64decode(packed["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert list(decoded) == pytest.approx(floats["data"][0]["embedding"], rel=1e-6)


async def test_server_without_embeddings_is_invalid_request(
    backend: OpenAIBackend, fake: FakeOpenAI
) -> None:
    fake.config.embeddings = False
    with pytest.raises(InvalidRequest, match="does not support embeddings"):
        await backend.embed({"model": "m1", "input": "x"})


async def test_fake_answers_non_streamed_requests_too(fake: FakeOpenAI) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=fake.url, headers=headers) as client:
        resp = await client.post("/v1/chat/completions", json=chat(max_tokens=2))
    answer = resp.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "tok0 tok1"}
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 2


def test_fakes_run_as_processes() -> None:
    """The command line benchmarks use: ``python -m tests.fakes.openai_server --port N``."""
    for module, path in (("openai_server", "/v1/models"), ("ollama_server", "/api/tags")):
        port = free_port()
        args = ["--port", str(port), "--models", "bench", "--token-delay", "0"]
        proc = subprocess.Popen(
            [sys.executable, "-m", f"tests.fakes.{module}", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        try:
            assert "bench" in wait_for_answer(f"http://127.0.0.1:{port}{path}", proc)
            stats = httpx.get(f"http://127.0.0.1:{port}/_fake/stats").json()
            assert stats["requests"] >= 1 and stats["max_in_flight"] == 0
        finally:
            proc.terminate()
            proc.wait(10)


def wait_for_answer(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> str:
    """Poll until the process serves ``url``; each failed try waits on the process itself."""
    for _ in range(int(timeout / 0.1)):
        try:
            return httpx.get(url, timeout=1).text
        except httpx.TransportError:
            try:
                proc.wait(0.1)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"fake exited with {proc.returncode}") from None
    raise AssertionError(f"{url} did not answer within {timeout} s")
