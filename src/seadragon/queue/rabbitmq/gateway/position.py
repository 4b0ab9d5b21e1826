"""Estimated queue positions from band depths (RabbitMQ cannot tell a message's index).

At submit, ``ahead`` is the depth of the model's higher bands plus the part of its own
band that fair share serves first: the jobs ahead of it in its shard queue (that queue's
depth before the publish) and, from every other shard, as many jobs as a rotation
serves before its turn (``shards.fair_ahead``). While the job waits, the depths are read
again, its band is inferred from the aging intervals, and the part of its shard queue
ahead of it can only shrink (it resets to that queue's depth after a promotion, which
lands at the tail of the same shard one band up). Other tenants' new jobs may still
come before it, as fair share means, so ``ahead`` can grow.
Paused higher bands of the model are not counted ahead. ETAs come from ``Capacity.etas``
with this gateway's running jobs known and other busy slots estimated (``queue/eta.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from seadragon.errors import QueueUnavailable
from seadragon.queue.base import Job, Position
from seadragon.queue.capacity import Capacity
from seadragon.queue.control_state import QueueControl
from seadragon.queue.eta import Busy
from seadragon.queue.rabbitmq.broker.aging import BandChain
from seadragon.queue.rabbitmq.broker.queues import BandQueues
from seadragon.queue.rabbitmq.broker.shards import fair_ahead
from seadragon.queue.rabbitmq.gateway.tickets import RabbitTicket

log = logging.getLogger(__name__)

REFRESH_S = 1.0


class PositionEstimator:
    """Positions and ETAs (``Capacity.eta_s``) of this gateway's waiting tickets."""

    def __init__(
        self,
        chain: BandChain,
        queues: BandQueues,
        capacity: Capacity,
        control: QueueControl,
        running: Callable[[], list[Busy]],
    ) -> None:
        self.chain = chain
        self.queues = queues
        self.capacity = capacity
        self.control = control
        self.running = running
        self._poked = asyncio.Event()

    def poke(self) -> None:
        """A job of ours started: recount now rather than at the next tick."""
        self._poked.set()

    async def run(self, waiting: Callable[[], list[RabbitTicket]]) -> None:
        """Refresh the tickets ``waiting`` returns every ``REFRESH_S``, and when poked."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_S):
                    await self._poked.wait()
            fresh = self._poked.is_set()
            self._poked.clear()
            try:
                await self.refresh(waiting(), fresh=fresh)
            except QueueUnavailable as exc:  # the broker is away: try again at the next tick
                log.debug("position refresh failed: %s", exc.message)

    def position(self, model: str, band: str, ahead: int) -> Position:
        eta_s = self.capacity.etas(model, ahead + 1, self.running(), exact=False)[-1]
        paused = self.control.paused(band, model)
        return Position(ahead=ahead, eta_s=eta_s, estimated=True, paused=paused)

    def above(self, model: str, band: str, depths: dict[str, list[int]]) -> int:
        """Jobs of ``model`` in the bands above ``band`` (every shard) that are not paused."""
        paused = self.control.paused
        return sum(sum(depths[b]) for b in self.chain.above(band) if not paused(b, model))

    def at_submit(self, job: Job, depths: dict[str, list[int]]) -> Position:
        """The position of ``job`` from the shard depths read before its publish."""
        own = depths[job.band]
        shard = self.queues.shards.of(job)
        ahead = self.above(job.model, job.band, depths) + fair_ahead(own, shard, own[shard])
        return self.position(job.model, job.band, ahead)

    async def refresh(self, tickets: list[RabbitTicket], *, fresh: bool = False) -> None:
        """Push an updated ``Position`` to every waiting ticket whose ``ahead`` changed."""
        depths_by_model: dict[str, dict[str, list[int]]] = {}
        for ticket in tickets:
            if ticket.state != "queued":
                continue
            model = ticket.job.model
            if model not in depths_by_model:
                depths_by_model[model] = await self.queues.shard_depths(model, fresh=fresh)
            depths = depths_by_model[model]
            waited = ticket.info().waited_s
            band = self.chain.band_after(ticket.job.band, waited)
            shard = self.queues.shards.of(ticket.job)
            own = max(0, depths[band][shard] - 1)
            if band != ticket.band:
                ticket.band = band
                ticket.ahead_in_queue = own
            else:
                ticket.ahead_in_queue = min(ticket.ahead_in_queue, own)
            in_band = fair_ahead(depths[band], shard, ticket.ahead_in_queue)
            ahead = self.above(model, band, depths) + in_band
            position = self.position(model, band, ahead)
            if ahead != ticket.position.ahead or position.paused != ticket.position.paused:
                ticket.push(position)
            else:
                ticket.position = position  # the ETA counts down without an event
