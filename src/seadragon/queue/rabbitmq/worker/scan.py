"""The scan: ``basic.get`` over the band queues of a slot's models, highest band first.

A scan looks at bands top to bottom over the slot's models and takes from the first
non-empty band. Inside a band it looks at the band's fair-share shards in the order of
this process's rotation (``broker/shards.py``) and takes from the first non-empty one.
Across models of one shard, classic queues are compared by the enqueue timestamp: the
slot gets one head per model queue and hands the younger ones straight back (a classic
queue puts them back in place). Quorum queues count every hand-back against
``x-delivery-limit``, so there the slot takes the first head found, rotating the model
order between takes. A scan skips the queues known to be empty (``known.py``), so a
ring for one queue costs about one ``basic.get``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Coroutine
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
from seadragon.queue.rabbitmq.broker.connection import Channels, broker_call, tolerated, underlay
from seadragon.queue.rabbitmq.broker.messages import H_ENQUEUED, Malformed
from seadragon.queue.rabbitmq.broker.queues import BandQueues
from seadragon.queue.rabbitmq.broker.rejects import Rejects
from seadragon.queue.rabbitmq.doorbell import Doorbell
from seadragon.queue.rabbitmq.worker.delivery import Home, RabbitDelivery, Taken
from seadragon.queue.rabbitmq.worker.known import Known

log = logging.getLogger(__name__)

TAKE_TIMEOUT_S = 2.0


class Head(NamedTuple):
    """A job message got from a band queue, and the AMQP channel to settle it on."""

    model: str
    channel: AbstractChannel
    message: AbstractIncomingMessage
    #: The band queue it came from (one shard of the band).
    queue: str


class Scanner:
    """Finds the next job a slot may run; a job that must not run is settled here."""

    def __init__(
        self,
        settings: Settings,
        queues: BandQueues,
        channels: Channels,
        doorbell: Doorbell,
        rejects: Rejects,
        control: QueueControl,
        home: Home,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.settings = settings
        self.queues = queues
        self.channels = channels
        self.doorbell = doorbell
        self.rejects = rejects
        self.control = control
        #: The worker side deliveries report to (``take.py``).
        self.home = home
        self._spawn = spawn
        self.bands = list(settings.bands)
        self.shards = queues.shards
        self._rotation = 0
        self._shard_turns = {band: self.shards.rotation() for band in self.bands}
        self.known = Known(settings, doorbell, queues.queue_name)
        doorbell.on_ring = lambda queue: self.known.rung(queue, time.monotonic())

    async def scan(self, models: list[str]) -> tuple[RabbitDelivery | None, bool]:
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
            self.home.ledger.handed_back(str(younger.message.correlation_id), counted=False)
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
        ledger = self.home.ledger
        if ledger.is_cancelled(job.id):
            await channel.basic_ack(message.delivery_tag or 0)
            return None
        quorum = self.settings.rabbitmq_quorum
        count = taken.headers.delivery_count if quorum else None
        attempt = ledger.attempt(job.id, taken.redelivered, count)
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
        return RabbitDelivery(job, band, attempt, where, self.home, ask=self._asker(taken))

    def _asker(self, taken: JobMessage) -> str | None:
        """Classic queues: who asks the gateway before a job that may have run runs again
        (``verdict.py``); a promoted job is a new message that may have run before."""
        if self.settings.rabbitmq_quorum or not (taken.redelivered or taken.headers.promoted):
            return None
        return self.home.sender.process_id

    async def _refuse(
        self, head: Head, taken: JobMessage, attempt: int, error: SeadragonError
    ) -> None:
        """Tell the gateway the job will not run, then drop it."""
        channel, message = head.channel, head.message
        reply = Reply(taken.job.id, secrets.token_hex(8), attempt, 1, Failed(error))
        with tolerated("telling a gateway its job will not run"):
            await self.home.sender.send(taken.gateway_id, reply)
        await channel.basic_ack(message.delivery_tag or 0)


def _enqueued_us(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(H_ENQUEUED)
    return value if isinstance(value, int) else 0
