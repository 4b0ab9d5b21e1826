"""Builds the RabbitMQ parts of one process, each handed exactly what it needs.

Broker layer first (connection, channels, names, band queues, rejects), then the three
broadcasts (heartbeats, doorbell, control), then the gateway half and the worker half.
Nothing is opened here: ``RabbitMQQueue.start`` connects and starts the consumers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aio_pika.abc import AbstractIncomingMessage

from seadragon.config import Settings
from seadragon.queue.rabbitmq.broker.aging import BandChain
from seadragon.queue.rabbitmq.broker.broadcast import Broadcast
from seadragon.queue.rabbitmq.broker.codec import read_broadcast, read_ring
from seadragon.queue.rabbitmq.broker.connection import Channels, Connection
from seadragon.queue.rabbitmq.broker.messages import CONTROL, HEARTBEAT
from seadragon.queue.rabbitmq.broker.names import Exchanges, Names
from seadragon.queue.rabbitmq.broker.queues import BandQueues
from seadragon.queue.rabbitmq.broker.rejects import Rejects
from seadragon.queue.rabbitmq.control import Control
from seadragon.queue.rabbitmq.doorbell import QUEUE_ARGUMENTS, Doorbell
from seadragon.queue.rabbitmq.gateway.gateway import Gateway
from seadragon.queue.rabbitmq.gateway.replies import Replies
from seadragon.queue.rabbitmq.heartbeat import Heartbeats
from seadragon.queue.rabbitmq.worker.deadletter import DeadLetters
from seadragon.queue.rabbitmq.worker.sender import ReplySender
from seadragon.queue.rabbitmq.worker.take import Taker

T = TypeVar("T")


@dataclass(frozen=True)
class Parts:
    names: Names
    connection: Connection
    channels: Channels
    exchanges: Exchanges
    queues: BandQueues
    rejects: Rejects
    heartbeats: Heartbeats
    doorbell: Doorbell
    control: Control
    gateway: Gateway
    replies: Replies
    taker: Taker
    dead_letters: DeadLetters | None


def build(settings: Settings, process_id: str) -> Parts:
    names = Names(settings.rabbitmq_namespace)
    connection = Connection(settings.rabbitmq_url, name=f"seadragon {names.ns} {process_id}")
    channels = Channels(connection)
    exchanges = Exchanges(names)
    chain = BandChain(settings, names)
    queues = BandQueues(chain, exchanges, connection, channels)
    rejects = Rejects(names, channels)

    def broadcast(
        role: str,
        exchange: str,
        read: Callable[[AbstractIncomingMessage], T],
        arguments: dict[str, Any] | None = None,
    ) -> Broadcast[T]:
        return Broadcast(
            names=names,
            role=role,
            exchange=exchange,
            process_id=process_id,
            exchanges=exchanges,
            rejects=rejects,
            read=read,
            arguments=arguments,
        )

    heartbeats = Heartbeats(
        broadcast("workers", names.workers, lambda m: read_broadcast(HEARTBEAT, m, "heartbeat")),
        channels,
        process_id,
    )
    doorbell = Doorbell(broadcast("doorbell", names.doorbell, read_ring, QUEUE_ARGUMENTS), channels)
    control = Control(
        broadcast(
            "control", names.control, lambda m: read_broadcast(CONTROL, m, "control message")
        ),
        process_id,
    )
    gateway = Gateway(
        settings, process_id, connection, chain, queues, heartbeats, doorbell, control
    )
    replies = Replies(gateway, exchanges)
    sender = ReplySender(exchanges, process_id, replies.local)
    taker = Taker(settings, queues, connection, channels, sender, doorbell, rejects, control.state)
    dead_letters = (
        DeadLetters(settings, names, sender, rejects) if settings.rabbitmq_quorum else None
    )
    return Parts(
        names=names,
        connection=connection,
        channels=channels,
        exchanges=exchanges,
        queues=queues,
        rejects=rejects,
        heartbeats=heartbeats,
        doorbell=doorbell,
        control=control,
        gateway=gateway,
        replies=replies,
        taker=taker,
        dead_letters=dead_letters,
    )
