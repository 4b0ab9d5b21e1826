"""The doorbell: gateways ring it after each confirmed publish to wake idle workers.

Each process that takes jobs hears the doorbell fanout on its own queue with
``x-max-length=1``: a burst of rings collapses into one, and an idle slot wakes within
milliseconds instead of polling (``docs/architecture.md``, "RabbitMQ topology").
"""

from __future__ import annotations

import asyncio
import contextlib

from seadragon.queue.rabbitmq.broker.broadcast import Broadcast
from seadragon.queue.rabbitmq.broker.connection import Channels, tolerated
from seadragon.queue.rabbitmq.broker.messages import Ring

#: One pending ring is enough to wake; more would only be noise.
QUEUE_ARGUMENTS = {"x-max-length": 1}


class Doorbell:
    """Wakes this process's idle slots when any gateway queues a job."""

    def __init__(self, broadcast: Broadcast[Ring], channels: Channels) -> None:
        self._broadcast = broadcast
        self._channels = channels
        self._lock = asyncio.Lock()
        self._listening = False
        self._event = asyncio.Event()
        self.generation = 0

    async def listen(self) -> None:
        """Hear the doorbell (once; only processes that take jobs do)."""
        if self._listening:
            return
        async with self._lock:
            if not self._listening:
                await self._broadcast.listen(self._channels.consume, self._heard)
                self._listening = True

    async def _heard(self, _: Ring) -> None:
        self.wake()

    def wake(self) -> None:
        """Wake every slot of this process that is waiting for work."""
        self.generation += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def ring(self) -> None:
        """Wake idle slots here at once and, through the broker, everywhere else."""
        self.wake()
        with tolerated("ringing the doorbell"):
            await self._broadcast.send(None)

    async def wait(self, generation: int, within: float) -> None:
        """Return once the bell rang after ``generation`` was read, or after ``within`` seconds."""
        if self.generation != generation:
            return
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await event.wait()
