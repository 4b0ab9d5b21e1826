"""Builds one process's RabbitMQ parts: connection, channels, exchanges and consumers.

Channels, by job: ``publish`` (confirms; a NO_ROUTE return raises, which is how a
worker learns its gateway is gone), ``admin`` (declares, passive declares and purges,
which may close a channel on error), ``take`` (``basic.get`` and acks; its death
cancels the deliveries taken on it) and ``consume`` (reply, control, workers, doorbell
and dead queues).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel

from seadragon.config import Settings
from seadragon.queue.rabbitmq.aging import BandChain
from seadragon.queue.rabbitmq.connection import Connection
from seadragon.queue.rabbitmq.control import Control, OnCancel, OnClear
from seadragon.queue.rabbitmq.deadletter import DeadLetters
from seadragon.queue.rabbitmq.doorbell import Doorbell
from seadragon.queue.rabbitmq.exchanges import Exchanges, Names
from seadragon.queue.rabbitmq.position import PositionEstimator
from seadragon.queue.rabbitmq.processor import Processor
from seadragon.queue.rabbitmq.queues import BandQueues
from seadragon.queue.rabbitmq.reply import Reply, ReplySender
from seadragon.queue.rabbitmq.tickets import ServiceStats
from seadragon.queue.rabbitmq.workers import WorkerRegistry

OnReply = Callable[[AbstractIncomingMessage], Awaitable[None]]
OnLocalReply = Callable[[Reply], bool]


class Topology:
    """Every RabbitMQ part of one process; ``open`` makes them, ``close`` ends them."""

    def __init__(self, settings: Settings, process_id: str) -> None:
        self.settings = settings
        self.process_id = process_id
        self.names = Names(settings.rabbitmq_namespace)
        self.chain = BandChain(settings, self.names)
        self.stats = ServiceStats()
        self.connection = Connection(
            settings.rabbitmq_url, name=f"seadragon {self.names.ns} {process_id}"
        )
        self.exchanges = Exchanges(self.names)

    async def open(
        self,
        on_reply: OnReply,
        on_local_reply: OnLocalReply,
        on_cancel: OnCancel,
        on_clear: OnClear,
    ) -> None:
        conn = self.connection
        publish = await conn.channel(on_return_raises=True)
        self.admin = await conn.channel()
        take = await conn.channel()
        self.consume: AbstractRobustChannel = await conn.channel()
        await self.exchanges.declare(publish)
        self.queues = BandQueues(self.chain, self.exchanges, conn, self.admin)
        self.doorbell = Doorbell(self.names, self.process_id, self.consume, self.exchanges.doorbell)
        sender = ReplySender(self.exchanges.reply, self.process_id, on_local_reply)
        self.processor = Processor(self.settings, self.queues, conn, take, sender, self.doorbell)
        self.registry = WorkerRegistry(
            self.names, self.process_id, self.consume, self.exchanges.workers
        )
        self.positions = PositionEstimator(self.chain, self.queues, self.stats, self.registry.slots)
        self.control = Control(
            self.names, self.process_id, self.consume, self.exchanges.control, on_cancel, on_clear
        )
        reply_queue = await self.consume.declare_queue(
            self.names.private_queue("reply", self.process_id), exclusive=True, auto_delete=True
        )
        await reply_queue.bind(self.names.reply, routing_key=self.process_id)
        await reply_queue.consume(on_reply, no_ack=True)
        await self.control.start()
        await self.registry.start()
        if self.settings.rabbitmq_quorum:
            dead = DeadLetters(self.settings, self.names, self.consume, sender)
            await dead.start()

    async def close(self) -> None:
        if hasattr(self, "processor"):
            self.processor.close()
            with contextlib.suppress(Exception):
                await self.registry.close()
        await self.connection.close()

    async def delete(self) -> None:
        """Delete the namespace's band queues, dead queue and exchanges (tests, uninstall).

        Uses a plain connection of its own, so it also works after ``close``, and no robust
        consumer recreates what it deletes.
        """
        conn = await aio_pika.connect(self.settings.rabbitmq_url, timeout=5.0)
        try:
            channel = await conn.channel()
            names = [self.chain.names.dead_queue()]
            names += [
                self.names.band_queue(m, b) for m in self.queues.models for b in self.chain.bands
            ]
            for name in names:
                await channel.queue_delete(name)
            for exchange in self.names.exchanges():
                await channel.exchange_delete(exchange)
        finally:
            await conn.close()
