"""A worker's handle on one job pulled from a band queue.

Delivery is at-least-once. A job whose channel dies before the ack goes back to its
queue and comes again as a new attempt, possibly while this one is still running; so
a delivery whose channel died is cancelled at once (the worker must stop), and the
gateway keeps only one attempt's events.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiormq.abc import AbstractChannel

from seadragon.errors import RequestCancelled
from seadragon.queue.base import Delivery, End, Event, Failed, Job
from seadragon.queue.rabbitmq.broker.codec import Reply
from seadragon.queue.rabbitmq.broker.connection import tolerated
from seadragon.queue.rabbitmq.worker.ledger import Ledger
from seadragon.queue.rabbitmq.worker.sender import ReplySender
from seadragon.queue.rabbitmq.worker.verdict import Verdicts

log = logging.getLogger(__name__)

#: Why a delivery stopped: the caller no longer wants it; the job must run again (the
#: broker redelivers it); or its gateway had no reply queue, perhaps only reconnecting.
CancelReason = Literal["caller", "transport", "unrouted"]

#: Events a delivery may emit between two waits for the confirms of all before.
WINDOW = 32
#: Replies travelling in one message at most.
MAX_BATCH = 32


@dataclass(frozen=True)
class Taken:
    """Where a job message came from: the AMQP channel to settle it on, and its gateway."""

    channel: AbstractChannel
    tag: int
    gateway_id: str


class Home(Protocol):
    """What a delivery needs from the worker side that took it (``take.py``)."""

    sender: ReplySender
    ledger: Ledger
    verdicts: Verdicts

    def settled(self, delivery: RabbitDelivery) -> None: ...

    async def requeued(self, delivery: RabbitDelivery) -> None: ...

    def hold(self, delivery: RabbitDelivery) -> None:
        """Hand back, a little later, a job whose gateway may be reconnecting."""


class RabbitDelivery(Delivery):
    """One attempt at a job; ``settle`` acks it (or hands it back) on the channel it came from."""

    def __init__(
        self,
        job: Job,
        band: str,
        attempt: int,
        taken: Taken,
        home: Home,
        ask: str | None = None,
    ) -> None:
        self.job = job
        self.band = band
        self.attempt = attempt
        self.token = secrets.token_hex(8)
        self.gateway_id = taken.gateway_id
        # The AMQP channel the job came on: acks must go there, and its death means the
        # broker hands the job to someone else.
        self._channel = taken.channel
        self._tag = taken.tag
        self._home = home
        self._sender = home.sender
        self._ledger = home.ledger
        self._verdicts = home.verdicts
        self._seq = 0
        self._cancelled = asyncio.Event()
        self._reason: CancelReason | None = None
        self._ended = False
        self._settled = False
        self._lock = asyncio.Lock()
        self._inflight: deque[tuple[int, asyncio.Task[bool]]] = deque()
        self._batch: list[Reply] = []
        self._flush_waits = False
        self._drained_at = 0
        self._ask = ask
        # ``closing`` makes a new observer of the channel each time it is read, which
        # stays registered on the channel until it is cancelled: keep this one, and
        # cancel it on settle, or every job ever run stays in memory with its channel.
        self._closing: asyncio.Future[Any] | None = None
        if self._channel.is_closed:
            self.cancel("transport")
        else:
            self._closing = self._channel.closing
            self._closing.add_done_callback(self._channel_closed)

    def _channel_closed(self, _: object) -> None:
        self.cancel("transport")

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    async def wait_cancelled(self) -> None:
        await self._cancelled.wait()

    def cancel(self, reason: CancelReason = "caller") -> None:
        """Stop this attempt; ``transport`` means the job must run again elsewhere."""
        if self._settled or self._cancelled.is_set():
            return
        self._reason = reason
        self._cancelled.set()

    async def emit(self, event: Event) -> None:
        if self._cancelled.is_set() or self._ended:
            raise RequestCancelled("the request was cancelled or its caller is gone")
        # One emit at a time keeps seq order equal to wire order.
        async with self._lock:
            self._check(self._sent_so_far())
            self._seq += 1
            ask = self._ask if self._seq == 1 else None
            reply = Reply(self.job.id, self.token, self.attempt, self._seq, event, ask)
            terminal = isinstance(event, End | Failed)
            if self._sender.is_local(self.gateway_id):
                self._check([(self._seq, self._sender.deliver_local(reply))])
            elif ask is not None:
                await self._ask_gateway(reply)
            else:
                self._queue_reply(reply, terminal)
                # Only the first event, the last and every WINDOW-th wait for the confirms
                # so far, so a gone gateway is still noticed within a few events.
                if self._seq == 1 or terminal or self._seq - self._drained_at >= WINDOW:
                    self._drained_at = self._seq
                    self._check(await self._all_sent())
            if terminal:
                self._ended = True

    async def _ask_gateway(self, reply: Reply) -> None:
        """Publish the first event, then wait for the gateway's verdict (``verdict.py``)."""
        self._verdicts.expect(self.token)
        try:
            self._inflight.append((reply.seq, self._sender.start(self.gateway_id, [reply])))
            self._check(await self._all_sent())
            if not await self._verdicts.wait(self.token, self._cancelled):
                self.cancel("caller")
                raise RequestCancelled("the gateway does not want this request run again")
        finally:
            self._verdicts.forget(self.token)

    def _queue_reply(self, reply: Reply, terminal: bool) -> None:
        """Send ``reply`` now if nothing is on its way, else with the next message.

        Awaiting each confirm in turn capped a stream at a few thousand chunks/s, and a
        message per chunk costs both ends far more than the chunk: chunks that come while
        a message is unconfirmed travel together when it is confirmed (like Nagle).
        """
        self._batch.append(reply)
        last = self._inflight[-1][1] if self._inflight else None
        if terminal or last is None or last.done() or len(self._batch) >= MAX_BATCH:
            self._flush()
        elif not self._flush_waits:
            self._flush_waits = True
            last.add_done_callback(self._flush_after)

    def _flush_after(self, _: object) -> None:
        self._flush_waits = False
        self._flush()

    def _flush(self) -> None:
        """Start publishing the batched replies (in seq order, after earlier batches)."""
        if self._batch:
            batch, self._batch = self._batch, []
            self._inflight.append((batch[0].seq, self._sender.start(self.gateway_id, batch)))

    def _sent_so_far(self) -> list[tuple[int, bool | BaseException]]:
        """Outcomes of the publishes that are over, oldest first, stopping at a pending one."""
        outcomes: list[tuple[int, bool | BaseException]] = []
        while self._inflight and self._inflight[0][1].done():
            seq, task = self._inflight.popleft()
            outcomes.append((seq, _outcome(task)))
        return outcomes

    async def _all_sent(self) -> list[tuple[int, bool | BaseException]]:
        outcomes: list[tuple[int, bool | BaseException]] = []
        while self._inflight:
            seq, task = self._inflight[0]
            await asyncio.wait({task})
            self._inflight.popleft()
            outcomes.append((seq, _outcome(task)))
        return outcomes

    def _check(self, outcomes: Sequence[tuple[int, bool | BaseException]]) -> None:
        """Stop this delivery if any publish failed or found no gateway wanting it."""
        for seq, outcome in outcomes:
            if isinstance(outcome, BaseException):
                log.warning(
                    "job %s: reply not confirmed (%r); it will run again", self.job.id, outcome
                )
                self.cancel("transport")
                self._forget_inflight()
                raise RequestCancelled("lost the connection to the queue")
            if not outcome:
                self.cancel(self._unwanted_reason(seq))
                self._forget_inflight()
                raise RequestCancelled("the request was cancelled or its caller is gone")
            if seq == 1 and not self._sender.is_local(self.gateway_id):
                self._ledger.routed(self.gateway_id)

    def _forget_inflight(self) -> None:
        self._batch.clear()  # nothing more goes out for this delivery
        while self._inflight:
            self._inflight.popleft()[1].add_done_callback(_outcome)

    def _unwanted_reason(self, seq: int) -> CancelReason:
        """No gateway took an event: gone for good, unless it may be reconnecting."""
        if seq > 1 or self._sender.is_local(self.gateway_id):
            return "caller"  # it heard from this delivery before, or it is this process
        return "unrouted" if self._ledger.unrouted(self.gateway_id) else "caller"

    async def settle(self, *, requeue: bool = False) -> None:
        if self._settled:
            return
        self._settled = True
        self._forget_inflight()
        self._home.settled(self)
        if self._closing is not None:
            self._closing.remove_done_callback(self._channel_closed)
            self._closing.cancel()
        # A transport failure hands the job back so that it is not lost; a caller that
        # is gone (or a finished job) is acked.
        requeue = requeue or (self._reason == "transport" and not self._ended)
        if self._reason == "unrouted" and not self._ended:
            self._home.hold(self)  # handed back a little later, once its gateway is back
            return
        if requeue:
            await self.hand_back()
            return
        if not self._channel.is_closed:
            with tolerated("acking a job"):
                await self._channel.basic_ack(self._tag)

    async def hand_back(self) -> None:
        """Requeue the job for another attempt (a dead channel's jobs requeue themselves),
        and say so: it is back in a queue that scans may know as empty."""
        if not self._channel.is_closed:
            with tolerated("handing a job back"):
                await self._channel.basic_nack(self._tag, requeue=True)
        await self._home.requeued(self)


def _outcome(task: asyncio.Task[bool]) -> bool | BaseException:
    """A finished publish's answer, or what it raised (read, so it is never logged as lost)."""
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception() or task.result()
