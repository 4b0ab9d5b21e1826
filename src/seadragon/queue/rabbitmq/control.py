"""Cancellations and clears, broadcast on the control fanout to every Seadragon process.

A cancel names job ids: gateways end their tickets for them, workers stop them if they
run them and drop them (ack without running) if they take them later. It is applied in
this process at once and sent to the others; one that cannot be sent (the broker is
away) is sent again by ``flush`` once the connection is back. A clear names a band (or
all): other gateways purge it too and fail their waiting tickets of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractRobustChannel

from seadragon.errors import QueueUnavailable
from seadragon.queue.rabbitmq.broker.broadcast import Broadcast
from seadragon.queue.rabbitmq.broker.messages import Cancel, Clear

log = logging.getLogger(__name__)

OnCancel = Callable[[list[str]], None]


class Control:
    """Sends control messages; what others send reaches ``on_message`` (the composer's)."""

    def __init__(self, broadcast: Broadcast[Cancel | Clear], process_id: str) -> None:
        self._broadcast = broadcast
        self._process_id = process_id
        self._local: OnCancel | None = None
        self._pending: set[str] = set()

    async def listen(
        self,
        channel: AbstractRobustChannel,
        on_message: Callable[[Cancel | Clear], Awaitable[None]],
    ) -> None:
        """Hear the other processes' control messages."""
        await self._broadcast.listen(channel, on_message)

    def apply_here(self, on_cancel: OnCancel) -> None:
        """Who applies a cancel in this process (both halves of it)."""
        self._local = on_cancel

    async def cancel(self, job_ids: list[str]) -> None:
        """Drop these jobs here and in every other process."""
        if not job_ids:
            return
        if self._local is not None:
            self._local(job_ids)
        if not await self._send(Cancel(ids=job_ids, sender=self._process_id)):
            self._pending.update(job_ids)

    async def clear(self, band: str | None) -> None:
        await self._send(Clear(band=band, sender=self._process_id))

    async def flush(self) -> None:
        """Send the cancels an outage held back."""
        pending, self._pending = sorted(self._pending), set()
        if pending and not await self._send(Cancel(ids=pending, sender=self._process_id)):
            self._pending.update(pending)

    async def _send(self, message: Cancel | Clear) -> bool:
        try:
            await self._broadcast.send(message)
        except QueueUnavailable as exc:
            log.warning("control message not sent: %s", exc.message)
            return False
        return True
