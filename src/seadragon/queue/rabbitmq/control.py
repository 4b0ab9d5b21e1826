"""Cancellations and clears, broadcast on the control fanout to every Seadragon process.

A cancel names job ids: gateways end their tickets for them, workers stop them if they
run them and drop them (ack without running) if they take them later. A clear names a
band (or all): other gateways fail their waiting tickets of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustChannel

from seadragon.queue.rabbitmq.connection import BROKER_ERRORS
from seadragon.queue.rabbitmq.exchanges import Names, subscribe

log = logging.getLogger(__name__)

OnCancel = Callable[[list[str]], None]
OnClear = Callable[[str | None], None]


class Control:
    """Sends and hears control messages; cancels that could not be sent wait for ``flush``."""

    def __init__(
        self,
        names: Names,
        process_id: str,
        channel: AbstractRobustChannel,
        exchange: AbstractExchange,
        on_cancel: OnCancel,
        on_clear: OnClear,
    ) -> None:
        self._queue_name = names.private_queue("control", process_id)
        self._exchange_name = names.control
        self._process_id = process_id
        self._channel = channel
        self._exchange = exchange
        self._on_cancel = on_cancel
        self._on_clear = on_clear
        self._pending: set[str] = set()

    async def start(self) -> None:
        await subscribe(self._channel, self._queue_name, self._exchange_name, self._on_message)

    async def cancel(self, job_ids: list[str]) -> None:
        """Tell every process to drop these jobs (resent after an outage if need be)."""
        if not job_ids:
            return
        if not await self._send({"op": "cancel", "ids": job_ids}):
            self._pending.update(job_ids)

    async def clear(self, band: str | None) -> None:
        await self._send({"op": "clear", "band": band})

    async def flush(self) -> None:
        """Send the cancels an outage held back."""
        pending, self._pending = sorted(self._pending), set()
        await self.cancel(pending)

    async def _send(self, data: dict[str, Any]) -> bool:
        data["from"] = self._process_id
        message = aio_pika.Message(
            orjson.dumps(data), delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT
        )
        try:
            await self._exchange.publish(message, routing_key="", mandatory=False, timeout=2.0)
        except BROKER_ERRORS as exc:
            log.warning("control message not sent: %r", exc)
            return False
        return True

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            data = orjson.loads(message.body)
            op = data["op"]
            if op == "cancel":
                self._on_cancel([str(i) for i in data["ids"]])
            elif op == "clear" and data.get("from") != self._process_id:
                self._on_clear(data["band"])
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            log.warning("ignoring a malformed control message")
