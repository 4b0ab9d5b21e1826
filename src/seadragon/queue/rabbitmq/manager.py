"""``RabbitMQQueue``: the distributed ``BaseQueueManager``, wiring the RabbitMQ parts.

One instance per process plays both roles: a gateway (``submit`` ... ``models``, with
its own exclusive reply queue routed by ``gateway_id``) and a worker host (``take``,
``advertise``). Positions are estimates from band depths (``position.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Coroutine, Iterable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from seadragon.config import Settings
from seadragon.errors import (
    Conflict,
    InvalidRequest,
    QueueFull,
    QueueUnavailable,
    RequestCancelled,
    RequestCleared,
    UpstreamError,
)
from seadragon.queue.base import (
    BandStatus,
    BaseQueueManager,
    Delivery,
    End,
    Failed,
    Job,
    ModelInfo,
    QueueStatus,
    RequestInfo,
    Started,
    Ticket,
    WorkerInfo,
)
from seadragon.queue.rabbitmq.connection import BROKER_ERRORS
from seadragon.queue.rabbitmq.queues import MaybeQueued
from seadragon.queue.rabbitmq.reply import Reply, parse_replies
from seadragon.queue.rabbitmq.tickets import TicketBook
from seadragon.queue.rabbitmq.topology import Topology
from seadragon.queue.rabbitmq.verdict import answer

log = logging.getLogger(__name__)

#: A clear also fails tickets promoted this recently: the broker may not have moved them yet.
PROMOTION_SLACK_S = 0.05
NOT_QUEUED = "RabbitMQ is not reachable; the request was not queued"


class RabbitMQQueue(BaseQueueManager):
    """Bands as RabbitMQ queues per model, aging by dead-lettering, pull-based workers."""

    name = "rabbitmq"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.gateway_id = secrets.token_hex(6)
        self.topology = Topology(settings, self.gateway_id)
        # Quorum queues bound redeliveries themselves (x-delivery-limit).
        run_limit = None if settings.rabbitmq_quorum else settings.rabbitmq_delivery_limit
        self.book = TicketBook(self.topology.stats, self._abandoned, self.cancel, run_limit)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._started = False

    @property
    def connected(self) -> bool:
        return self._started and self.topology.connection.connected

    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            await self.topology.open(self._on_reply, self._route, self._on_cancel, self._on_clear)
            self.topology.connection.on_lost(self._lost)
            self.topology.connection.on_restored(self._restored)
            self._refresher = asyncio.create_task(self.topology.positions.run(self.book.queued))
            self._started = True

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        self.book.end_all(QueueUnavailable("the gateway is shutting down"))
        await self.topology.close()
        tasks = [*self._tasks, *([self._refresher] if self._refresher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def delete_namespace(self) -> None:
        """Delete every queue and exchange of this namespace that this process knows."""
        await self.topology.delete()

    # Gateway side -----------------------------------------------------------------

    async def submit(self, job: Job) -> Ticket:
        if not self._started:
            raise QueueUnavailable("the queue is not started")
        if job.band not in self.settings.bands:
            raise InvalidRequest(f"unknown priority band {job.band!r}", param="band")
        if job.id in self.book.tickets:
            raise Conflict(f"a request with id {job.id!r} is already queued or running")
        queues = self.topology.queues
        await queues.ready_for(job.model)
        limit = self.settings.max_depth(job.band)
        try:
            depths = await queues.depths(job.model)
            if depths[job.band] >= limit:
                depths = await queues.depths(job.model, fresh=True)
        except BROKER_ERRORS:
            raise QueueUnavailable(NOT_QUEUED) from None
        if depths[job.band] >= limit:
            wait = depths[job.band] * self.topology.stats.mean / self._slots(job.model)
            raise QueueFull(
                f"the {job.band} queue is full; retry later",
                retry_after=max(1.0, float(math.ceil(wait))),
            )
        ticket = self.book.open(
            job, self.topology.positions.at_submit(job, depths), self.settings.max_queue_wait_s
        )
        ticket.ahead_in_band = depths[job.band]
        deadline_us = job.enqueued_us + round(self.settings.max_queue_wait_s * 1_000_000)
        message = queues.message(job, self.gateway_id, deadline_us)
        publishing = asyncio.create_task(queues.publish(job, message))
        # Its frames go out before the ring's (same channel): on one broker idle workers find
        # it before the confirm; the ring after the confirm covers a cluster or a reconnect.
        self._spawn(self.topology.doorbell.ring())
        try:
            await publishing
        except BaseException as exc:
            publishing.cancel()
            self.book.discard(job.id)
            if not isinstance(exc, QueueUnavailable) or isinstance(exc, MaybeQueued):
                self._abandoned(job.id)  # it may be queued after all: no worker should run it
            raise
        self._spawn(self.topology.doorbell.ring())  # wakes idle slots here and elsewhere
        return ticket

    async def cancel(self, request_id: str) -> bool:
        cancelled = RequestCancelled("the request was cancelled")
        known = self.book.end(request_id, cancelled, abandon=False)
        self.topology.processor.cancel([request_id])
        # Other gateways may own it, and any worker may run or later take it.
        await self.topology.control.cancel([request_id])
        return known

    async def clear(self, band: str | None = None) -> int:
        if band is not None and band not in self.settings.bands:
            raise InvalidRequest(f"unknown priority band {band!r}", param="band")
        count = await self._purge(band)
        await self._fail_queued(band)
        await self.topology.control.clear(band)
        return count

    async def status(self) -> QueueStatus:
        queued = [t.info() for t in self.book.queued()]
        bands = []
        for band in self.settings.bands:
            # Read now: the copy admission control reuses may be DEPTH_TTL_S old.
            depth = await self.topology.queues.band_depth(self._known_models(), band)
            waits = [r.waited_s for r in queued if r.band == band]
            bands.append(
                BandStatus(band, depth, self.settings.max_depth(band), max(waits, default=None))
            )
        return QueueStatus(
            backend="rabbitmq",
            connected=self.connected,
            bands=bands,
            queued=queued,
            running=[t.info() for t in self.book.running()],
            workers=self.workers(),
            mean_service_s=self.topology.stats.observed,
            positions_estimated=True,
        )

    async def lookup(self, request_id: str) -> RequestInfo | None:
        ticket = self.book.tickets.get(request_id)
        return ticket.info() if ticket is not None else None

    def models(self) -> dict[str, ModelInfo]:
        return self.topology.registry.models()

    def workers(self) -> list[WorkerInfo]:
        return self.topology.registry.workers()

    # Worker side ------------------------------------------------------------------

    async def take(self, worker_id: str, models: Iterable[str]) -> Delivery:
        if not self._started:
            raise QueueUnavailable("the queue is not started")
        return await self.topology.processor.take(models)

    async def advertise(self, worker: WorkerInfo) -> None:
        await self.topology.registry.advertise(worker)

    async def withdraw(self, worker_id: str) -> None:
        await self.topology.registry.withdraw(worker_id)

    # Internals --------------------------------------------------------------------

    def _known_models(self) -> list[str]:
        return sorted(set(self.topology.queues.models) | set(self.models()))

    def _slots(self, model: str) -> int:
        return max(1, self.topology.registry.slots(model))

    async def _purge(self, band: str | None) -> int:
        """Empty the band queues (of one band, or all) of every model known here."""
        # Bottom band first, so a job promoted while we purge lands in a band not yet purged.
        bands = [band] if band else list(reversed(self.settings.bands))
        return await self.topology.queues.purge_bands(self._known_models(), bands)

    async def _cleared_elsewhere(self, band: str | None) -> None:
        # Another gateway may not know every model this one does: purge them too.
        with contextlib.suppress(*BROKER_ERRORS, QueueUnavailable):
            await self._purge(band)
        await self._fail_queued(band)

    async def _fail_queued(self, band: str | None) -> None:
        """Fail this gateway's waiting tickets of ``band`` (or all) after a clear."""
        chain = self.topology.chain
        failed = []
        for ticket in self.book.queued():
            waited = time.monotonic() - ticket.submitted
            now = chain.band_after(ticket.job.band, waited)
            recent = chain.band_after(ticket.job.band, waited - PROMOTION_SLACK_S)
            if band is None or band in (now, recent):
                self.book.end(ticket.id, RequestCleared("the queue was cleared"), abandon=False)
                failed.append(ticket.id)
        self.topology.processor.cancel(failed)
        await self.topology.control.cancel(failed)

    def _abandoned(self, job_id: str) -> None:
        """This gateway gave up on a job: no worker should run it."""
        self.topology.processor.cancel([job_id])
        self._spawn(self.topology.control.cancel([job_id]))

    def _on_cancel(self, job_ids: list[str]) -> None:
        self.topology.processor.cancel(job_ids)
        for job_id in job_ids:
            self.book.end(job_id, RequestCancelled("the request was cancelled"), abandon=False)

    def _on_clear(self, band: str | None) -> None:
        self._spawn(self._cleared_elsewhere(band))

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        if self.topology.processor.verdicts.heard(message):
            return
        replies = parse_replies(message)
        if not replies:
            log.warning("ignoring a malformed reply message")
            return
        wanted = [self._route(reply) for reply in replies][-1]
        reply = replies[-1]
        if reply.ask is not None:  # a worker waits to hear whether it may run the job again
            await answer(self.topology.exchanges.reply, reply.ask, reply.token, wanted)
            return
        if wanted or isinstance(reply.event, End | Failed):
            return
        # Nobody here waits for this job any more: stop it (once) wherever it runs.
        if self.book.first_stray(reply.job_id):
            self._abandoned(reply.job_id)

    def _route(self, reply: Reply) -> bool:
        wanted = self.book.route(reply)
        if isinstance(reply.event, Started):
            self.topology.positions.poke()  # a job left a queue: positions moved
        return wanted

    def _lost(self) -> None:
        # The reply queue died with the connection: running jobs' events are lost for good.
        for ticket in self.book.running():
            self.book.end(ticket.id, UpstreamError("lost the connection to the queue"))

    def _restored(self) -> None:
        self._spawn(self.topology.control.flush())
        self._spawn(self.topology.registry.rejoin())
        self.topology.doorbell.wake()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
