"""The doorbell: gateways ping it after each confirmed publish to wake idle workers.

Each process that takes jobs owns one exclusive queue bound to the doorbell fanout with
``x-max-length=1``: a burst of pings collapses into one, and an idle slot wakes within
milliseconds instead of polling (DESIGN §5.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustChannel

from seadragon.queue.rabbitmq.connection import BROKER_ERRORS
from seadragon.queue.rabbitmq.exchanges import Names, subscribe

log = logging.getLogger(__name__)


class Doorbell:
    """Wakes this process's idle slots when any gateway queues a job."""

    def __init__(
        self,
        names: Names,
        process_id: str,
        channel: AbstractRobustChannel,
        exchange: AbstractExchange,
    ) -> None:
        self._queue_name = names.private_queue("doorbell", process_id)
        self._exchange_name = names.doorbell
        self._channel = channel
        self._exchange = exchange
        self._lock = asyncio.Lock()
        self._listening = False
        self._event = asyncio.Event()
        self.generation = 0

    async def listen(self) -> None:
        """Declare and consume this process's doorbell queue (once)."""
        if self._listening:
            return
        async with self._lock:
            if self._listening:
                return
            # One pending ring is enough to wake; more would only be noise.
            await subscribe(
                self._channel,
                self._queue_name,
                self._exchange_name,
                self._on_ring,
                arguments={"x-max-length": 1},
            )
            self._listening = True

    async def _on_ring(self, _: AbstractIncomingMessage) -> None:
        self.wake()

    def wake(self) -> None:
        """Wake every slot of this process that is waiting for work."""
        self.generation += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def ring(self) -> None:
        """Wake idle slots here at once and, through the broker, everywhere else."""
        self.wake()
        with contextlib.suppress(*BROKER_ERRORS):
            await self._exchange.publish(
                aio_pika.Message(b"", delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT),
                routing_key="",
                mandatory=False,
                timeout=1.0,
            )

    async def wait(self, generation: int, within: float) -> None:
        """Return once the bell rang after ``generation`` was read, or after ``within`` seconds."""
        if self.generation != generation:
            return
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await event.wait()
