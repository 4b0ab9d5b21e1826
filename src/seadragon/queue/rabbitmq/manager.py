"""``RabbitMQQueue``: the distributed ``BaseQueueManager``, a gateway half and a worker half.

One instance per process plays both roles: a gateway (``gateway/``: submit, tickets,
positions, replies) and a worker host (``worker/``: take, deliveries, ledger,
verdicts), over one broker layer (``broker/``). The parts are built by ``factory.py``;
this class starts them and routes what the process hears to the half it is for.
The map of it all is ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine, Iterable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from seadragon.config import Settings
from seadragon.errors import QueueUnavailable
from seadragon.queue.base import (
    BaseQueueManager,
    Delivery,
    Job,
    ModelInfo,
    QueueStatus,
    RequestInfo,
    Ticket,
    WorkerInfo,
)
from seadragon.queue.control_state import Mark, QueueControl, Switch
from seadragon.queue.rabbitmq.broker.codec import read_reply_queue
from seadragon.queue.rabbitmq.broker.connection import Connection, broker_call, tolerated
from seadragon.queue.rabbitmq.broker.messages import (
    AnyControl,
    Cancel,
    Clear,
    ControlState,
    Malformed,
)
from seadragon.queue.rabbitmq.broker.names import delete_namespace
from seadragon.queue.rabbitmq.factory import build

log = logging.getLogger(__name__)


class RabbitMQQueue(BaseQueueManager):
    """Bands as RabbitMQ queues per model, aging by dead-lettering, pull-based workers."""

    name = "rabbitmq"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.gateway_id = secrets.token_hex(6)
        self._parts = parts = build(settings, self.gateway_id)
        self.connection: Connection = parts.connection
        self._gateway = parts.gateway
        self._taker = parts.taker
        self._heartbeats = parts.heartbeats
        self.control: QueueControl = parts.control.state
        self._reply_queue = parts.names.private_queue("reply", self.gateway_id)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._start_lock = asyncio.Lock()
        self._started = False

    @property
    def connected(self) -> bool:
        return self._started and self.connection.connected

    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            parts = self._parts
            await parts.channels.open()
            with broker_call("cannot set up RabbitMQ"):
                await parts.exchanges.declare(parts.channels.publish)
                reply_queue = await parts.channels.consume.declare_queue(
                    self._reply_queue,
                    exclusive=True,
                    auto_delete=True,
                )
                await reply_queue.bind(parts.names.reply, routing_key=self.gateway_id)
                await reply_queue.consume(self._on_reply, no_ack=True)
            parts.control.apply_here(self._cancel_here)
            await parts.control.listen(parts.channels.consume, self._on_control)
            await parts.control.ask()  # a worker that (re)starts learns pauses and drains
            await self._heartbeats.start()
            if parts.dead_letters is not None:
                await parts.dead_letters.start(parts.channels.consume)
            self.connection.on_lost(self._gateway.connection_lost)
            self.connection.on_restored(self._restored)
            self._gateway.start()
            self._started = True

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        await self._gateway.close()
        self._taker.close()
        with tolerated("withdrawing this process's workers"):
            await self._heartbeats.close()
        await self.connection.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def delete_namespace(self) -> None:
        """Delete every queue and exchange of this namespace that this process knows."""
        models = self._parts.queues.models
        names = self._parts.names
        await delete_namespace(
            self.settings.rabbitmq_url,
            names,
            models,
            self.settings.bands,
            self._parts.queues.shards.count,
        )

    # Gateway side -----------------------------------------------------------------

    async def submit(self, job: Job) -> Ticket:
        self._require_started()
        return await self._gateway.submit(job)

    async def cancel(self, request_id: str) -> bool:
        return await self._gateway.cancel(request_id)

    async def clear(self, band: str | None = None) -> int:
        return await self._gateway.clear(band)

    async def switch(self, switch: Switch, on: bool) -> Mark:
        mark = self.control.set(switch, on)
        self._switched()
        await self._parts.control.share()
        return mark

    async def restore_control(self, marks: list[tuple[Switch, Mark]]) -> None:
        if self.control.merge(marks):
            self._switched()
        await self._parts.control.share()  # others may have started without them

    async def status(self) -> QueueStatus:
        return await self._gateway.status()

    async def lookup(self, request_id: str) -> RequestInfo | None:
        return self._gateway.lookup(request_id)

    def models(self) -> dict[str, ModelInfo]:
        return self._heartbeats.models()

    def workers(self) -> list[WorkerInfo]:
        return self.control.mark_workers(self._heartbeats.workers())

    # Worker side ------------------------------------------------------------------

    async def take(self, worker_id: str, models: Iterable[str]) -> Delivery:
        self._require_started()
        return await self._taker.take(models, may_take=lambda: not self._drained(worker_id))

    async def advertise(self, worker: WorkerInfo) -> None:
        await self._heartbeats.advertise(worker)

    async def withdraw(self, worker_id: str) -> None:
        await self._heartbeats.withdraw(worker_id)

    # What this process hears --------------------------------------------------------

    def _require_started(self) -> None:
        if not self._started:
            raise QueueUnavailable("the queue is not started")

    def _drained(self, worker_id: str) -> bool:
        own = self._heartbeats.own(worker_id)
        return self.control.draining(worker_id, own.backend if own is not None else None)

    def _switched(self) -> None:
        """Pauses or drains changed: recount positions, let idle slots look again."""
        self._gateway.positions.poke()
        self._parts.doorbell.wake()

    def _cancel_here(self, job_ids: list[str]) -> None:
        """A cancel, from this process or another: both halves drop the jobs."""
        self._gateway.cancelled(job_ids)
        self._taker.cancel(job_ids)

    async def _on_control(self, message: AnyControl) -> None:
        if isinstance(message, Cancel):
            self._cancel_here(message.ids)
        elif isinstance(message, Clear):
            self._gateway.cleared_elsewhere(message.band)
        elif isinstance(message, ControlState):
            if self._parts.control.heard(message):
                self._switched()
        elif self.control.marks():
            await self._parts.control.share()  # asked by a process that starts

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        """The reply queue carries events for the gateway half and verdicts for the
        worker half (a worker of this process asked some gateway)."""
        try:
            heard = read_reply_queue(message)
        except Malformed as exc:
            await self._parts.rejects.keep(message, self._reply_queue, str(exc))
            return
        if isinstance(heard, list):
            await self._parts.replies.heard(heard)
        else:
            self._taker.verdicts.heard(heard)

    def _restored(self) -> None:
        self._spawn(self._parts.control.flush())
        self._spawn(self._parts.control.ask())
        self._spawn(self._heartbeats.rejoin())
        self._parts.doorbell.wake()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
