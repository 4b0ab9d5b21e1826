"""The gateway half of RabbitMQ mode: submit, cancel, clear, and what a gateway reports.

A submit waits (at most ``rabbitmq_submit_timeout_s`` in all) for the broker, reads the band
depths for admission control and the position, publishes the job with confirms and
rings the doorbell. Positions are estimates from band depths (``position.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any

from seadragon.config import Settings
from seadragon.errors import (
    Conflict,
    QueueFull,
    QueueTimeout,
    QueueUnavailable,
    RequestCancelled,
    RequestCleared,
    UpstreamError,
)
from seadragon.queue.base import BandStatus, Job, QueueStatus, RequestInfo, band_index
from seadragon.queue.capacity import Capacity
from seadragon.queue.eta import Busy
from seadragon.queue.rabbitmq.broker.aging import BandChain
from seadragon.queue.rabbitmq.broker.codec import job_message
from seadragon.queue.rabbitmq.broker.connection import Connection
from seadragon.queue.rabbitmq.broker.queues import (
    NOT_QUEUED,
    BandQueues,
    MaybeQueued,
)
from seadragon.queue.rabbitmq.control import Control
from seadragon.queue.rabbitmq.doorbell import Doorbell
from seadragon.queue.rabbitmq.gateway.position import PositionEstimator
from seadragon.queue.rabbitmq.gateway.tickets import RabbitTicket, TicketBook
from seadragon.queue.rabbitmq.heartbeat import Heartbeats

#: A clear also fails tickets promoted this recently: the broker may not have moved them yet.
PROMOTION_SLACK_S = 0.05


class Gateway:
    """This process's tickets, and the requests it makes of the broker for them."""

    def __init__(
        self,
        settings: Settings,
        gateway_id: str,
        connection: Connection,
        chain: BandChain,
        queues: BandQueues,
        heartbeats: Heartbeats,
        doorbell: Doorbell,
        control: Control,
    ) -> None:
        self.settings = settings
        self.gateway_id = gateway_id
        self.connection = connection
        self.chain = chain
        self.queues = queues
        self.heartbeats = heartbeats
        self.doorbell = doorbell
        self.control = control
        self.capacity = Capacity(heartbeats.workers, control.state.usable)
        # Quorum queues bound redeliveries themselves (x-delivery-limit).
        run_limit = None if settings.rabbitmq_quorum else settings.rabbitmq_delivery_limit
        self.book = TicketBook(self.capacity, self.cancel, run_limit)
        self.positions = PositionEstimator(
            chain, queues, self.capacity, control.state, self._running_jobs
        )
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._spawn(self.positions.run(self.book.queued))

    async def close(self) -> None:
        self.book.end_all(QueueUnavailable("the gateway is shutting down"))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Requests ---------------------------------------------------------------------

    async def submit(self, job: Job) -> RabbitTicket:
        band_index(self.settings.bands, job.band)
        if job.id in self.book.tickets:
            raise Conflict(f"a request with id {job.id!r} is already queued or running")
        # One budget for the whole submit, then 503.
        deadline = time.monotonic() + self.settings.rabbitmq_submit_timeout_s
        await self.queues.ready_for(job.model, deadline)
        limit = self.settings.max_depth(job.band)
        try:
            depths = await self.queues.shard_depths(job.model)
            if sum(depths[job.band]) >= limit:
                depths = await self.queues.shard_depths(job.model, fresh=True)
        except QueueUnavailable:
            raise QueueUnavailable(NOT_QUEUED) from None
        depth = sum(depths[job.band])
        if depth >= limit:
            raise QueueFull(
                f"the {job.band} queue is full; retry later",
                retry_after=self.capacity.retry_after_s(depth, job.model),
            )
        max_wait = self.settings.max_queue_wait_s
        ticket = self.book.open(job, self.positions.at_submit(job, depths), max_wait, self._expire)
        ticket.ahead_in_queue = depths[job.band][self.queues.shards.of(job)]
        message = job_message(job, self.gateway_id, job.deadline_us(max_wait))
        queue = self.queues.queue_name(job.model, job.band, self.queues.shards.of(job))
        publishing = asyncio.create_task(self.queues.publish(job, message, deadline))
        # Its frames go out before the ring's (same channel): on one broker idle workers find
        # it before the confirm; the ring after the confirm covers a cluster or a reconnect.
        self._spawn(self.doorbell.ring(queue))
        try:
            await publishing
        except BaseException as exc:
            publishing.cancel()
            self.book.discard(job.id)
            if not isinstance(exc, QueueUnavailable) or isinstance(exc, MaybeQueued):
                self.abandon(job.id)  # it may be queued after all: no worker should run it
            raise
        self._spawn(self.doorbell.ring(queue))  # wakes idle slots here and elsewhere
        return ticket

    async def cancel(self, request_id: str) -> bool:
        known = self.book.end(request_id, RequestCancelled("the request was cancelled"))
        # Other gateways may own it, and any worker may run or later take it.
        await self.control.cancel([request_id])
        return known

    async def clear(self, band: str | None) -> int:
        if band is not None:
            band_index(self.settings.bands, band)
        count = await self._purge(band)
        await self._fail_queued(band)
        await self.control.clear(band)
        return count

    def abandon(self, job_id: str) -> None:
        """This gateway gave up on a job: no worker should run it."""
        self._spawn(self.control.cancel([job_id]))

    # What others tell this gateway ----------------------------------------------------

    def cancelled(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.book.end(job_id, RequestCancelled("the request was cancelled"))

    def cleared_elsewhere(self, band: str | None) -> None:
        self._spawn(self._cleared_elsewhere(band))

    def connection_lost(self) -> None:
        # The reply queue died with the connection: running jobs' events are lost for good.
        for ticket in self.book.running():
            if self.book.end(ticket.id, UpstreamError("lost the connection to the queue")):
                self.abandon(ticket.id)

    # Reports ----------------------------------------------------------------------

    async def status(self) -> QueueStatus:
        queued = [t.info() for t in self.book.queued()]
        bands = []
        for band in self.settings.bands:
            # Read now: the copy admission control reuses may be DEPTH_TTL_S old.
            depth = await self.queues.band_depth(self._known_models(), band)
            waits = [r.waited_s for r in queued if r.band == band]
            bands.append(
                BandStatus(band, depth, self.settings.max_depth(band), max(waits, default=None))
            )
        return QueueStatus(
            backend="rabbitmq",
            connected=self.connection.connected,
            bands=bands,
            queued=queued,
            running=[t.info() for t in self.book.running()],
            workers=self.control.state.mark_workers(self.heartbeats.workers()),
            mean_service_s=self.capacity.observed_service_s,
            positions_estimated=True,
            service_s_by_model=self.capacity.by_model(),
            paused=self.control.state.pauses(),
            draining=self.control.state.drains(),
        )

    def lookup(self, request_id: str) -> RequestInfo | None:
        ticket = self.book.tickets.get(request_id)
        return ticket.info() if ticket is not None else None

    # Internals --------------------------------------------------------------------

    def _expire(self, job_id: str) -> None:
        ticket = self.book.tickets.get(job_id)
        if ticket is None or ticket.state != "queued":
            return
        if self.book.end(job_id, QueueTimeout("the request waited too long in the queue")):
            self.abandon(job_id)

    def _running_jobs(self) -> list[Busy]:
        now = time.monotonic()
        return [
            Busy(t.backend, t.job.model, now - t.started)
            for t in self.book.running()
            if t.started is not None
        ]

    def _known_models(self) -> list[str]:
        return sorted(set(self.queues.models) | set(self.heartbeats.models()))

    async def _purge(self, band: str | None) -> int:
        """Empty the band queues (of one band, or all) of every model known here."""
        # Bottom band first, so a job promoted while we purge lands in a band not yet purged.
        bands = [band] if band else list(reversed(self.settings.bands))
        return await self.queues.purge_bands(self._known_models(), bands)

    async def _cleared_elsewhere(self, band: str | None) -> None:
        # Another gateway may not know every model this one does: purge them too.
        with contextlib.suppress(QueueUnavailable):
            await self._purge(band)
        await self._fail_queued(band)

    async def _fail_queued(self, band: str | None) -> None:
        """Fail this gateway's waiting tickets of ``band`` (or all) after a clear."""
        failed = []
        for ticket in self.book.queued():
            waited = time.monotonic() - ticket.submitted
            now = self.chain.band_after(ticket.job.band, waited)
            recent = self.chain.band_after(ticket.job.band, waited - PROMOTION_SLACK_S)
            if band is None or band in (now, recent):
                self.book.end(ticket.id, RequestCleared("the queue was cleared"))
                failed.append(ticket.id)
        await self.control.cancel(failed)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
