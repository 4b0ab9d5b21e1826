"""Cancellations and clears, broadcast on the control fanout to every Seadragon process.

A cancel names job ids: gateways end their tickets for them, workers stop them if they
run them and drop them (ack without running) if they take them later. It is applied in
this process at once and sent to the others; one that cannot be sent (the broker is
away) is sent again by ``flush`` once the connection is back. A clear names a band (or
all): other gateways purge it too and fail their waiting tickets of it.

Switches (pauses and drains, ``queue/control_state.py``) travel as the sender's whole
switch map, which every process merges: on each change, and in answer to the ``ask`` a
process sends when it starts or reconnects, so a worker that restarts or joins learns
them within one round trip. A map that cannot be sent is sent again by ``flush``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractRobustChannel

from seadragon.errors import QueueUnavailable
from seadragon.queue.control_state import Mark, QueueControl, Switch
from seadragon.queue.rabbitmq.broker.broadcast import Broadcast
from seadragon.queue.rabbitmq.broker.messages import (
    AnyControl,
    Cancel,
    Clear,
    ControlAsk,
    ControlState,
    MarkBody,
)

log = logging.getLogger(__name__)

OnCancel = Callable[[list[str]], None]


class Control:
    """Sends control messages; what others send reaches ``on_message`` (the composer's)."""

    def __init__(self, broadcast: Broadcast[AnyControl], process_id: str) -> None:
        self._broadcast = broadcast
        self._process_id = process_id
        self._local: OnCancel | None = None
        self._pending: set[str] = set()
        #: This process's switches, merged with every map heard.
        self.state = QueueControl()
        self._unshared = False

    async def listen(
        self,
        channel: AbstractRobustChannel,
        on_message: Callable[[AnyControl], Awaitable[None]],
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

    async def share(self) -> None:
        """Send this process's switch map to every other process."""
        marks = [_body(switch, mark) for switch, mark in self.state.marks()]
        self._unshared = not await self._send(ControlState(marks=marks, sender=self._process_id))

    async def ask(self) -> None:
        """Ask every other process for its switches (they answer with ``share``)."""
        await self._send(ControlAsk(sender=self._process_id))

    def heard(self, message: ControlState) -> bool:
        """Merge another process's map; True if a switch changed here."""
        return self.state.merge(_mark(body) for body in message.marks)

    async def flush(self) -> None:
        """Send the cancels and the switch map an outage held back."""
        pending, self._pending = sorted(self._pending), set()
        if pending and not await self._send(Cancel(ids=pending, sender=self._process_id)):
            self._pending.update(pending)
        if self._unshared:
            await self.share()

    async def _send(self, message: AnyControl) -> bool:
        try:
            await self._broadcast.send(message)
        except QueueUnavailable as exc:
            log.warning("control message not sent: %s", exc.message)
            return False
        return True


def _body(switch: Switch, mark: Mark) -> MarkBody:
    return MarkBody(
        kind=switch.kind,
        band=switch.band,
        model=switch.model,
        target=switch.target,
        on=mark.on,
        stamp_us=mark.stamp_us,
    )


def _mark(body: MarkBody) -> tuple[Switch, Mark]:
    return Switch(body.kind, body.band, body.model, body.target), Mark(body.on, body.stamp_us)
