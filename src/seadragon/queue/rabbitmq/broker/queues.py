"""Band queues per model: lazy idempotent declaration, confirmed publishing, depths, purges.

Each band of a model is ``shards.count`` shard queues (``shards.py``); a job is
published to its tenant's shard, and depths, purges and declarations cover every shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aio_pika
from aio_pika.exceptions import (
    ChannelClosed,
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
    PublishError,
)
from aiormq.abc import AbstractChannel

from seadragon.errors import QueueUnavailable
from seadragon.queue.base import Job
from seadragon.queue.rabbitmq.broker.aging import BandChain
from seadragon.queue.rabbitmq.broker.connection import Channels, Connection, broker_call, underlay
from seadragon.queue.rabbitmq.broker.names import Exchanges
from seadragon.queue.rabbitmq.broker.shards import Shards

log = logging.getLogger(__name__)

#: How long a band depth read by passive declare is reused.
DEPTH_TTL_S = 0.2
ADMIN_TIMEOUT_S = 2.0
#: A pause before trying again on a channel aio-pika is reopening.
RETRY_PAUSE_S = 0.05
NOT_QUEUED = "RabbitMQ is not reachable; the request was not queued"


class MaybeQueued(QueueUnavailable):
    """The publish may have reached the broker before the connection failed."""


class BandQueues:
    """The band chain of every model this process has published to or serves."""

    def __init__(
        self,
        chain: BandChain,
        exchanges: Exchanges,
        connection: Connection,
        channels: Channels,
    ) -> None:
        self.chain = chain
        self.names = chain.names
        self.exchanges = exchanges
        self.connection = connection
        self.channels = channels
        self.shards = Shards(chain.settings)
        self._declared: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._depths: dict[str, tuple[float, int]] = {}
        #: Depth reads in flight, by queue: callers meanwhile share one (a burst of submits
        #: would otherwise ask the broker once each, for every shard of every band).
        self._reading: dict[str, asyncio.Future[int]] = {}

    @property
    def models(self) -> list[str]:
        """Models whose band queues this process has declared."""
        return sorted(self._declared)

    def forget(self, model: str) -> None:
        """Declare ``model``'s queues again on next use."""
        self._declared.discard(model)

    def queue_name(self, model: str, band: str, shard: int = 0) -> str:
        return self.names.band_queue(model, band, shard)

    async def ensure(self, model: str) -> None:
        """Declare (once per process) the band chain of ``model``, every shard of it."""
        if model in self._declared:
            return
        lock = self._locks.setdefault(model, asyncio.Lock())
        async with lock:
            if model in self._declared:
                return
            with broker_call(f"cannot declare the queues of {model!r}"):
                for band in self.chain.bands:
                    for shard in range(self.shards.count):
                        await self._declare(model, band, shard)
            self._declared.add(model)

    async def ready_for(self, model: str, deadline: float) -> None:
        """Wait until ``deadline`` (monotonic) for the broker and declare ``model``'s
        queues, else ``QueueUnavailable``."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self.connection.wait_connected(remaining):
                raise QueueUnavailable(NOT_QUEUED)
            try:
                async with asyncio.timeout(remaining):
                    await self.ensure(model)
                return
            except TimeoutError:
                raise QueueUnavailable(NOT_QUEUED) from None
            except QueueUnavailable as exc:
                # The connection may look up while a channel is still being reopened.
                log.debug("declaring %s failed (%s); retrying", model, exc.message)
                await asyncio.sleep(RETRY_PAUSE_S)

    async def _declare(self, model: str, band: str, shard: int) -> None:
        name = self.queue_name(model, band, shard)
        channel = await self._channel()
        try:
            await channel.queue_declare(
                name, durable=True, arguments=self.chain.arguments(model, band, shard)
            )
        except ChannelPreconditionFailed as exc:
            # A queue declared under other settings (e.g. another aging interval) keeps
            # its arguments until an operator deletes it; serve it as it is.
            log.warning("band queue %s exists with other arguments, using it: %s", name, exc)
            channel = await self._channel()
            await channel.queue_declare(name, passive=True)
        for exchange in (self.names.work, self.names.promote):
            await channel.queue_bind(name, exchange, routing_key=name)

    async def _channel(self) -> AbstractChannel:
        """The admin channel, once it is (re)opened; a failed passive declare closes it."""
        return await underlay(self.channels.admin, ADMIN_TIMEOUT_S)

    # Publishing -------------------------------------------------------------------

    async def publish(self, job: Job, message: aio_pika.Message, deadline: float) -> None:
        """Publish and wait for the broker's confirm, until ``deadline`` (monotonic).

        Raises ``QueueUnavailable`` when nothing was sent by then, or ``MaybeQueued``
        when the connection failed after sending (the job may be queued).
        """
        while True:
            await self.ready_for(job.model, deadline)
            began = time.monotonic()
            try:
                with broker_call("RabbitMQ did not confirm the request"):
                    sent = await self._publish_once(job, message, deadline)
            except QueueUnavailable as exc:
                raise MaybeQueued(exc.message) from None
            if sent:
                self._adjust(self.queue_name(job.model, job.band, self.shards.of(job)), +1, began)
                return

    async def _publish_once(self, job: Job, message: aio_pika.Message, deadline: float) -> bool:
        """True once confirmed; False when it is safe to try again."""
        try:
            await self.exchanges.work.publish(
                message,
                routing_key=self.queue_name(job.model, job.band, self.shards.of(job)),
                mandatory=True,
                timeout=max(0.1, deadline - time.monotonic()),
            )
        except ChannelInvalidStateError:
            # Raised before anything is written: safe to retry once the channel is back.
            await asyncio.sleep(RETRY_PAUSE_S)
            return False
        except PublishError:
            # Unroutable: the band queue was deleted behind our back; declare it again.
            self._declared.discard(job.model)
            return False
        return True

    # Depths -----------------------------------------------------------------------

    def _adjust(self, name: str, by: int, began: float) -> None:
        """Apply a change this process made (begun at ``began``) to the cached depth."""
        cached = self._depths.get(name)
        if cached is None:
            return
        read_at, depth = cached
        if read_at > began:
            # A read that ended after the change began may already count it: read again.
            del self._depths[name]
        else:
            self._depths[name] = (read_at, max(0, depth + by))

    def note_taken(self, model: str, band: str, shard: int, began: float) -> None:
        """This process took a job: keep the cached depth right until the next read."""
        self._adjust(self.queue_name(model, band, shard), -1, began)

    def note_returned(self, model: str, band: str, shard: int, began: float) -> None:
        self._adjust(self.queue_name(model, band, shard), +1, began)

    def reread(self, model: str, band: str, shard: int) -> None:
        """Forget the cached depth of one band queue."""
        self._depths.pop(self.queue_name(model, band, shard), None)

    async def depth(self, model: str, band: str, shard: int = 0, *, fresh: bool = False) -> int:
        """Ready jobs in one shard queue (passive declare, reused for ``DEPTH_TTL_S``).

        While the broker is unreachable this is the last depth read, not a wait.
        """
        name = self.queue_name(model, band, shard)
        cached = self._depths.get(name)
        now = time.monotonic()
        if cached is not None and not fresh and now - cached[0] < DEPTH_TTL_S:
            return cached[1]
        if not self.connection.connected:
            return cached[1] if cached is not None else 0
        reading = self._reading.get(name)
        if reading is None:
            reading = asyncio.ensure_future(self._read_depth(model, name))
            self._reading[name] = reading
            reading.add_done_callback(lambda done: self._read_done(name, done))
        # Shielded: one caller going away must not cancel the read the others wait for.
        return await asyncio.shield(reading)

    def _read_done(self, name: str, done: asyncio.Future[int]) -> None:
        self._reading.pop(name, None)
        if not done.cancelled():
            done.exception()  # read here too, so that no caller left means no warning

    async def _read_depth(self, model: str, name: str) -> int:
        await self.ensure(model)  # a passive declare of a missing queue closes the channel
        channel = await self._channel()
        with broker_call(f"cannot read the depth of {name}"):
            try:
                ok = await channel.queue_declare(name, passive=True)
            except (ChannelNotFoundEntity, ChannelClosed):
                self._declared.discard(model)
                self._depths.pop(name, None)
                return 0
        depth = int(ok.message_count or 0)
        self._depths[name] = (time.monotonic(), depth)
        return depth

    async def shard_depths(self, model: str, *, fresh: bool = False) -> dict[str, list[int]]:
        """Ready jobs of ``model`` by band, one number per shard."""
        return {
            band: [
                await self.depth(model, band, shard, fresh=fresh)
                for shard in range(self.shards.count)
            ]
            for band in self.chain.bands
        }

    async def depths(self, model: str, *, fresh: bool = False) -> dict[str, int]:
        """Ready jobs of ``model`` by band, over every shard."""
        by_shard = await self.shard_depths(model, fresh=fresh)
        return {band: sum(depths) for band, depths in by_shard.items()}

    async def band_depth(self, models: list[str], band: str) -> int:
        """Ready jobs of ``band`` over ``models``, read now; a queue that fails counts 0."""
        total = 0
        for model in models:
            for shard in range(self.shards.count):
                with contextlib.suppress(QueueUnavailable):
                    total += await self.depth(model, band, shard, fresh=True)
        return total

    async def purge_bands(self, models: list[str], bands: list[str]) -> int:
        """Empty the band queues of ``models``, band by band in the order given."""
        count = 0
        for band in bands:
            for model in models:
                await self.ensure(model)
                count += await self.purge(model, band)
        return count

    async def purge(self, model: str, band: str) -> int:
        """Drop every ready job of one band, every shard; the number dropped."""
        count = 0
        for shard in range(self.shards.count):
            count += await self._purge(self.queue_name(model, band, shard), model)
        return count

    async def _purge(self, name: str, model: str) -> int:
        channel = await self._channel()
        with broker_call(f"cannot purge {name}"):
            try:
                ok = await channel.queue_purge(name)
            except (ChannelNotFoundEntity, ChannelClosed):
                self._declared.discard(model)
                return 0
        self._depths[name] = (time.monotonic(), 0)
        return int(ok.message_count or 0)
