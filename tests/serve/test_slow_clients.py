"""Slow and oversized request heads and bodies get a bounded answer from a real
``seadragon serve``, and the gateway keeps answering everyone else meanwhile."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.serve.conftest import Serve, connect, read_status

DEADLINES = {"SEADRAGON_HEADER_TIMEOUT_S": "2", "SEADRAGON_BODY_TIMEOUT_S": "2"}
#: Far above the 2 s deadlines, far below "held indefinitely".
CUT_WITHIN_S = 20.0


async def trickle_head(url: str) -> tuple[int | None, float]:
    """Send a request head one header every 0.5 s, forever; (status, seconds) when cut."""
    reader, writer = await connect(url)
    started = time.monotonic()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    status_task = asyncio.create_task(read_status(reader, CUT_WITHIN_S))
    try:
        for i in range(int(CUT_WITHIN_S / 0.5)):
            if status_task.done():
                break
            writer.write(f"X-Slow-{i}: a\r\n".encode())
            try:
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait({status_task}, timeout=0.5)
        return await status_task, time.monotonic() - started
    finally:
        writer.close()


async def test_slow_and_endless_heads_are_cut(serve: Serve) -> None:
    async with serve(**DEADLINES) as stack:
        url = stack.gateways[0]
        slow = [asyncio.create_task(trickle_head(url)) for _ in range(20)]
        idle_reader, idle_writer = await connect(url)
        # Meanwhile everyone else is served at once.
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{url}/v1/models", headers=stack.auth)
            assert response.status_code == 200
        for status, took in await asyncio.gather(*slow):
            assert status in (408, None)
            assert took < CUT_WITHIN_S - 1
        # A connection that never sends a byte is closed too, without an answer.
        assert await read_status(idle_reader, CUT_WITHIN_S) is None
        idle_writer.close()


async def test_a_body_shorter_than_its_length_gets_408(serve: Serve) -> None:
    async with serve(**DEADLINES) as stack:
        reader, writer = await connect(stack.gateways[0])
        auth = stack.auth["Authorization"].encode()
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: " + auth + b"\r\nContent-Length: 100\r\n\r\n" + b'{"model": '
        )
        await writer.drain()
        started = time.monotonic()
        assert await read_status(reader, CUT_WITHIN_S) == 408
        assert time.monotonic() - started < CUT_WITHIN_S - 1
        writer.close()


async def test_oversized_heads_are_refused(serve: Serve) -> None:
    async with serve() as stack:
        url = stack.gateways[0]
        long_line = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
        many = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
        many += b"".join(b"X-%d: a\r\n" % i for i in range(5000)) + b"\r\n"
        few_but_many = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
        few_but_many += b"".join(b"X%d:\r\n" % i for i in range(500)) + b"\r\n"
        for head in (long_line, many, few_but_many):
            reader, writer = await connect(url)
            writer.write(head)
            await writer.drain()
            assert await read_status(reader, 10) == 431, head[:60]
            writer.close()


async def test_a_request_that_is_not_http_gets_a_shaped_400(serve: Serve) -> None:
    async with serve() as stack:
        reader, writer = await connect(stack.gateways[0])
        writer.write(b"HELLO there\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")
        assert b'"code": "bad_request"' in body


async def test_pipelined_requests_are_each_answered_and_the_next_head_is_timed(
    serve: Serve,
) -> None:
    async with serve(**DEADLINES) as stack:
        reader, writer = await connect(stack.gateways[0])
        auth = stack.auth["Authorization"].encode()
        one = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth + b"\r\n\r\n"
        writer.write(one * 3)
        await writer.drain()
        for _ in range(3):
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 ")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                )
                assert b'"object"' in await reader.readexactly(length)
        # Then a head that never ends is cut at its deadline, on the same connection.
        writer.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        started = time.monotonic()
        async with asyncio.timeout(CUT_WITHIN_S):
            rest = await reader.read()
        assert b"HTTP/1.1 408 " in rest
        assert time.monotonic() - started < CUT_WITHIN_S - 1
        writer.close()
