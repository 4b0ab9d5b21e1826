"""The doorbell: gateways ring it after each confirmed publish to wake idle workers.

Each process that takes jobs hears the doorbell fanout on its own queue with
``x-max-length=1``: a burst of rings collapses into one, and an idle slot wakes within
milliseconds instead of polling (``docs/architecture.md``, "RabbitMQ topology").

A ring names the band queue that got a job, and carries the ringing process's count of
rings. The doorbell keeps, per queue, the generation of the last ring that named it;
a ring that names no queue (an older process, a switch change, a reconnect), or that
shows earlier rings of its sender were dropped (the count skips), counts for every
queue. So ``rung_since`` tells a taker whether a queue may have got a job by publish
since it last looked (``worker/known.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from seadragon.queue.rabbitmq.broker.broadcast import Broadcast
from seadragon.queue.rabbitmq.broker.codec import ring_message
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
        #: The generation of the last ring that named no queue (or lost some).
        self._floor = 0
        self._rung: dict[str, int] = {}
        self._heard_seq: dict[str, int] = {}
        self._seq = 0
        #: Told of every ring: the queue it names, or None for every queue.
        self.on_ring: Callable[[str | None], None] | None = None

    async def listen(self) -> None:
        """Hear the doorbell (once; only processes that take jobs do)."""
        if self._listening:
            return
        async with self._lock:
            if not self._listening:
                await self._broadcast.listen(self._channels.consume, self._heard)
                self._listening = True

    async def _heard(self, ring: Ring) -> None:
        if ring.queue is None or ring.sender is None or ring.seq is None:
            self.wake()
            return
        last = self._heard_seq.get(ring.sender)
        self._heard_seq[ring.sender] = ring.seq
        # The newest ring always arrives (x-max-length drops the oldest): a skip in the
        # count means rings in between were dropped, so any queue may have a job.
        self.wake(ring.queue if last is not None and ring.seq == last + 1 else None)

    def wake(self, queue: str | None = None) -> None:
        """Wake every slot of this process that is waiting for work; ``queue`` is the
        band queue that got a job (None: any queue may have)."""
        self.generation += 1
        if queue is None:
            self._floor = self.generation
            self._rung.clear()
        else:
            self._rung[queue] = self.generation
        if self.on_ring is not None:
            self.on_ring(queue)
        event, self._event = self._event, asyncio.Event()
        event.set()

    def rung_since(self, queue: str, generation: int) -> bool:
        """True when a ring after ``generation`` may have been for ``queue``."""
        return max(self._floor, self._rung.get(queue, 0)) > generation

    async def ring(self, queue: str | None = None) -> None:
        """Wake idle slots here at once and, through the broker, everywhere else;
        ``queue`` is the band queue that got a job."""
        self.wake(queue)
        self._seq += 1
        ring = Ring(queue=queue, sender=self._broadcast.process_id, seq=self._seq)
        with tolerated("ringing the doorbell"):
            await self._broadcast.send_message(ring_message(ring))

    async def wait(self, generation: int, within: float) -> None:
        """Return once the bell rang after ``generation`` was read, or after ``within`` seconds."""
        if self.generation != generation:
            return
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await event.wait()
