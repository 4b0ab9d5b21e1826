"""The gateway side of a job: its ticket, fed from this gateway's reply queue.

Delivery is at-least-once (``delivery.py``), so a ticket may hear from two attempts of
one job. It follows one delivery at a time (by token): events of an older attempt are
dropped, a newer attempt takes over. Once output of an attempt reached a streaming
caller, a takeover would repeat tokens, so the ticket ends with ``UpstreamError``
instead and the job is cancelled; a ``buffered`` job's caller has seen nothing yet, so
the new attempt's ``Started`` tells it to start the answer over. Within an attempt,
events are passed on in ``seq`` order: one that arrives early waits for those before it.

With a ``run_limit`` (classic queues, which do not count deliveries), the book counts
the attempts that started; an attempt beyond the limit (the job kept killing its
workers) is refused, and the ticket ends with ``UpstreamError`` (``worker/verdict.py``).
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

from seadragon.errors import SeadragonError, UpstreamError
from seadragon.queue.base import (
    Chunk,
    End,
    Event,
    Failed,
    Job,
    Position,
    RequestInfo,
    Result,
    Started,
    Ticket,
    until_end,
)
from seadragon.queue.capacity import Capacity
from seadragon.queue.rabbitmq.broker.codec import Reply


class Routed(enum.Enum):
    """What became of a reply handed to the book."""

    WANTED = "wanted"
    #: No open ticket wants it.
    UNWANTED = "unwanted"
    #: The book ended the ticket on hearing it: nobody should run the job any more.
    GIVEN_UP = "given up"


class RabbitTicket(Ticket):
    """One submitted job as this gateway sees it."""

    def __init__(
        self, job: Job, position: Position, cancel: Callable[[str], Awaitable[bool]]
    ) -> None:
        self.id = job.id
        self._cancel = cancel
        self.job = job
        self.position = position
        self.state: Literal["queued", "running", "done"] = "queued"
        self.band = job.band
        #: Jobs ahead of it in its own band queue (its fair-share shard), ``position.py``.
        self.ahead_in_queue = 0
        self.backend: str | None = None
        self.submitted = time.monotonic()
        self.started: float | None = None
        self.token: str | None = None
        self.attempt = 0
        self.last_seq = 0
        self.early: dict[int, Event] = {}
        self.runs = 0
        self.output_seen = False
        self.old_tokens: set[str] = set()
        self.timer: asyncio.TimerHandle | None = None
        self._events: asyncio.Queue[Event] = asyncio.Queue()

    def events(self) -> AsyncIterator[Event]:
        return until_end(self._events)

    async def cancel(self) -> None:
        await self._cancel(self.id)

    @property
    def done(self) -> bool:
        return self.state == "done"

    def push(self, event: Event) -> None:
        if self.done:
            return
        if isinstance(event, End | Failed):
            self.state = "done"
            if self.timer is not None:
                self.timer.cancel()
        elif isinstance(event, Position):
            self.position = event
        self._events.put_nowait(event)

    def info(self) -> RequestInfo:
        now = time.monotonic()
        waited = (self.started or now) - self.submitted
        return RequestInfo(
            id=self.id,
            model=self.job.model,
            band=self.band,
            entry_band=self.job.band,
            user_id=self.job.user_id,
            state=self._state(),
            waited_s=waited,
            position=self.position if self.state == "queued" else None,
            backend=self.backend,
        )

    def _state(self) -> Literal["queued", "paused", "running"]:
        if self.state == "running":
            return "running"
        return "paused" if self.position.paused else "queued"


class TicketBook:
    """Open tickets by job id; routes replies and ends tickets exactly once."""

    def __init__(
        self,
        capacity: Capacity,
        cancel: Callable[[str], Awaitable[bool]],
        run_limit: int | None = None,
    ) -> None:
        self.capacity = capacity
        self.tickets: dict[str, RabbitTicket] = {}
        self._cancel = cancel
        self._run_limit = run_limit
        self._stray: OrderedDict[str, None] = OrderedDict()

    def open(
        self, job: Job, position: Position, max_wait_s: float, expire: Callable[[str], None]
    ) -> RabbitTicket:
        """A ticket for ``job``; ``expire`` is called with its id if it is still queued
        after ``max_wait_s``."""
        ticket = RabbitTicket(job, position, self._cancel)
        self.tickets[job.id] = ticket
        ticket.timer = asyncio.get_running_loop().call_later(max_wait_s, expire, job.id)
        return ticket

    def discard(self, job_id: str) -> None:
        """Forget a ticket whose job never made it into the queue."""
        ticket = self.tickets.pop(job_id, None)
        if ticket is not None and ticket.timer is not None:
            ticket.timer.cancel()

    def queued(self) -> list[RabbitTicket]:
        return [t for t in self.tickets.values() if t.state == "queued"]

    def running(self) -> list[RabbitTicket]:
        return [t for t in self.tickets.values() if t.state == "running"]

    def end(self, job_id: str, error: SeadragonError) -> bool:
        """End a ticket here with ``error``; False if it was not open."""
        ticket = self.tickets.pop(job_id, None)
        if ticket is None or ticket.done:
            return False
        ticket.push(Failed(error))
        return True

    def end_all(self, error: SeadragonError) -> None:
        for job_id in list(self.tickets):
            self.end(job_id, error)

    def first_stray(self, job_id: str) -> bool:
        """Note a reply nobody here wants; True the first time for ``job_id``."""
        if job_id in self._stray:
            return False
        self._stray[job_id] = None
        while len(self._stray) > 10_000:
            self._stray.popitem(last=False)
        return True

    def route(self, reply: Reply) -> Routed:
        """Hand ``reply`` to its ticket."""
        ticket = self.tickets.get(reply.job_id)
        if ticket is None:
            return Routed.UNWANTED
        if reply.token != ticket.token:
            if self._over_limit(ticket, reply):
                return Routed.GIVEN_UP
            switched = self._switch(ticket, reply)
            if switched is not Routed.WANTED:
                return switched
        if reply.seq <= ticket.last_seq:
            return Routed.WANTED  # a duplicate publish
        if reply.seq > ticket.last_seq + 1:
            ticket.early[reply.seq] = reply.event
            return Routed.WANTED
        self._pass(ticket, reply.event)
        while not ticket.done and ticket.last_seq + 1 in ticket.early:
            self._pass(ticket, ticket.early.pop(ticket.last_seq + 1))
        return Routed.WANTED

    def _pass(self, ticket: RabbitTicket, event: Event) -> None:
        """Hand the attempt's next event (``last_seq + 1``) to the caller."""
        ticket.last_seq += 1
        if isinstance(event, Started):
            ticket.runs += 1
            ticket.state = "running"
            ticket.started = time.monotonic()
            ticket.backend = event.backend
            ticket.band = event.band
            if ticket.timer is not None:
                ticket.timer.cancel()
        elif isinstance(event, Chunk | Result):
            ticket.output_seen = True
        elif isinstance(event, End | Failed) and ticket.started is not None:
            service_s = time.monotonic() - ticket.started
            self.capacity.observe(service_s, ticket.job.model, ticket.backend)
        ticket.push(event)
        if ticket.done:
            self.tickets.pop(ticket.id, None)

    def _over_limit(self, ticket: RabbitTicket, reply: Reply) -> bool:
        """A new attempt after ``run_limit`` started ones: end the ticket instead."""
        limit = self._run_limit
        if limit is None or ticket.runs < limit or not isinstance(reply.event, Started):
            return False
        self.end(
            ticket.id,
            UpstreamError(
                f"the request was attempted {ticket.runs} times and its worker stopped "
                "each time; giving up"
            ),
        )
        return True

    def _switch(self, ticket: RabbitTicket, reply: Reply) -> Routed:
        """Follow the delivery that sent ``reply``, if it supersedes the current one."""
        if ticket.token is not None:
            if reply.token in ticket.old_tokens or reply.attempt < ticket.attempt:
                return Routed.UNWANTED if ticket.done else Routed.WANTED
            if ticket.output_seen and ticket.job.buffered:
                ticket.output_seen = False  # the new attempt's Started restarts the answer
            elif ticket.output_seen and not isinstance(reply.event, Failed):
                self.end(
                    ticket.id,
                    UpstreamError(
                        "the backend connection was lost after the answer had started; "
                        "please retry the request"
                    ),
                )
                return Routed.GIVEN_UP
            ticket.old_tokens.add(ticket.token)
        ticket.token = reply.token
        ticket.attempt = reply.attempt
        ticket.last_seq = 0
        ticket.early.clear()
        return Routed.WANTED
