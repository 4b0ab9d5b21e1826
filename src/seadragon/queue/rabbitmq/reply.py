"""The wire form of events travelling from a worker to the gateway that owns the job.

Each event is one transient message on the reply exchange, routed by gateway id, with
``correlation_id`` = job id and headers naming the delivery that sent it: a random
``token`` per delivery, the ``attempt`` number and a per-delivery ``seq``. Delivery is
at-least-once, so two deliveries of one job may both speak; the gateway uses these to
keep exactly one attempt's events (``tickets.py``).

Events for a gateway in this very process skip the broker and go straight to its
ticket; across processes a NO_ROUTE return says the gateway is gone.

A worker publishes a delivery's events without awaiting each confirm in turn
(``ReplySender.start``): publishes begin in ``emit`` order and go out on one channel,
so the broker queues them in that order, and the gateway also reorders by ``seq``.
Events emitted while the previous message is unconfirmed travel together, as one
message with a list body numbered from its ``seq`` header.
A ``Started`` may carry ``ask`` (the worker's process id): the worker then waits for
the gateway's verdict before it calls the backend (``verdict.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from aio_pika.exceptions import PublishError

from seadragon.queue.base import Event, event_from_dict, event_to_dict

H_DELIVERY = "sd-delivery"
H_ATTEMPT = "sd-attempt"
H_SEQ = "sd-seq"
H_ASK = "sd-ask"


@dataclass
class Reply:
    job_id: str
    token: str
    attempt: int
    seq: int
    event: Event
    #: The process id of a worker waiting for the gateway's verdict on this delivery.
    ask: str | None = None


def reply_message(replies: Sequence[Reply]) -> aio_pika.Message:
    """One message for consecutive replies of one delivery (a list body when several)."""
    first = replies[0]
    headers: dict[str, Any] = {H_DELIVERY: first.token, H_ATTEMPT: first.attempt, H_SEQ: first.seq}
    if first.ask is not None:
        headers[H_ASK] = first.ask
    events = [event_to_dict(reply.event) for reply in replies]
    return aio_pika.Message(
        body=orjson.dumps(events if len(events) > 1 else events[0]),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        correlation_id=first.job_id,
        headers=headers,
    )


def parse_replies(message: AbstractIncomingMessage) -> list[Reply] | None:
    """The replies carried by ``message`` (seq ascending), or None when it is not ours."""
    headers: dict[str, Any] = dict(message.headers or {})
    try:
        body = orjson.loads(message.body)
        seq = int(headers[H_SEQ])
        return [
            Reply(
                job_id=str(message.correlation_id),
                token=str(headers[H_DELIVERY]),
                attempt=int(headers[H_ATTEMPT]),
                seq=seq + i,
                event=event_from_dict(data),
                ask=str(headers[H_ASK]) if H_ASK in headers else None,
            )
            for i, data in enumerate(body if isinstance(body, list) else [body])
        ]
    except (KeyError, ValueError, TypeError, orjson.JSONDecodeError):
        return None


class ReplySender:
    """Delivers replies to gateways: in process directly, else through the reply exchange.

    The exchange's channel must raise on returns (``on_return_raises``): that is how a
    NO_ROUTE shows up.
    """

    def __init__(
        self, exchange: AbstractExchange, process_id: str, local: Callable[[Reply], bool]
    ) -> None:
        self._exchange = exchange
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
        """False when no gateway wants it any more; transport errors propagate."""
        if gateway_id == self._process_id:
            return self._local(reply)
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
            await self._exchange.publish(
                message, routing_key=gateway_id, mandatory=True, timeout=5.0
            )
        except PublishError:
            return False
        return True
