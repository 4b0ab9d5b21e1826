"""One fanout exchange heard by every Seadragon process: control, heartbeats, doorbell.

Each process hears it on a queue of its own (exclusive, gone with the process) and
sends to everyone with one transient publish. A process does not hear its own
messages: what it sends, it has applied already. A message that is not of this
exchange goes to ``rejects.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from pydantic import BaseModel

from seadragon.queue.rabbitmq.broker.codec import broadcast_message
from seadragon.queue.rabbitmq.broker.connection import broker_call
from seadragon.queue.rabbitmq.broker.messages import Malformed
from seadragon.queue.rabbitmq.broker.names import Exchanges, Names
from seadragon.queue.rabbitmq.broker.rejects import Rejects

log = logging.getLogger(__name__)

T = TypeVar("T")

SEND_TIMEOUT_S = 2.0


class Broadcast(Generic[T]):
    """Sends ``T``s to every process, and hears those of the others."""

    def __init__(
        self,
        *,
        names: Names,
        role: str,
        exchange: str,
        process_id: str,
        exchanges: Exchanges,
        rejects: Rejects,
        read: Callable[[AbstractIncomingMessage], T],
        arguments: dict[str, Any] | None = None,
    ) -> None:
        self.queue_name = names.private_queue(role, process_id)
        self._exchange = exchange
        self._process_id = process_id
        self._exchanges = exchanges
        self._rejects = rejects
        self._read = read
        self._on_message: Callable[[T], Awaitable[None]] | None = None
        self._arguments = arguments

    async def listen(
        self, channel: AbstractRobustChannel, on_message: Callable[[T], Awaitable[None]]
    ) -> None:
        """Declare this process's queue on the exchange and hand what others send to
        ``on_message``."""
        self._on_message = on_message
        with broker_call(f"cannot listen on {self._exchange}"):
            queue = await channel.declare_queue(
                self.queue_name, exclusive=True, auto_delete=True, arguments=self._arguments
            )
            await queue.bind(self._exchange)
            await queue.consume(self._hear, no_ack=True)

    @property
    def process_id(self) -> str:
        return self._process_id

    async def send(self, payload: BaseModel | None) -> None:
        """Publish to every process; ``QueueUnavailable`` if the broker is not there."""
        await self.send_message(broadcast_message(payload))

    async def send_message(self, message: aio_pika.Message) -> None:
        """``send`` for a message built by the caller (``codec.ring_message``)."""
        with broker_call(f"cannot publish on {self._exchange}"):
            await self._exchanges[self._exchange].publish(
                message,
                routing_key="",
                mandatory=False,
                timeout=SEND_TIMEOUT_S,
            )

    async def _hear(self, message: AbstractIncomingMessage) -> None:
        try:
            payload = self._read(message)
        except Malformed as exc:
            await self._rejects.keep(message, self.queue_name, str(exc))
            return
        if getattr(payload, "sender", None) == self._process_id or self._on_message is None:
            return
        await self._on_message(payload)
