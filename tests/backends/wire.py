"""Servers at the TCP level, for what the fakes cannot show: how many connections a backend
opens, and what it does with answers no well-behaved server gives (a kept-alive
connection closed before the answer, lines cut anywhere, a redirect, silence).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Self

import orjson

STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """``data`` as one piece of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def answer(data: Any, status: str = "200 OK", headers: bytes = b"") -> bytes:
    """A whole JSON answer that keeps the connection open."""
    body = orjson.dumps(data)
    head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
    return head % (status.encode(), len(body), headers) + body


class Connection:
    """One accepted connection, as the server sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.requests: list[bytes] = []
        self.client_left = asyncio.Event()

    async def request(self) -> bytes | None:
        """The next request's body (its request line is recorded); ``None`` at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.requests.append(head.split(b"\r\n", 1)[0])
        return await self.reader.readexactly(length)

    async def send(self, *pieces: bytes, gap: float = 0.0) -> None:
        """Write ``pieces`` one by one, ``gap`` seconds apart so they arrive apart."""
        for piece in pieces:
            self.writer.write(piece)
            await self.writer.drain()
            if gap:
                await asyncio.sleep(gap)

    async def until_client_leaves(self) -> None:
        """Read and drop whatever comes until the client closes the connection."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass
        self.client_left.set()


class WireServer:
    """``async with WireServer(handle) as server``: ``handle`` runs once per connection."""

    def __init__(self, handle: Callable[[Connection], Awaitable[None]]) -> None:
        self.handle = handle
        self.connections: list[Connection] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    @property
    def requests(self) -> list[bytes]:
        return [line for conn in self.connections for line in conn.requests]

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Connection(reader, writer)
        self.connections.append(conn)
        try:
            await self.handle(conn)
        except ConnectionError:
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


class CountingProxy:
    """Forwards TCP to ``port`` and counts the connections made through it, one each."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections = 0
        self._server = WireServer(self._forward)
        self.url = ""

    async def __aenter__(self) -> Self:
        await self._server.__aenter__()
        self.url = self._server.url
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.__aexit__(*exc)

    async def _forward(self, conn: Connection) -> None:
        self.connections += 1
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        try:
            await asyncio.gather(
                pipe(conn.reader, writer), pipe(reader, conn.writer), return_exceptions=True
            )
        finally:
            writer.close()
