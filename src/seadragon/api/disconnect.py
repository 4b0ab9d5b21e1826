"""Notice a caller that hangs up, even while its request is silent in the queue.

Starlette stops listening for ``http.disconnect`` on ASGI 2.4 servers and relies on a
failing ``send`` instead; a request waiting in the queue sends nothing, so it would only
learn of the hang-up when its first token is ready. Both helpers here watch ``receive``
alongside the work and cancel the work as soon as the caller is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TypeVar

import anyio
from fastapi import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from seadragon.errors import RequestCancelled

T = TypeVar("T")


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class EventStreamResponse(StreamingResponse):
    """``text/event-stream`` that stops its body iterator when the client disconnects."""

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream_then_stop() -> None:
                with suppress(OSError):  # the client went away mid-write
                    await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream_then_stop)
            await _wait_for_disconnect(receive)
            group.cancel_scope.cancel()


async def unless_disconnected(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work``; if the client disconnects first, cancel it and raise RequestCancelled.

    ``work`` runs in the calling task (no task group on the hot path); a watcher task
    cancels it on disconnect.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        await _wait_for_disconnect(request.receive)
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        result = await work()
    except asyncio.CancelledError:
        if not gone:
            raise
    finally:
        watcher.cancel()
    if gone:  # ``work`` was cancelled (or swallowed the cancel): the cancel was ours
        task.uncancel()
        raise RequestCancelled("client disconnected")
    return result
