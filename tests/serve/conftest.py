"""A real ``seadragon serve`` process (memory queue, the fake upstream) for tests that need
what only the command sets up: its HTTP protocol, limits and signal handling. Clients here
talk raw sockets where a well-behaved HTTP client would hide the misbehaviour tested."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bench.processes import Stack, start_stack

Serve = Callable[..., AbstractAsyncContextManager[Stack]]


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    """``async with serve(upstream_args=(...), SEADRAGON_X="1") as stack:`` a running stack."""

    @asynccontextmanager
    async def running(
        upstream_args: tuple[str, ...] = (), slots: int = 1, **settings: str
    ) -> AsyncIterator[Stack]:
        stack: Stack | None = None
        try:
            async with start_stack(
                "memory",
                str(tmp_path),
                slots=slots,
                upstream_args=upstream_args,
                settings=settings,
            ) as stack:
                yield stack
        except BaseException:
            if stack is not None:
                print(f"----- gateway0.log (tail) -----\n{stack.log('gateway0')[-3000:]}")
            raise

    return running


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return await asyncio.open_connection(parts.hostname, parts.port)


async def read_status(reader: asyncio.StreamReader, timeout: float) -> int | None:
    """The status of the response that arrives within ``timeout``; None if the server
    closed the connection without one."""
    try:
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return int(head.split(b" ", 2)[1])


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from ``/proc``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
