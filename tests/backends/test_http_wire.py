"""The backends' upstream client against a hand-written server, for answers no fake gives:
lines cut anywhere, a kept-alive connection closed unanswered, silence, a body never read,
a stream that never ends after its last line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from seadragon.backends.ollama import OllamaBackend
from seadragon.backends.openai import OpenAIBackend
from seadragon.config import BackendConfig
from seadragon.errors import UpstreamError, UpstreamTimeout

from .wire import LAST_CHUNK, STREAM_HEAD, Connection, WireServer, answer, chunk


def openai(url: str, timeout_s: float = 10.0) -> OpenAIBackend:
    return OpenAIBackend(BackendConfig(name="vllm", url=url, kind="openai"), timeout_s)


def chat(model: str = "m1", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


async def silent(conn: Connection) -> None:
    """Read the request, never answer."""
    await conn.request()
    await conn.until_client_leaves()


async def test_lines_are_split_however_they_arrive(closing: list[Any]) -> None:
    long = "x" * 300_000  # past aiohttp's own line limit

    def event(content: str) -> bytes:
        delta = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
        return b"data: " + orjson.dumps(delta)

    done = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}'

    async def handle(conn: Connection) -> None:
        await conn.request()
        body = [b": ping\r\n", event("a\u2028b"), b"\r", b"\n\r\n", event(long) + b"\r\r"]
        body += [b"event: x\n", event("c")[:9], event("c")[9:] + b"\n\n", done + b"\r\n\r\n"]
        body += [b"data: [DONE]\r\n\r\n"]
        await conn.send(STREAM_HEAD, *map(chunk, body), LAST_CHUNK, gap=0.005)
        await conn.until_client_leaves()

    async with WireServer(handle) as server:
        backend = openai(server.url)
        closing.append(backend)
        chunks = await collect(backend.stream_chat(chat()))
    contents = [c["choices"][0]["delta"].get("content") for c in chunks]
    assert contents == ["a\u2028b", long, "c", None]


async def test_a_kept_alive_connection_closed_before_the_answer_is_resent_once(
    closing: list[Any],
) -> None:
    models = answer({"object": "list", "data": [{"id": "m1"}]})
    sse = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'

    async def handle(conn: Connection) -> None:
        while (body := await conn.request()) is not None:
            if len(server.requests) == 2:
                return  # the first connection's second request: closed unanswered
            if body:
                await conn.send(STREAM_HEAD, chunk(sse), LAST_CHUNK)
            else:
                await conn.send(models)

    async with WireServer(handle) as server:
        backend = openai(server.url)
        closing.append(backend)
        assert await backend.list_models() == ["m1"]
        chunks = await collect(backend.stream_chat(chat()))
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert [len(conn.requests) for conn in server.connections] == [2, 1]


async def test_a_server_closing_every_connection_unanswered_is_tried_twice(
    closing: list[Any],
) -> None:
    async def handle(conn: Connection) -> None:
        await conn.request()

    async with WireServer(handle) as server:
        backend = openai(server.url)
        closing.append(backend)
        with pytest.raises(UpstreamError, match="broke the connection"):
            await collect(backend.stream_chat(chat()))
        assert len(server.requests) == 2


async def test_silence_is_a_timeout_without_a_resend(closing: list[Any]) -> None:
    async with WireServer(silent) as server:
        backend = openai(server.url, timeout_s=0.3)
        closing.append(backend)
        with pytest.raises(UpstreamTimeout):
            async with asyncio.timeout(3):
                await collect(backend.stream_chat(chat()))
        assert len(server.requests) == 1
        await asyncio.wait_for(server.connections[0].client_left.wait(), 5)


async def test_cancelling_before_the_answer_closes_the_connection(closing: list[Any]) -> None:
    async with WireServer(silent) as server:
        backend = openai(server.url)
        closing.append(backend)
        task = asyncio.create_task(collect(backend.stream_chat(chat())))
        while not server.requests:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.connections[0].client_left.wait(), 5)


DONE = {"model": "m", "message": {"content": "hi"}, "done": True, "eval_count": 1}


async def test_ollama_reads_past_done_to_keep_the_connection(closing: list[Any]) -> None:
    async def handle(conn: Connection) -> None:
        while await conn.request() is not None:
            # The end of the body comes a moment after the last line.
            await conn.send(STREAM_HEAD, chunk(orjson.dumps(DONE) + b"\n"), LAST_CHUNK, gap=0.05)

    async with WireServer(handle) as server:
        backend = OllamaBackend(BackendConfig(name="gpu", url=server.url), {}, 30.0)
        closing.append(backend)
        for _ in range(3):
            chunks = await collect(backend.stream_chat(chat("m")))
            assert chunks[1]["choices"][0]["delta"] == {"content": "hi"}
        assert len(server.connections) == 1


async def test_ollama_chatter_after_done_is_cut_short(closing: list[Any]) -> None:
    async def handle(conn: Connection) -> None:
        await conn.request()
        await conn.send(STREAM_HEAD, chunk(orjson.dumps(DONE) + b"\n"))
        await conn.until_client_leaves()  # never ends the body

    async with WireServer(handle) as server:
        backend = OllamaBackend(BackendConfig(name="gpu", url=server.url), {}, 30.0)
        closing.append(backend)
        async with asyncio.timeout(5):
            chunks = await collect(backend.stream_chat(chat("m")))
            await server.connections[0].client_left.wait()
    assert chunks[-1]["usage"]["completion_tokens"] == 1


async def test_an_upstream_that_stops_reading_the_body_times_out(closing: list[Any]) -> None:
    async def handle(conn: Connection) -> None:
        await conn.reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(30)  # reads no body: the sockets' buffers fill up

    async with WireServer(handle) as server:
        backend = openai(server.url, timeout_s=0.3)
        closing.append(backend)
        big = chat(messages=[{"role": "user", "content": "x" * 32_000_000}])
        with pytest.raises(UpstreamTimeout):
            async with asyncio.timeout(5):
                await collect(backend.stream_chat(big))
