"""Backend workers: one per backend, ``slots`` loops each taking one job at a time.

A slot asks the queue for work only when it is free, so the queue — not a backend's
own internal FIFO — decides what runs next, and a backend never has more requests in
flight than it has slots. Each worker rediscovers its backend's models every
``model_refresh_s`` and advertises them (with reachability and load) to gateways.

A backend that refuses a connection is marked unreachable at once: its slots stop
taking work (a job it refused goes back to the queue for another backend) and the
worker probes it with backoff, from ``PROBE_FIRST_S`` doubling to ``PROBE_MAX_S``,
until it answers again.

What the backend holds in memory (Ollama's ``/api/ps``) is advertised too, read at each
refresh and again after a job whose model was not loaded (running it loaded that model,
and may have evicted another), so the in-process queue can hand a request to a backend
that has its model loaded (``queue/affinity.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from contextlib import suppress

from seadragon.backends.base import Backend
from seadragon.config import Settings
from seadragon.errors import SeadragonError
from seadragon.queue.base import BaseQueueManager, Delivery, WorkerInfo
from seadragon.worker.runner import run_delivery

log = logging.getLogger("seadragon.worker")

ADVERTISE_EVERY_S = 2.0
BUSY_ADVERTISE_S = 0.05
PROBE_FIRST_S = 0.25
PROBE_MAX_S = 8.0


class BackendWorker:
    """Feeds one backend's slots from the queue."""

    def __init__(self, queue: BaseQueueManager, backend: Backend, settings: Settings) -> None:
        self.queue = queue
        self.backend = backend
        self.settings = settings
        self.id = f"{socket.gethostname()}:{os.getpid()}:{backend.name}"
        self.models: list[str] = list(backend.config.models)
        self.reachable = False
        self.error: str | None = None
        #: Models loaded on the backend now; None: the backend cannot tell.
        self.loaded: list[str] | None = None
        self.busy = 0
        #: Slots waiting in the queue for work now.
        self.waiting = 0
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._down = asyncio.Event()
        self._taking: set[asyncio.Task[Delivery]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._advertising: set[asyncio.Task[None]] = set()
        self._busy_advert: asyncio.TimerHandle | None = None
        self._closing = False

    def info(self) -> WorkerInfo:
        return WorkerInfo(
            id=self.id,
            backend=self.backend.name,
            kind=self.backend.config.kind,
            url=self.backend.config.url,
            slots=self.backend.slots,
            busy=self.busy,
            models=sorted(self.models),
            reachable=self.reachable,
            error=self.error,
            loaded=None if self.loaded is None else sorted(self.loaded),
        )

    async def start(self) -> None:
        await self.refresh()
        self._tasks.append(asyncio.create_task(self._refresh_loop()))
        self._tasks.append(asyncio.create_task(self._advertise_loop()))
        self._tasks.extend(asyncio.create_task(self._slot()) for _ in range(self.backend.slots))

    async def refresh(self) -> None:
        """Ask the backend what it serves; a failure marks it unreachable."""
        try:
            # A fixed model list still needs a reachability check.
            discovered = await self.backend.list_models()
            models = self.backend.config.models or discovered
            reachable, error = True, None
        except SeadragonError as exc:
            models, reachable, error = self.models, False, exc.message
        loaded = await self._read_loaded() if reachable else self.loaded
        changed = sorted(models) != sorted(self.models) or reachable != self.reachable
        reloaded, self.loaded = loaded != self.loaded, loaded
        self.models, self.reachable, self.error = list(models), reachable, error
        if self.reachable and self.models:
            self._ready.set()
        else:
            self._ready.clear()
        if changed:
            old, self._changed = self._changed, asyncio.Event()
            old.set()  # idle slots re-ask the queue with the new model list
        if changed or reloaded:
            await self.queue.advertise(self.info())

    async def _read_loaded(self) -> list[str] | None:
        try:
            loaded = await self.backend.loaded_models()
        except SeadragonError:
            return self.loaded
        return None if loaded is None else sorted(loaded)

    async def _ran(self, model: str) -> None:
        """A job of ``model`` ended: if that loaded it, learn what is loaded now."""
        if self.loaded is None or model in self.loaded:
            return
        loaded = await self._read_loaded()
        if loaded != self.loaded:
            self.loaded = loaded
            await self._advertise_once()

    async def _refresh_loop(self) -> None:
        probe_s = PROBE_FIRST_S
        while True:
            if self.reachable:
                probe_s = PROBE_FIRST_S
                with suppress(TimeoutError):  # a refusal starts probing at once
                    async with asyncio.timeout(self.settings.model_refresh_s):
                        await self._down.wait()
            else:
                await asyncio.sleep(probe_s)
                probe_s = min(PROBE_MAX_S, probe_s * 2)
            self._down.clear()
            await self.refresh()

    async def _refused(self, model: str) -> bool:
        """The backend refused a connection: stop taking work until it answers again.

        True when another reachable worker serves ``model``, so the job can wait for it.
        """
        if self.reachable:
            log.warning(
                "backend %s refused a connection: unreachable until it answers", self.backend.name
            )
            self.reachable, self.error = False, f"backend {self.backend.name!r} is unreachable"
            self._ready.clear()
            self._down.set()
            # Slots waiting for work let go of it (a job handed to one goes back unharmed).
            for take in list(self._taking):
                take.cancel()
            await asyncio.gather(*self._taking, return_exceptions=True)
            await self._advertise_once()
        served = self.queue.models().get(model)
        return served is not None and any(b != self.backend.name for b in served.backends)

    async def _advertise_loop(self) -> None:
        while True:
            await self._advertise_once()
            await asyncio.sleep(ADVERTISE_EVERY_S)

    def _set_busy(self, change: int) -> None:
        """Count a slot in or out, and tell gateways soon: the admin panel shows it live.

        Changes within ``BUSY_ADVERTISE_S`` go out as one advertisement: at one per slot
        change, short requests paid for two broadcasts each.
        """
        self.busy += change
        if self._busy_advert is None:
            loop = asyncio.get_running_loop()
            self._busy_advert = loop.call_later(BUSY_ADVERTISE_S, self._advertise_busy)

    def _advertise_busy(self) -> None:
        self._busy_advert = None
        task = asyncio.create_task(self._advertise_once())
        self._advertising.add(task)
        task.add_done_callback(self._advertising.discard)

    async def _advertise_once(self) -> None:
        with suppress(SeadragonError):
            await self.queue.advertise(self.info())

    async def _next(self) -> Delivery | None:
        """Wait for a job, or return None when the model list changed meanwhile."""
        await self._ready.wait()
        changed = self._changed
        take = asyncio.create_task(self._take())
        self._taking.add(take)
        take.add_done_callback(self._taking.discard)
        waiter = asyncio.create_task(changed.wait())
        try:
            await asyncio.wait({take, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not take.done():
                take.cancel()
        with suppress(asyncio.CancelledError):
            await take
        if take.cancelled():
            return None
        return take.result()

    async def _take(self) -> Delivery:
        self.waiting += 1
        try:
            return await self.queue.take(self.id, list(self.models))
        finally:
            self.waiting -= 1

    async def _slot(self) -> None:
        while not self._closing:
            delivery = await self._next()
            if delivery is None:
                continue
            self._set_busy(+1)
            job = asyncio.create_task(
                run_delivery(delivery, self.backend, self.settings.request_timeout_s, self._refused)
            )
            self._running.add(job)
            try:
                await asyncio.shield(job)
            finally:
                self._running.discard(job)
                self._set_busy(-1)
            await self._ran(delivery.job.model)

    async def close(self, grace_s: float = 10.0) -> None:
        """Stop taking work, let running jobs finish for ``grace_s``, then cancel them."""
        self._closing = True
        if self._busy_advert is not None:
            self._busy_advert.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace_s)
            for job in pending:
                job.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with suppress(SeadragonError):
            await self.queue.withdraw(self.id)


class WorkerPool:
    """All backend workers of one process."""

    def __init__(
        self, queue: BaseQueueManager, backends: list[Backend], settings: Settings
    ) -> None:
        self.workers = [BackendWorker(queue, backend, settings) for backend in backends]

    async def start(self) -> None:
        await asyncio.gather(*(worker.start() for worker in self.workers))

    async def close(self) -> None:
        await asyncio.gather(*(worker.close() for worker in self.workers))
