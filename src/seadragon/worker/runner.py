"""Run one delivery against one backend: Started, chunks (or a result), End or Failed.

The delivery is settled exactly once whatever happens. Cancellation (the caller is
gone, or an owner or admin cancelled) closes the backend stream, which closes the
upstream connection: the GPU stops working for nobody.

A backend that refuses the connection (or resets it before answering) has not seen the
request: the worker is told (``refused``), and when another backend can serve the model
the job goes back to its place in the queue for it instead of failing.

A backend that refuses for lack of room before any output (429 or 503, "server busy": it
may still be working on a request whose caller left) has not run the request either. The
slot keeps the job, waits ``BUSY_FIRST_S`` (doubling to ``BUSY_MAX_S``) and asks again, up
to ``BUSY_ATTEMPTS`` times: the caller is served once the backend has room instead of
getting a 502, the backend is not hammered, and since the slot stays taken while it
waits, the backend never has more requests in flight than its slots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import suppress

from seadragon.backends.base import Backend
from seadragon.errors import (
    BackendBusy,
    BackendUnreachable,
    RequestCancelled,
    SeadragonError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from seadragon.queue.base import Chunk, Delivery, End, Event, Failed, Result, Started

log = logging.getLogger("seadragon.worker")

BUSY_ATTEMPTS = 20
BUSY_FIRST_S = 0.1
BUSY_MAX_S = 2.0


#: Told that the backend refused a job's connection; True when another backend serves
#: the job's model (the job then goes back to the queue for it).
Refused = Callable[[str], Awaitable[bool]]


async def _produce(delivery: Delivery, backend: Backend, output: list[bool]) -> None:
    wait_s = BUSY_FIRST_S
    for attempt in range(1, BUSY_ATTEMPTS + 1):
        try:
            await _produce_once(delivery, backend, output)
            return
        except BackendBusy as error:
            if output or attempt == BUSY_ATTEMPTS:
                raise
            log.info("job %s: %s; asking again in %.1f s", delivery.job.id, error.message, wait_s)
        await asyncio.sleep(wait_s)
        wait_s = min(BUSY_MAX_S, 2 * wait_s)


async def _produce_once(delivery: Delivery, backend: Backend, output: list[bool]) -> None:
    job = delivery.job
    if job.kind == "embedding":
        result = await backend.embed(job.body)
        output.append(True)
        await delivery.emit(Result(result))
        return
    stream = backend.stream_chat if job.kind == "chat" else backend.stream_completion
    chunks = stream(job.body)
    try:
        async for chunk in chunks:
            output.append(True)
            await delivery.emit(Chunk(chunk))
    finally:
        # Closing the generator closes the upstream connection now, not at GC time.
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()


async def _emit_quietly(delivery: Delivery, event: Event) -> None:
    """Tell the caller, unless it is already gone."""
    with suppress(RequestCancelled):
        await delivery.emit(event)


async def run_delivery(
    delivery: Delivery, backend: Backend, timeout_s: float, refused: Refused | None = None
) -> None:
    """Run ``delivery`` on ``backend`` and settle it; never raises except on shutdown."""
    job = delivery.job
    work: asyncio.Task[None] | None = None
    watcher: asyncio.Task[None] | None = None
    output: list[bool] = []
    requeue = False
    try:
        await delivery.emit(Started(backend.name, delivery.band, delivery.attempt))
        work = asyncio.create_task(_produce(delivery, backend, output))
        watcher = asyncio.create_task(delivery.wait_cancelled())
        done, _ = await asyncio.wait(
            {work, watcher}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if work not in done:
            work.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await work
            if watcher not in done:  # timed out, the caller still waits
                await _emit_quietly(
                    delivery,
                    Failed(UpstreamTimeout(f"the backend took longer than {timeout_s:.0f} s")),
                )
            return
        work.result()
        await delivery.emit(End())
    except RequestCancelled:
        pass  # the caller is gone; nobody to tell
    except BackendUnreachable as error:
        if not output and refused is not None and await refused(job.model):
            log.warning("job %s: %s; back to the queue for another", job.id, error.message)
            requeue = True
        else:
            await _emit_quietly(delivery, Failed(error))
    except SeadragonError as error:
        await _emit_quietly(delivery, Failed(error))
    except asyncio.CancelledError:
        with suppress(asyncio.CancelledError):
            await asyncio.shield(
                _emit_quietly(delivery, Failed(ServiceUnavailable("the worker is shutting down")))
            )
        raise
    except Exception as exc:  # a job boundary: log the kind, answer the caller, go on
        log.error("job %s on %s failed: %s", job.id, backend.name, type(exc).__name__)
        await _emit_quietly(delivery, Failed(UpstreamError("the backend failed")))
    finally:
        for task in (work, watcher):
            if task is not None and not task.done():
                task.cancel()
        with suppress(Exception):
            await asyncio.shield(delivery.settle(requeue=requeue))
