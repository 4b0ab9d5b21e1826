"""What is not a Seadragon message of the queue it came on: logged once, kept, never run.

A worker or gateway that meets such a message (another program publishing into the
namespace, an older Seadragon, a truncated body) logs one warning, copies the body to
``{ns}.rejected`` with the reason (``sd-rejected``) and the queue it came from
(``sd-rejected-from``), and settles the original so it never comes back. The rejected
queue is declared on first use and holds the last ``KEEP`` messages for an operator.
"""

from __future__ import annotations

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel

from seadragon.queue.rabbitmq.broker.connection import Channels, tolerated
from seadragon.queue.rabbitmq.broker.messages import H_REJECTED, H_REJECTED_FROM
from seadragon.queue.rabbitmq.broker.names import Names

log = logging.getLogger(__name__)

KEEP = 1000


class Rejects:
    """Keeps rejected messages of one namespace in its rejected queue."""

    def __init__(self, names: Names, channels: Channels) -> None:
        self._queue = names.rejected_queue()
        self._channels = channels
        self._declared = False
        self._lock = asyncio.Lock()

    async def keep(self, message: AbstractIncomingMessage, queue: str, reason: str) -> None:
        """Log ``message`` once and copy it to the rejected queue; the caller settles it."""
        log.warning("rejected a message on %s (kept in %s): %s", queue, self._queue, reason)
        copy = aio_pika.Message(
            bytes(message.body),
            headers={H_REJECTED: reason[:500], H_REJECTED_FROM: queue},
            content_type=message.content_type,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        with tolerated("keeping a rejected message"):
            channel = self._channels.publish
            await self._declare(channel)
            await channel.default_exchange.publish(copy, routing_key=self._queue, timeout=2.0)

    async def _declare(self, channel: AbstractRobustChannel) -> None:
        async with self._lock:
            if not self._declared:
                await channel.declare_queue(
                    self._queue, durable=True, arguments={"x-max-length": KEEP}
                )
                self._declared = True
