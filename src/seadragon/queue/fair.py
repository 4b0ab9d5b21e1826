"""Fair share inside a band: who is served next among the jobs of one band.

Each band keeps a virtual-time counter per tenant (a user, or an API key, as
``fair_share`` says; callers without either share one tenant). A dispatch charges the
tenant ``1 / weight``; the next job of a band is the oldest job of the backlogged tenant
with the smallest counter, ties going to the job that comes first in the band. A tenant
that starts waiting again is lifted to the smallest counter of those already waiting, so
idle time is not banked as credit (the virtual token counter of arXiv 2401.00588,
counting requests). A job handed back by a worker is refunded, so it is next again.

Counters are per band, so strict priority between bands and aging do not change: this
only orders the jobs of one band. ``fair_share = "off"`` keeps plain FIFO.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol, TypeVar

from seadragon.queue.base import Job

FairMode = Literal["user", "key", "off"]


class Entry(Protocol):
    job: Job


E = TypeVar("E", bound=Entry)


def tenant_of(job: Job, mode: FairMode) -> str:
    """Who the job counts against: ``"u:<id>"``, ``"k:<id>"`` or ``"-"`` (anonymous)."""
    if mode == "user" and job.user_id is not None:
        return f"u:{job.user_id}"
    if mode != "off" and job.key_id is not None:
        return f"k:{job.key_id}"
    return "-"


def shard_of(job: Job, mode: FairMode, shards: int) -> int:
    """The RabbitMQ shard of the job's tenant: a hash every process computes alike."""
    if mode == "off" or shards <= 1:
        return 0
    return zlib.crc32(tenant_of(job, mode).encode()) % shards


class FairShare:
    """Per-band tenant counters and the order they give."""

    def __init__(self, mode: FairMode, weights: Mapping[str, float], bands: int) -> None:
        self.mode = mode
        self._weights = dict(weights)
        self._counters: list[dict[str, float]] = [{} for _ in range(bands)]

    def tenant(self, job: Job) -> str:
        return tenant_of(job, self.mode)

    def weight(self, tenant: str) -> float:
        _, _, ident = tenant.partition(":")
        return self._weights.get(ident, 1.0)

    def counter(self, band: int, tenant: str) -> float:
        return self._counters[band].get(tenant, 0.0)

    # Changes ------------------------------------------------------------------------

    def joined(self, band: int, entry: Entry, waiting: Sequence[Entry]) -> None:
        """``entry`` was added to ``band``, which already holds ``waiting``."""
        if self.mode == "off":
            return
        tenant = self.tenant(entry.job)
        others = {self.tenant(e.job) for e in waiting if e is not entry}
        if tenant in others:
            return
        counters = self._counters[band]
        floor = min((counters.get(t, 0.0) for t in others), default=None)
        if floor is None:
            # Alone in the band: nobody to be fair to, so the past is forgotten.
            counters.clear()
            return
        counters[tenant] = max(counters.get(tenant, 0.0), floor)

    def charge(self, band: int, job: Job, sign: float = 1.0) -> None:
        """``job`` was dispatched from ``band`` (``sign=-1``: handed back, refund)."""
        if self.mode == "off":
            return
        tenant = self.tenant(job)
        counters = self._counters[band]
        counters[tenant] = counters.get(tenant, 0.0) + sign / self.weight(tenant)

    def emptied(self, band: int) -> None:
        self._counters[band].clear()

    # Queries ------------------------------------------------------------------------

    def pick(self, band: int, candidates: Iterable[E]) -> E | None:
        """The candidate served next: first job of the tenant with the smallest counter."""
        best: E | None = None
        best_counter = 0.0
        seen: set[str] = set()
        for entry in candidates:
            if self.mode == "off":
                return entry
            tenant = self.tenant(entry.job)
            if tenant in seen:
                continue
            seen.add(tenant)
            counter = self.counter(band, tenant)
            if best is None or counter < best_counter:
                best, best_counter = entry, counter
        return best

    def order(self, band: int, entries: Sequence[E]) -> list[E]:
        """The band's jobs in the order ``pick`` would serve them if nothing changed."""
        if self.mode == "off" or len(entries) < 2:
            return list(entries)
        queues: dict[str, list[E]] = {}
        for entry in entries:
            queues.setdefault(self.tenant(entry.job), []).append(entry)
        if len(queues) == 1:
            return list(entries)
        position = {id(entry): i for i, entry in enumerate(entries)}
        heads = {tenant: 0 for tenant in queues}
        heap = [
            (self.counter(band, tenant), position[id(jobs[0])], tenant)
            for tenant, jobs in queues.items()
        ]
        heapq.heapify(heap)
        ordered: list[E] = []
        while heap:
            counter, _, tenant = heapq.heappop(heap)
            jobs = queues[tenant]
            ordered.append(jobs[heads[tenant]])
            heads[tenant] += 1
            if heads[tenant] < len(jobs):
                nxt = jobs[heads[tenant]]
                heapq.heappush(heap, (counter + 1 / self.weight(tenant), position[id(nxt)], tenant))
        return ordered
