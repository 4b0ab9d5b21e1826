"""What the in-process queue reports of itself: positions, ``status()`` and ``lookup()``.

Positions of waiting jobs are recomputed only when the bands, the workers, the observed
capacity or the control state changed since they were last placed, and on every read,
because ETAs count down with the running jobs (``placement.py`` computes them).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from seadragon.config import Settings
from seadragon.queue.bands import Bands, QueuedJob
from seadragon.queue.base import QueueStatus, RequestInfo, WorkerInfo
from seadragon.queue.capacity import Capacity, WorkerTable
from seadragon.queue.control_state import QueueControl
from seadragon.queue.memory_handles import MemoryDelivery, MemoryTicket
from seadragon.queue.placement import place_all, running_jobs


class MemoryReport:
    """Reads the in-process queue's state (shared, never changed here but for positions)."""

    def __init__(
        self,
        settings: Settings,
        bands: Bands,
        queued: Mapping[str, QueuedJob],
        running: Mapping[str, MemoryDelivery],
        tickets: Mapping[str, MemoryTicket],
        workers: WorkerTable,
        capacity: Capacity,
        control: QueueControl,
    ) -> None:
        self._settings = settings
        self._bands = bands
        self._queued = queued
        self._running = running
        self._tickets = tickets
        self._workers = workers
        self._capacity = capacity
        self._control = control
        # Versions of bands, capacity and control that positions were last computed from.
        self._placed = (-1, -1, -1, -1)

    def place_all(self, force: bool = False) -> None:
        """Give every waiting ticket its position, if anything it depends on changed."""
        versions = (self._bands.version, self._workers.version, self._capacity.version)
        placed = (*versions, self._control.version)
        if (placed == self._placed and not force) or self._bands.empty:
            return  # nothing moved, or nobody waits for a position
        self._placed = placed
        running = running_jobs(self._running.values())
        place_all(self._bands, self._tickets, self._capacity, self._control, running)

    def status(self) -> QueueStatus:
        self.place_all(force=True)  # ETAs count down with the running jobs
        now = time.monotonic()
        return QueueStatus(
            backend="memory",
            connected=True,
            bands=self._bands.status(self._settings.max_depth, now),
            queued=[self._queued_info(entry, now) for entry in self._bands],
            running=[d.info() for d in self._running.values() if not d.ticket.ended],
            workers=self.workers(),
            mean_service_s=self._capacity.observed_service_s,
            service_s_by_model=self._capacity.by_model(),
            paused=self._control.pauses(),
            draining=self._control.drains(),
        )

    def lookup(self, request_id: str) -> RequestInfo | None:
        self.place_all(force=True)
        entry = self._queued.get(request_id)
        if entry is not None:
            return self._queued_info(entry, time.monotonic())
        delivery = self._running.get(request_id)
        if delivery is None or delivery.ticket.ended:
            return None
        return delivery.info()

    def workers(self) -> list[WorkerInfo]:
        return self._control.mark_workers(self._workers.workers)

    def _queued_info(self, entry: QueuedJob, now: float) -> RequestInfo:
        return entry.info(self._bands.names[entry.band], self._tickets[entry.job.id].position, now)
