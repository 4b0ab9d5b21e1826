"""The embedded queue: priority bands with aging inside one gateway process.

Everything happens on the event loop, so there are no locks: each operation changes
the bands and then runs ``_update``, which applies due promotions and expiries, hands
jobs to waiting slots (oldest waiter first), tells queued callers whose position moved,
and re-arms one timer for the next promotion or deadline, so waiting jobs age even when
nothing else happens and an idle queue costs nothing.

``stop_accepting`` fails queued tickets and refuses new jobs; ``close`` fails queued and
running tickets with ``ServiceUnavailable`` and makes waiting and later ``take`` calls
raise ``QueueUnavailable`` (never ``CancelledError``: the worker's task was not
cancelled, its source went away). What the queue reports is read in ``memory_report.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from seadragon.config import Settings
from seadragon.errors import (
    Conflict,
    QueueFull,
    QueueTimeout,
    QueueUnavailable,
    RequestCancelled,
    RequestCleared,
    SeadragonError,
    ServiceUnavailable,
    UpstreamError,
)
from seadragon.queue.affinity import Affinity
from seadragon.queue.bands import Bands, QueuedJob
from seadragon.queue.base import (
    BaseQueueManager,
    Delivery,
    Failed,
    Job,
    ModelInfo,
    QueueStatus,
    RequestInfo,
    Ticket,
    WorkerInfo,
    band_index,
)
from seadragon.queue.capacity import Capacity, WorkerTable
from seadragon.queue.control_state import Mark, QueueControl, Switch
from seadragon.queue.idle import Group, IdleSlots, group_of
from seadragon.queue.memory_handles import Alarm, MemoryDelivery, MemoryTicket, Waiter
from seadragon.queue.memory_report import MemoryReport


class MemoryQueue(BaseQueueManager):
    """``BaseQueueManager`` in process memory: the default for one machine."""

    name = "memory"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._bands = Bands.from_settings(settings)
        self._queued: dict[str, QueuedJob] = {}
        self._running: dict[str, MemoryDelivery] = {}
        # Tickets of queued and running jobs, until the job is settled or ends queued.
        self._tickets: dict[str, MemoryTicket] = {}
        self._idle = IdleSlots()
        self._workers = WorkerTable()
        self.control = QueueControl()
        self._capacity = Capacity(lambda: self._workers.workers, self.control.usable)
        self._affinity = Affinity(self._workers, self._next_for, settings.model_affinity)
        self._report = MemoryReport(
            settings,
            self._bands,
            self._queued,
            self._running,
            self._tickets,
            self._workers,
            self._capacity,
            self.control,
        )
        # One timer for the next promotion or deadline, so waiting jobs age without a poll.
        self._alarm = Alarm(self._update)
        self._closed = False
        self._stopping = False

    async def start(self) -> None:
        self._closed = self._stopping = False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._alarm.disarm()
        for entry in self._bands.drain():
            self._end_queued(entry, ServiceUnavailable("gateway shutting down"))
        for delivery in self._running.values():
            delivery.cancel()
            delivery.ticket.end(Failed(ServiceUnavailable("gateway shutting down")))
        for waiter in self._idle.clear():
            if not waiter.future.done():
                waiter.future.set_exception(QueueUnavailable("the queue is closed"))

    async def stop_accepting(self) -> None:
        self._stopping = True
        for entry in self._bands.drain():
            self._end_queued(entry, ServiceUnavailable("the gateway is shutting down"))
        self._update()

    @property
    def connected(self) -> bool:
        return True

    # Gateway side -------------------------------------------------------------------

    async def submit(self, job: Job) -> Ticket:
        if self._closed:
            raise QueueUnavailable("the queue is closed")
        if self._stopping:
            raise QueueUnavailable("the gateway is shutting down")
        band = band_index(self._bands.names, job.band)
        if job.id in self._tickets:
            raise Conflict(f"a request with id {job.id!r} is already queued or running")
        self._update()  # due promotions first, so they stay ahead of this job
        depth = self._bands.depth(band)
        if depth >= self._settings.max_depth(job.band):
            raise QueueFull(
                f"the {job.band} queue is full ({depth} requests); retry later",
                retry_after=self._capacity.retry_after_s(depth, job.model),
            )
        now = time.monotonic()
        deadline = now + self._settings.max_queue_wait_s
        entry = QueuedJob(job=job, band=band, entered_at=now, deadline=deadline, submitted_at=now)
        ticket = MemoryTicket(job.id, self.cancel)
        self._tickets[job.id] = ticket
        self._queued[job.id] = entry
        self._bands.append(entry)
        self._update()
        return ticket

    async def cancel(self, request_id: str) -> bool:
        entry = self._queued.get(request_id)
        if entry is not None:
            self._bands.remove(entry)
            self._end_queued(entry, RequestCancelled("the request was cancelled"))
            self._update()
            return True
        delivery = self._running.get(request_id)
        if delivery is None or delivery.ticket.ended:
            return False
        delivery.cancel()
        delivery.ticket.end(Failed(RequestCancelled("the request was cancelled")))
        return True

    async def clear(self, band: str | None = None) -> int:
        index = None if band is None else band_index(self._bands.names, band)
        self._update()  # clear the bands jobs are in now, after due promotions
        cleared = self._bands.drain(index)
        for entry in cleared:
            self._end_queued(entry, RequestCleared("the queue was cleared by an administrator"))
        self._update()
        return len(cleared)

    async def switch(self, switch: Switch, on: bool) -> Mark:
        mark = self.control.set(switch, on)
        self._update()
        return mark

    async def restore_control(self, marks: list[tuple[Switch, Mark]]) -> None:
        self.control.merge(marks)
        self._update()

    async def status(self) -> QueueStatus:
        self._update()
        return self._report.status()

    async def lookup(self, request_id: str) -> RequestInfo | None:
        self._update()
        return self._report.lookup(request_id)

    def models(self) -> dict[str, ModelInfo]:
        return self._workers.models()

    def workers(self) -> list[WorkerInfo]:
        return self._report.workers()

    # Worker side --------------------------------------------------------------------

    async def take(self, worker_id: str, models: Iterable[str]) -> Delivery:
        wanted = frozenset(models)
        while True:
            if self._closed:
                raise QueueUnavailable("the queue is closed")
            waiter = Waiter(worker_id, wanted, asyncio.get_running_loop().create_future())
            self._idle.add(waiter)
            self._update()
            try:
                delivery = await waiter.future
            except asyncio.CancelledError:
                self._abandon(waiter)
                raise
            if not delivery.cancelled:
                return delivery
            # Cancelled between the hand-off and this slot resuming: never hand it out.
            await delivery.settle()

    async def advertise(self, worker: WorkerInfo) -> None:
        self._workers.advertise(worker)
        self._update()  # slots changed, and with them every ETA

    async def withdraw(self, worker_id: str) -> None:
        self._workers.withdraw(worker_id)
        self._update()

    # Internals ----------------------------------------------------------------------

    def _update(self) -> None:
        if self._closed:
            return
        for entry in self._bands.advance(time.monotonic()):
            waited = self._settings.max_queue_wait_s
            self._end_queued(entry, QueueTimeout(f"the request waited more than {waited:g} s"))
        self._dispatch()
        self._report.place_all()
        self._alarm.set(self._bands.next_due())

    def _next_for(self, models: frozenset[str]) -> QueuedJob | None:
        return self._bands.first_for(models, self.control.pause_check())

    def _dispatch(self) -> None:
        # Oldest idle slot first among those a queued job is for: the bands are scanned
        # once per hand-off, never once per idle slot (queue/idle.py).
        skip: set[Group] = set()  # groups that found only paused work this time
        paused = self.control.pause_check()
        while self._queued and (waiter := self._idle.head_for(self._may_take, skip)) is not None:
            entry = self._bands.first_for(waiter.models, paused)
            if entry is None:
                skip.add(group_of(waiter))
                continue
            # A warmer slot of another group may take it (queue/affinity.py); the slot
            # passed over stays first in its group and is served in a later round.
            taker = self._affinity.taker(waiter, entry, self._idle.heads())
            if taker is not waiter and self._may_take(taker):
                waiter = taker
            self._bands.take(entry)
            del self._queued[entry.job.id]
            worker = self._workers.worker(waiter.worker_id)
            backend = worker.backend if worker else None
            band, ticket = self._bands.names[entry.band], self._tickets[entry.job.id]
            delivery = MemoryDelivery(entry, band, ticket, waiter.worker_id, backend, self._settled)
            self._running[entry.job.id] = delivery
            self._idle.discard(waiter)
            waiter.future.set_result(delivery)

    def _may_take(self, waiter: Waiter) -> bool:
        """Whether the slot's group may take a queued job: one is for its models, and its
        worker is not draining."""
        if not self._bands.has_work(waiter.models):
            return False
        worker = self._workers.worker(waiter.worker_id)
        return not self.control.draining(waiter.worker_id, worker.backend if worker else None)

    def _abandon(self, waiter: Waiter) -> None:
        """A waiting take was cancelled; a job it had been handed goes back unharmed."""
        self._idle.discard(waiter)
        delivery = waiter.handed()
        if delivery is None:
            return
        delivery.settled = True
        self._running.pop(delivery.job.id, None)
        if delivery.ticket.ended or self._closed:
            self._tickets.pop(delivery.job.id, None)
            return
        self._bands.push_front(delivery.entry)
        self._queued[delivery.job.id] = delivery.entry
        self._update()

    def _settled(self, delivery: MemoryDelivery, requeue: bool) -> None:
        job_id = delivery.job.id
        self._running.pop(job_id, None)
        service_s = delivery.service_s()
        if service_s is not None and not requeue:
            self._capacity.observe(service_s, delivery.job.model, delivery.backend)
        if requeue and not delivery.ticket.ended and not self._closed:
            entry = delivery.entry
            entry.attempt += 1
            # At the head it is next in its band anyway; its aging clock starts again.
            entry.entered_at = time.monotonic()
            self._bands.push_front(entry)
            self._queued[job_id] = entry
        else:
            self._tickets.pop(job_id, None)
            # Every ticket ends exactly once, even when a worker forgets to end it.
            delivery.ticket.end(Failed(UpstreamError("the worker stopped without an answer")))
        self._update()

    def _end_queued(self, entry: QueuedJob, error: SeadragonError) -> None:
        self._queued.pop(entry.job.id, None)
        ticket = self._tickets.pop(entry.job.id, None)
        if ticket is not None:
            ticket.end(Failed(error))
