"""The worker side: pull the next job a slot may run, highest band first.

A free slot pulls with ``basic.get`` (never ``basic.consume``: a prefetched job is held
by a busy worker, does not age, and breaks band order; ``docs/architecture.md``). It scans bands top
to bottom over its models and takes from the first non-empty band. Inside a band it
looks at the band's fair-share shards in the order of this process's rotation
(``broker/shards.py``) and takes from the first non-empty one. Across models of one
shard, classic queues are compared by the enqueue timestamp: the slot gets
one head per model queue and hands the younger ones straight back (a classic queue puts
them back in place). Quorum queues count every hand-back against ``x-delivery-limit``,
so there the slot takes the first head found, rotating the model order between takes.

When nothing is ready the slot sleeps on this process's doorbell queue, which gateways
ping after each confirmed publish, with a 1 s fallback poll (aged or redelivered jobs
ring no bell). The slots of a process that serve the same models look one at a time,
and a slot that wakes skips its scan when one that began after it last looked, with no
ring since, found nothing; one idle slot of them hears the bell and the others wait
to be handed on to (``Look.idle``), so a ring wakes a few slots, not every idle one
(``docs/architecture.md``, "Taking jobs"). A scan skips the queues known to be empty
(``known.py``), so a ring for one queue costs about one ``basic.get``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelNotFoundEntity
from aio_pika.message import IncomingMessage
from aiormq.abc import AbstractChannel
from pamqp.commands import Basic

from seadragon.config import Settings
from seadragon.errors import QueueTimeout, QueueUnavailable, SeadragonError, UpstreamError
from seadragon.queue.base import Failed, now_us
from seadragon.queue.control_state import QueueControl
from seadragon.queue.rabbitmq.broker.codec import JobMessage, Reply, read_job
from seadragon.queue.rabbitmq.broker.connection import (
    Channels,
    Connection,
    broker_call,
    tolerated,
    underlay,
)
from seadragon.queue.rabbitmq.broker.messages import H_ENQUEUED, Malformed
from seadragon.queue.rabbitmq.broker.queues import BandQueues
from seadragon.queue.rabbitmq.broker.rejects import Rejects
from seadragon.queue.rabbitmq.doorbell import Doorbell
from seadragon.queue.rabbitmq.worker.delivery import RabbitDelivery, Taken
from seadragon.queue.rabbitmq.worker.known import Known
from seadragon.queue.rabbitmq.worker.ledger import Ledger
from seadragon.queue.rabbitmq.worker.sender import ReplySender
from seadragon.queue.rabbitmq.worker.verdict import Verdicts

log = logging.getLogger(__name__)

POLL_S = 1.0
TAKE_TIMEOUT_S = 2.0
#: How long a job whose gateway had no reply queue is held before it is handed back.
UNROUTED_HOLD_S = 1.0


class Head(NamedTuple):
    """A job message got from a band queue, and the AMQP channel to settle it on."""

    model: str
    channel: AbstractChannel
    message: AbstractIncomingMessage
    #: The band queue it came from (one shard of the band).
    queue: str


@dataclass
class Look:
    """The scans of the slots that serve one set of models: one at a time, and the last
    one that found nothing."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The doorbell's generation, and the monotonic time, when that scan began.
    empty_ring: int = -1
    empty_began: float = -math.inf

    #: One idle slot hears the doorbell; the others wait until a slot hands on.
    leading: bool = False
    followers: deque[asyncio.Future[None]] = field(default_factory=deque)

    def nothing_since(self, ring: int, since: float) -> bool:
        """True when a scan that began at or after ``since``, with the bell at ``ring``
        (not rung since), found every queue empty."""
        return self.empty_ring == ring and self.empty_began >= since

    async def idle(self, doorbell: Doorbell, ring: int) -> None:
        """Wait until the bell rings after ``ring``, the fallback poll, or (a follower)
        until a slot hands on. Whoever returns looks next; a slot that leaves with a
        job, or at all, hands on to one follower (``hand_on``), which then looks
        too (there may be more jobs) or takes over the bell."""
        if doorbell.generation != ring:
            return
        if not self.leading:
            self.leading = True
            try:
                await doorbell.wait(ring, POLL_S)
            finally:
                self.leading = False
            return
        waiter = asyncio.get_running_loop().create_future()
        self.followers.append(waiter)
        try:
            async with asyncio.timeout(POLL_S):
                await waiter
        except TimeoutError:
            pass
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self.followers.remove(waiter)

    def hand_on(self) -> None:
        """Wake one follower (see ``idle``)."""
        while self.followers:
            waiter = self.followers.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


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
        self.settings = settings
        self.control = control or QueueControl()
        self.queues = queues
        self.bands = list(settings.bands)
        self.connection = connection
        self.channels = channels
        self.sender = sender
        self.doorbell = doorbell
        self.rejects = rejects
        self.running: dict[str, set[RabbitDelivery]] = {}
        self.ledger = Ledger(cancel_ttl_s=settings.max_queue_wait_s + 60)
        self.verdicts = Verdicts()
        self._background: set[asyncio.Task[None]] = set()
        self._rotation = 0
        self.shards = queues.shards
        self._shard_turns = {band: self.shards.rotation() for band in self.bands}
        self._looks: dict[frozenset[str], Look] = {}
        self.known = Known(settings, doorbell, queues.queue_name)
        doorbell.on_ring = lambda queue: self.known.rung(queue, time.monotonic())
        self._closed = False

    async def take(
        self, models: Iterable[str], may_take: Callable[[], bool] = lambda: True
    ) -> RabbitDelivery:
        """Wait for the next job of ``models`` (see the module docstring for the order);
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

    # Scanning ---------------------------------------------------------------------

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
            delivery, complete = await self._scan_safely(models)
            if delivery is None and complete:
                look.empty_ring, look.empty_began = ring, began
            return delivery

    async def _scan_safely(self, models: list[str]) -> tuple[RabbitDelivery | None, bool]:
        """The job found, and whether every queue was looked at."""
        try:
            await self.doorbell.listen()
            for model in models:
                await self.queues.ensure(model)
            with broker_call("cannot take a job"):
                return await self._scan(models), True
        except QueueUnavailable as exc:
            log.debug("take: broker not usable (%s); retrying", exc.message)
        return None, False

    async def _scan(self, models: list[str]) -> RabbitDelivery | None:
        channel = await underlay(self.channels.take, TAKE_TIMEOUT_S)
        self._rotation += 1
        start = self._rotation % max(1, len(models))
        order = models[start:] + models[:start]
        for band in self.bands:
            open_models = [m for m in order if not self.control.paused(band, m)]
            turns = self._shard_turns[band]
            for shard in turns.order():
                while (head := await self._head(channel, open_models, band, shard)) is not None:
                    delivery = await self._accept(head, band)
                    if delivery is not None:
                        turns.served(shard, self.shards.quantum(delivery.job))
                        return delivery
                turns.empty(shard)
        return None

    async def _head(
        self, channel: AbstractChannel, models: list[str], band: str, shard: int
    ) -> Head | None:
        """The oldest head among ``models`` in one shard of ``band``; other heads are
        handed back."""
        heads: list[Head] = []
        for model in models:
            began = time.monotonic()
            if self.known.empty(model, band, shard, began):
                continue
            at = (self.doorbell.generation, began)
            name = self.queues.queue_name(model, band, shard)
            try:
                raw = await channel.basic_get(name, no_ack=False)
            except ChannelNotFoundEntity:
                self.queues.forget(model)  # deleted behind our back: declare it again
                raise
            if isinstance(raw.delivery, Basic.GetEmpty):
                self.known.looked(model, band, shard, at, 0, time.monotonic())
                continue
            left = raw.delivery.message_count if isinstance(raw.delivery, Basic.GetOk) else 1
            self.known.looked(model, band, shard, at, left or 0, time.monotonic())
            heads.append(Head(model, channel, IncomingMessage(raw, no_ack=False), name))
            self.queues.note_taken(model, band, shard, began)
            if self.settings.rabbitmq_quorum:
                break
        if not heads:
            return None
        heads.sort(key=lambda head: _enqueued_us(head.message))
        for younger in heads[1:]:
            self.ledger.handed_back(str(younger.message.correlation_id), counted=False)
            began = time.monotonic()
            await channel.basic_nack(younger.message.delivery_tag or 0, requeue=True)
            self.known.returned(younger.model, band, shard)
            # Other processes may have found the queue empty while this one held the job.
            self._spawn(self.doorbell.ring(younger.queue))
            self.queues.note_returned(younger.model, band, shard, began)
        return heads[0]

    async def _accept(self, head: Head, band: str) -> RabbitDelivery | None:
        """A delivery for ``head``, or None when it must not run (it is settled here)."""
        channel, message = head.channel, head.message
        try:
            taken = read_job(message)
        except Malformed as exc:
            await self.rejects.keep(message, head.queue, str(exc))
            await channel.basic_ack(message.delivery_tag or 0)
            return None
        job = taken.job
        if self.ledger.is_cancelled(job.id):
            await channel.basic_ack(message.delivery_tag or 0)
            return None
        quorum = self.settings.rabbitmq_quorum
        count = taken.headers.delivery_count if quorum else None
        attempt = self.ledger.attempt(job.id, taken.redelivered, count)
        if quorum and taken.headers.exhausted:
            limit = self.settings.rabbitmq_delivery_limit
            error: SeadragonError = UpstreamError(
                f"the request failed {limit + 1} times; giving up"
            )
            await self._refuse(head, taken, max(attempt, limit + 1), error)
            return None
        if now_us() > taken.headers.deadline_us:
            error = QueueTimeout("the request waited too long in the queue")
            await self._refuse(head, taken, attempt, error)
            return None
        where = Taken(channel, message.delivery_tag or 0, taken.gateway_id)
        delivery = RabbitDelivery(job, band, attempt, where, self, ask=self._asker(taken))
        self.running.setdefault(job.id, set()).add(delivery)
        return delivery

    def _asker(self, taken: JobMessage) -> str | None:
        """Classic queues: who asks the gateway before a job that may have run runs again
        (``verdict.py``); a promoted job is a new message that may have run before."""
        if self.settings.rabbitmq_quorum or not (taken.redelivered or taken.headers.promoted):
            return None
        return self.sender.process_id

    async def _refuse(
        self, head: Head, taken: JobMessage, attempt: int, error: SeadragonError
    ) -> None:
        """Tell the gateway the job will not run, then drop it."""
        channel, message = head.channel, head.message
        reply = Reply(taken.job.id, secrets.token_hex(8), attempt, 1, Failed(error))
        with tolerated("telling a gateway its job will not run"):
            await self.sender.send(taken.gateway_id, reply)
        await channel.basic_ack(message.delivery_tag or 0)

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


def _enqueued_us(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(H_ENQUEUED)
    return value if isinstance(value, int) else 0
