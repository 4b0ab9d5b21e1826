"""Which workers are alive and what they serve: heartbeats on the workers fanout.

A process advertising workers publishes each ``WorkerInfo`` every ``HEARTBEAT_S``;
every process keeps what it hears and forgets a worker after ``MISSED_BEATS`` silent
beats. A starting process asks everyone to beat at once, so it knows the models
within milliseconds rather than a heartbeat later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustChannel

from seadragon.queue.base import ModelInfo, WorkerInfo
from seadragon.queue.rabbitmq.connection import BROKER_ERRORS
from seadragon.queue.rabbitmq.exchanges import Names, subscribe
from seadragon.queue.status import served_models

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
MISSED_BEATS = 3


class WorkerRegistry:
    """Live workers as this process knows them, and the heartbeats of its own."""

    def __init__(
        self,
        names: Names,
        process_id: str,
        channel: AbstractRobustChannel,
        exchange: AbstractExchange,
    ) -> None:
        self._queue_name = names.private_queue("workers", process_id)
        self._exchange_name = names.workers
        self._process_id = process_id
        self._channel = channel
        self._exchange = exchange
        self._mine: dict[str, WorkerInfo] = {}
        self._seen: dict[str, tuple[WorkerInfo, float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await subscribe(self._channel, self._queue_name, self._exchange_name, self._on_message)
        self._task = asyncio.create_task(self._beat_forever(), name="seadragon-heartbeat")
        await self._send({"op": "probe"})

    async def rejoin(self) -> None:
        """After a reconnect: nobody could beat meanwhile, so ask everyone to beat now."""
        now = time.monotonic()
        self._seen = {id_: (info, now) for id_, (info, _) in self._seen.items()}
        await self._send({"op": "probe"})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for worker_id in list(self._mine):
            await self.withdraw(worker_id)

    async def advertise(self, worker: WorkerInfo) -> None:
        self._mine[worker.id] = worker
        await self._send({"op": "beat", "worker": asdict(worker)})

    async def withdraw(self, worker_id: str) -> None:
        self._mine.pop(worker_id, None)
        await self._send({"op": "withdraw", "id": worker_id})

    def workers(self) -> list[WorkerInfo]:
        """This process's workers, and those of others heard from recently."""
        horizon = time.monotonic() - HEARTBEAT_S * MISSED_BEATS - 0.5
        # Silence during an outage says nothing about the workers: keep them till it ends.
        if self._channel.is_closed:
            horizon = float("-inf")
        for worker_id, (_, seen) in list(self._seen.items()):
            if seen < horizon:
                del self._seen[worker_id]
        others = [info for id_, (info, _) in self._seen.items() if id_ not in self._mine]
        return [*self._mine.values(), *others]

    def models(self) -> dict[str, ModelInfo]:
        return served_models(self.workers())

    def slots(self, model: str) -> int:
        info = self.models().get(model)
        return info.slots if info is not None else 1

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self._beat_all()

    async def _beat_all(self) -> None:
        for worker in list(self._mine.values()):
            await self._send({"op": "beat", "worker": asdict(worker)})

    async def _send(self, data: dict[str, Any]) -> None:
        data["from"] = self._process_id
        message = aio_pika.Message(
            orjson.dumps(data), delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT
        )
        try:
            await self._exchange.publish(message, routing_key="", mandatory=False, timeout=2.0)
        except BROKER_ERRORS as exc:
            # The next beat repeats it; an outage must not stop the worker.
            log.debug("heartbeat not sent: %r", exc)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            data = orjson.loads(message.body)
            if data.get("from") == self._process_id:
                return  # already applied locally, and may be older than a later withdraw
            op = data["op"]
            if op == "beat":
                worker = WorkerInfo(**data["worker"])
                self._seen[worker.id] = (worker, time.monotonic())
            elif op == "withdraw":
                self._seen.pop(data["id"], None)
            elif op == "probe":
                await self._beat_all()
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            log.warning("ignoring a malformed message on the workers exchange")
