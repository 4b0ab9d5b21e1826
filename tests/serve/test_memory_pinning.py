"""Bodies cannot pin the gateway's memory: without credentials nothing is buffered, and
what authenticated callers may have buffered at once is bounded (503 beyond it), measured
on a real ``seadragon serve`` by its resident memory and by whether it still answers."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.serve.conftest import Serve, connect, read_status, rss_bytes

MIB = 1024 * 1024
BODY = 8 * MIB  # the default max_body_bytes
CHUNK = b"x" * (256 * 1024)


async def post_almost_all(url: str, auth: bytes | None, size: int = BODY) -> tuple[int | None, int]:
    """POST a body of ``size`` and send all but its last byte (stopping early if answered);
    (status seen at once or None, bytes sent). The socket stays open: the caller closes it."""
    reader, writer = await connect(url)
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if auth is not None:
        head += b"Authorization: " + auth + b"\r\n"
    writer.write(head + b"Content-Length: %d\r\n\r\n" % size)
    status_task = asyncio.create_task(read_status(reader, 120))
    sent = 0
    try:
        while sent < size - 1 and not status_task.done():
            piece = CHUNK[: size - 1 - sent]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
    except ConnectionError:
        pass
    if not status_task.done():
        await asyncio.wait({status_task}, timeout=1.0)
    status = status_task.result() if status_task.done() else None
    status_task.cancel()
    sockets.append(writer)
    return status, sent


sockets: list[asyncio.StreamWriter] = []


async def models_answer_within(url: str, auth: dict[str, str], seconds: float) -> bool:
    async with httpx.AsyncClient(timeout=seconds) as http:
        started = time.monotonic()
        response = await http.get(f"{url}/v1/models", headers=auth)
        return response.status_code == 200 and time.monotonic() - started < seconds


async def test_bodies_without_credentials_are_never_buffered(serve: Serve) -> None:
    async with serve() as stack:
        url = stack.gateways[0]
        pid = stack.processes["gateway0"].pid
        before = rss_bytes(pid)
        try:
            results = await asyncio.gather(*(post_almost_all(url, None) for _ in range(100)))
            during = rss_bytes(pid)
            assert await models_answer_within(url, stack.auth, 10)
        finally:
            for writer in sockets:
                writer.close()
            sockets.clear()
        print(f"\nRSS {before / MIB:.0f} MiB before, {during / MIB:.0f} MiB with 100 open bodies")
        # Every one was refused from its headers: the bodies never came whole.
        assert [status for status, _ in results] == [401] * 100
        # 100 x 8 MiB held would be 800 MiB; a refused body is discarded as it comes.
        assert during - before < 150 * MIB


async def test_a_declared_length_over_the_limit_is_413_at_once(serve: Serve) -> None:
    async with serve() as stack:
        auth = stack.auth["Authorization"].encode()
        try:
            status, _ = await post_almost_all(stack.gateways[0], auth, size=BODY + 1)
        finally:
            for writer in sockets:
                writer.close()
            sockets.clear()
        assert status == 413  # answered before the body was whole: its last byte never came


async def test_bodies_held_at_once_are_bounded(serve: Serve) -> None:
    async with serve(SEADRAGON_MAX_INFLIGHT_BODY_BYTES=str(3 * BODY)) as stack:
        url = stack.gateways[0]
        auth = stack.auth["Authorization"].encode()
        pid = stack.processes["gateway0"].pid
        before = rss_bytes(pid)
        try:
            results = await asyncio.gather(*(post_almost_all(url, auth) for _ in range(12)))
            during = rss_bytes(pid)
            assert await models_answer_within(url, stack.auth, 10)
        finally:
            for writer in sockets:
                writer.close()
            sockets.clear()
        statuses = [status for status, _ in results]
        print(f"\nRSS {before / MIB:.0f} MiB before, {during / MIB:.0f} MiB; statuses {statuses}")
        # Three bodies fit the budget and wait for their last byte; the rest are told to retry.
        assert statuses.count(None) == 3
        assert statuses.count(503) == 9
        assert during - before < 12 * BODY
