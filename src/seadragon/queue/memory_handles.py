"""The in-process queue's handles: tickets, deliveries, waiting slots and the aging timer.

A ticket ends exactly once: the first ``End`` or ``Failed`` put on it wins and every
later event is refused, which is what makes a cancel racing a worker's last chunk safe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from seadragon.errors import RequestCancelled
from seadragon.queue.bands import QueuedJob
from seadragon.queue.base import (
    Delivery,
    End,
    Event,
    Failed,
    Job,
    Position,
    RequestInfo,
    Started,
    Ticket,
    until_end,
)


class MemoryTicket(Ticket):
    """An ``asyncio.Queue`` of events for one job."""

    def __init__(self, job_id: str, cancel: Callable[[str], Awaitable[bool]]) -> None:
        self.id = job_id
        self._cancel = cancel
        self.position = Position(ahead=0, eta_s=0.0)
        self.ended = False
        self._placed = False
        self._events: asyncio.Queue[Event] = asyncio.Queue()

    def events(self) -> AsyncIterator[Event]:
        return until_end(self._events)

    async def cancel(self) -> None:
        await self._cancel(self.id)

    def put(self, event: Event) -> bool:
        """Queue a non-terminal event; False once the ticket has ended."""
        if self.ended:
            return False
        self._events.put_nowait(event)
        return True

    def end(self, event: End | Failed) -> bool:
        """Queue the terminal event; False if the ticket had already ended."""
        if self.ended:
            return False
        self.ended = True
        self._events.put_nowait(event)
        return True

    def place(self, ahead: int, eta_s: float, paused: bool = False) -> None:
        """Record the current position, telling the caller when ``ahead`` or the pause moved.

        The first placement is what ``submit`` returns in ``position``, so it is not
        repeated as an event.
        """
        old = self.position
        moved = self._placed and (ahead != old.ahead or paused != old.paused)
        self.position = Position(ahead=ahead, eta_s=eta_s, paused=paused)
        self._placed = True
        if moved:
            self.put(self.position)


class MemoryDelivery(Delivery):
    """A worker slot's handle on a job; ``settle`` hands it back to the queue."""

    def __init__(
        self,
        entry: QueuedJob,
        band: str,
        ticket: MemoryTicket,
        worker_id: str,
        backend: str | None,
        on_settle: Callable[[MemoryDelivery, bool], None],
    ) -> None:
        self.job: Job = entry.job
        self.band = band
        self.attempt = entry.attempt
        self.entry = entry
        self.ticket = ticket
        self.worker_id = worker_id
        self.backend = backend
        self.taken_at = time.monotonic()
        self.started_at: float | None = None
        #: When the worker ended the ticket itself: its service time is worth measuring.
        self.finished_at: float | None = None
        self.settled = False
        self._on_settle = on_settle
        self._cancelled = asyncio.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    async def wait_cancelled(self) -> None:
        await self._cancelled.wait()

    def cancel(self) -> None:
        self._cancelled.set()

    async def emit(self, event: Event) -> None:
        if self.ticket.ended:
            raise RequestCancelled("the request was cancelled or has already ended")
        if isinstance(event, Started):
            self.backend = event.backend
            self.started_at = time.monotonic()
        if isinstance(event, End | Failed):
            if self.ticket.end(event):
                self.finished_at = time.monotonic()
        else:
            self.ticket.put(event)

    def service_s(self) -> float | None:
        """From ``Started`` to the worker's last event, if the worker ended the ticket."""
        if self.finished_at is None:
            return None
        return self.finished_at - (self.started_at or self.taken_at)

    def info(self) -> RequestInfo:
        job = self.job
        return RequestInfo(
            id=job.id,
            model=job.model,
            band=self.band,
            entry_band=job.band,
            user_id=job.user_id,
            state="running",
            waited_s=self.taken_at - self.entry.submitted_at,
            backend=self.backend,
        )

    async def settle(self, *, requeue: bool = False) -> None:
        # A second settle is a no-op: worker clean-up paths may reach it twice.
        if self.settled:
            return
        self.settled = True
        self._on_settle(self, requeue)


@dataclass(eq=False)
class Waiter:
    """A slot waiting in ``take`` for a job of one of ``models``."""

    worker_id: str
    models: frozenset[str]
    future: asyncio.Future[MemoryDelivery]

    def free(self) -> bool:
        """Still waiting: not handed a job, not gone."""
        return not self.future.done()

    def handed(self) -> MemoryDelivery | None:
        """The delivery this slot was given, if any (it may have gone before receiving it)."""
        future = self.future
        if not future.done() or future.cancelled() or future.exception() is not None:
            return None
        return future.result()


class Alarm:
    """One re-armable timer on the running loop: fires ``callback`` at a monotonic time."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None

    def set(self, at: float | None) -> None:
        """Fire at ``at`` (``time.monotonic()`` seconds), replacing any earlier setting."""
        if at == self._at:
            return
        self.disarm()
        if at is None:
            return
        delay = max(0.0, at - time.monotonic())
        self._handle = asyncio.get_running_loop().call_later(delay, self._fire)
        self._at = at

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._at = None

    def _fire(self) -> None:
        self._handle = None
        self._at = None
        self._callback()
