"""How a worker's events reach the gateway that owns the job.

Each event travels as a ``Reply`` (``broker/messages.py``) on the reply exchange,
routed by gateway id, numbered by delivery token, attempt and ``seq``: delivery is
at-least-once, so two deliveries of one job may both speak, and the gateway keeps
exactly one attempt's events (``gateway/tickets.py``). Events for a gateway in this
very process skip the broker; across processes a NO_ROUTE return says the gateway is
gone.

Publishes begin in ``emit`` order on one channel, so the broker queues them in that
order (and the gateway also reorders by ``seq``); events emitted while the previous
message is unconfirmed travel together in one message (``delivery.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import aio_pika
from aio_pika.exceptions import PublishError

from seadragon.queue.rabbitmq.broker.codec import Reply, reply_message
from seadragon.queue.rabbitmq.broker.connection import broker_call
from seadragon.queue.rabbitmq.broker.names import Exchanges

PUBLISH_TIMEOUT_S = 5.0


class ReplySender:
    """Delivers replies to gateways: in process directly, else through the reply exchange.

    The exchange's channel must raise on returns (``on_return_raises``): that is how a
    NO_ROUTE shows up.
    """

    def __init__(
        self, exchanges: Exchanges, process_id: str, local: Callable[[Reply], bool]
    ) -> None:
        self._exchanges = exchanges
        self._process_id = process_id
        self._local = local

    @property
    def process_id(self) -> str:
        return self._process_id

    def is_local(self, gateway_id: str) -> bool:
        return gateway_id == self._process_id

    def deliver_local(self, reply: Reply) -> bool:
        """Hand a reply to this process's own gateway; False when it does not want it."""
        return self._local(reply)

    async def send(self, gateway_id: str, reply: Reply) -> bool:
        """False when no gateway wants it any more; ``QueueUnavailable`` if not sent."""
        if gateway_id == self._process_id:
            return self._local(reply)
        with broker_call("cannot send a reply"):
            return await self._publish(gateway_id, reply_message([reply]))

    def start(self, gateway_id: str, replies: Sequence[Reply]) -> asyncio.Task[bool]:
        """Begin publishing replies to another process now, in one message; the task
        ends with ``send``'s answer.

        Tasks started one after another write their frames in that order: nothing in
        the publish path awaits before the channel's write lock, which is FIFO.
        """
        return asyncio.create_task(self._publish(gateway_id, reply_message(replies)))

    async def _publish(self, gateway_id: str, message: aio_pika.Message) -> bool:
        try:
            await self._exchanges.reply.publish(
                message, routing_key=gateway_id, mandatory=True, timeout=PUBLISH_TIMEOUT_S
            )
        except PublishError:
            return False
        return True
