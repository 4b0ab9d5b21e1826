"""The worker side: hand free slots the jobs they may run, and track the deliveries here.

A free slot pulls with ``basic.get`` (never ``basic.consume``: a prefetched job is held
by a busy worker, does not age, and breaks band order; ``docs/architecture.md``); what
it looks at, in which order, is in ``scan.py``. When nothing is ready the slot sleeps on
this process's doorbell, taking turns with the other idle slots of its models
(``look.py``); a slot that wakes skips its scan when one that began after it last
looked, with no ring since, found nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from seadragon.config import Settings
from seadragon.errors import QueueUnavailable
from seadragon.queue.control_state import QueueControl
from seadragon.queue.rabbitmq.broker.connection import Channels, Connection
from seadragon.queue.rabbitmq.broker.queues import BandQueues
from seadragon.queue.rabbitmq.broker.rejects import Rejects
from seadragon.queue.rabbitmq.doorbell import Doorbell
from seadragon.queue.rabbitmq.worker.delivery import RabbitDelivery
from seadragon.queue.rabbitmq.worker.ledger import Ledger
from seadragon.queue.rabbitmq.worker.look import POLL_S, Look
from seadragon.queue.rabbitmq.worker.scan import Scanner
from seadragon.queue.rabbitmq.worker.sender import ReplySender
from seadragon.queue.rabbitmq.worker.verdict import Verdicts

#: How long a job whose gateway had no reply queue is held before it is handed back.
UNROUTED_HOLD_S = 1.0


class Taker:
    """Hands free slots the jobs they may run, and tracks the deliveries running here."""

    def __init__(
        self,
        settings: Settings,
        queues: BandQueues,
        connection: Connection,
        channels: Channels,
        sender: ReplySender,
        doorbell: Doorbell,
        rejects: Rejects,
        control: QueueControl | None = None,
    ) -> None:
        self.queues = queues
        self.connection = connection
        self.sender = sender
        self.doorbell = doorbell
        self.running: dict[str, set[RabbitDelivery]] = {}
        self.ledger = Ledger(cancel_ttl_s=settings.max_queue_wait_s + 60)
        self.verdicts = Verdicts()
        self._background: set[asyncio.Task[None]] = set()
        self.shards = queues.shards
        self._looks: dict[frozenset[str], Look] = {}
        control = control or QueueControl()
        self.scanner = Scanner(
            settings, queues, channels, doorbell, rejects, control, self, self._spawn
        )
        self._closed = False

    async def take(
        self, models: Iterable[str], may_take: Callable[[], bool] = lambda: True
    ) -> RabbitDelivery:
        """Wait for the next job of ``models`` (``scan.py`` has the order);
        while ``may_take()`` is false (the worker is drained) take nothing."""
        wanted = list(dict.fromkeys(models))
        look = self._looks.setdefault(frozenset(wanted), Look())
        try:
            return await self._take(wanted, look, may_take)
        finally:
            look.hand_on()  # this slot leaves: another hears the bell, or looks for more

    async def _take(
        self, wanted: list[str], look: Look, may_take: Callable[[], bool]
    ) -> RabbitDelivery:
        since = time.monotonic()
        while not self._closed:
            ring = self.doorbell.generation
            if not self.connection.connected:
                # Until every channel is back (the gateway's reply queue too) a job taken
                # now could find no route to its gateway.
                await self.connection.wait_connected(POLL_S)
                continue
            if not may_take():
                await self.doorbell.wait(ring, POLL_S)  # a switch change rings it here
                continue
            # A get answered after its caller was cancelled would leave the job unacked on
            # a live channel, taken by nobody: the scan always runs to its end.
            scan = asyncio.create_task(self._look(wanted, look, since))
            try:
                delivery = await asyncio.shield(scan)
            except asyncio.CancelledError:
                scan.add_done_callback(self._hand_back)
                raise
            if delivery is not None:
                return delivery
            since = time.monotonic()
            await look.idle(self.doorbell, ring)
        raise QueueUnavailable("the queue is closed")

    def cancel(self, job_ids: Iterable[str]) -> None:
        """The callers of these jobs are gone: stop them here, and drop them when taken."""
        job_ids = list(job_ids)
        self.ledger.cancel(job_ids)
        for job_id in job_ids:
            for delivery in list(self.running.get(job_id, ())):
                delivery.cancel("caller")

    def close(self) -> None:
        self._closed = True
        self.doorbell.wake()
        for task in list(self._background):
            task.cancel()
        for deliveries in list(self.running.values()):
            for delivery in list(deliveries):
                delivery.cancel("transport")

    # Looking ----------------------------------------------------------------------

    async def _look(self, models: list[str], look: Look, since: float) -> RabbitDelivery | None:
        """Scan, unless a scan of the same models that began after ``since`` (when the
        slot last looked or began to wait) found nothing and the bell has not rung
        since: its answer is this scan's. Jobs that ring no bell (aged, redelivered,
        handed back elsewhere) are found as before, by the fallback poll."""
        async with look.lock:
            ring = self.doorbell.generation
            if look.nothing_since(ring, since):
                return None
            began = time.monotonic()
            delivery, complete = await self.scanner.scan(models)
            if delivery is not None:
                self.running.setdefault(delivery.job.id, set()).add(delivery)
            elif complete:
                look.empty_ring, look.empty_began = ring, began
            return delivery

    # Settling ---------------------------------------------------------------------

    def _hand_back(self, scan: asyncio.Task[RabbitDelivery | None]) -> None:
        """Return a job whose taker was cancelled meanwhile, as if never taken."""
        delivery = None if scan.cancelled() or scan.exception() else scan.result()
        if delivery is None:
            return
        self.ledger.handed_back(delivery.job.id, counted=True)
        self._spawn(delivery.settle(requeue=True))

    def hold(self, delivery: RabbitDelivery) -> None:
        """Hand back, after a pause, a job whose gateway may be reconnecting."""

        async def later() -> None:
            await asyncio.sleep(UNROUTED_HOLD_S)
            await delivery.hand_back()

        self._spawn(later())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def requeued(self, delivery: RabbitDelivery) -> None:
        job = delivery.job
        shard = self.shards.of(job)
        self.queues.reread(job.model, delivery.band, shard)
        await self.doorbell.ring(self.queues.queue_name(job.model, delivery.band, shard))

    def settled(self, delivery: RabbitDelivery) -> None:
        deliveries = self.running.get(delivery.job.id)
        if deliveries is not None:
            deliveries.discard(delivery)
            if not deliveries:
                del self.running[delivery.job.id]
