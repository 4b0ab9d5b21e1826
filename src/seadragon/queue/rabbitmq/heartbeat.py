"""Which workers are alive and what they serve: heartbeats on the workers fanout.

A process advertising workers publishes each ``WorkerInfo`` every ``HEARTBEAT_S``;
every process keeps what it hears and forgets a worker after ``MISSED_BEATS`` silent
beats. A starting process asks everyone to beat at once, so it knows the models
within milliseconds rather than a heartbeat later.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from pydantic import BaseModel

from seadragon.queue.base import ModelInfo, WorkerInfo
from seadragon.queue.rabbitmq.broker.broadcast import Broadcast
from seadragon.queue.rabbitmq.broker.connection import Channels, tolerated
from seadragon.queue.rabbitmq.broker.messages import Beat, Probe, Withdraw
from seadragon.queue.status import served_models

HEARTBEAT_S = 2.0
MISSED_BEATS = 3


class Heartbeats:
    """Live workers as this process knows them, and the heartbeats of its own."""

    def __init__(
        self,
        broadcast: Broadcast[Beat | Withdraw | Probe],
        channels: Channels,
        process_id: str,
    ) -> None:
        self._broadcast = broadcast
        self._channels = channels
        self._process_id = process_id
        self._mine: dict[str, WorkerInfo] = {}
        self._seen: dict[str, tuple[WorkerInfo, float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._broadcast.listen(self._channels.consume, self._heard)
        self._task = asyncio.create_task(self._beat_forever(), name="seadragon-heartbeat")
        await self._send(Probe(sender=self._process_id))

    async def rejoin(self) -> None:
        """After a reconnect: nobody could beat meanwhile, so ask everyone to beat now."""
        now = time.monotonic()
        self._seen = {id_: (info, now) for id_, (info, _) in self._seen.items()}
        await self._send(Probe(sender=self._process_id))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for worker_id in list(self._mine):
            await self.withdraw(worker_id)

    async def advertise(self, worker: WorkerInfo) -> None:
        self._mine[worker.id] = worker
        await self._send(Beat.of(worker, self._process_id))

    async def withdraw(self, worker_id: str) -> None:
        self._mine.pop(worker_id, None)
        await self._send(Withdraw(id=worker_id, sender=self._process_id))

    def own(self, worker_id: str) -> WorkerInfo | None:
        """One of this process's workers, as it last advertised itself."""
        return self._mine.get(worker_id)

    def workers(self) -> list[WorkerInfo]:
        """This process's workers, and those of others heard from recently."""
        horizon = time.monotonic() - HEARTBEAT_S * MISSED_BEATS - 0.5
        # Silence during an outage says nothing about the workers: keep them till it ends.
        if self._channels.down("consume"):
            horizon = float("-inf")
        for worker_id, (_, seen) in list(self._seen.items()):
            if seen < horizon:
                del self._seen[worker_id]
        others = [info for id_, (info, _) in self._seen.items() if id_ not in self._mine]
        return [*self._mine.values(), *others]

    def models(self) -> dict[str, ModelInfo]:
        return served_models(self.workers())

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self._beat_all()

    async def _beat_all(self) -> None:
        for worker in list(self._mine.values()):
            await self._send(Beat.of(worker, self._process_id))

    async def _send(self, message: BaseModel) -> None:
        # The next beat repeats it; an outage must not stop the worker.
        with tolerated("sending a heartbeat"):
            await self._broadcast.send(message)

    async def _heard(self, message: Beat | Withdraw | Probe) -> None:
        if isinstance(message, Beat):
            worker = message.info()
            self._seen[worker.id] = (worker, time.monotonic())
        elif isinstance(message, Withdraw):
            self._seen.pop(message.id, None)
        else:
            await self._beat_all()
