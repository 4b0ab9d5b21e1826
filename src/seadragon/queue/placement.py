"""Positions and ETAs of the in-process queue's waiting jobs, recomputed after a change.

A job's ``ahead`` counts the jobs of its model before it in dispatch order that are not
paused (a paused job will not run first); a paused job's ETA is when it would start if
its band were resumed now. ETAs come from ``Capacity.etas`` with every running job
known (``queue/eta.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from seadragon.queue.bands import Bands
from seadragon.queue.capacity import Capacity
from seadragon.queue.control_state import QueueControl
from seadragon.queue.eta import Busy
from seadragon.queue.memory_handles import MemoryDelivery, MemoryTicket


def running_jobs(deliveries: Iterable[MemoryDelivery]) -> list[Busy]:
    now = time.monotonic()
    return [
        Busy(d.backend, d.job.model, now - (d.started_at or d.taken_at))
        for d in deliveries
        if not d.ticket.ended
    ]


def place_all(
    bands: Bands,
    tickets: Mapping[str, MemoryTicket],
    capacity: Capacity,
    control: QueueControl,
    running: list[Busy],
) -> None:
    """Give every waiting ticket its position (an event where ``ahead`` or pause moved)."""
    entries = list(bands)
    held = [control.paused(bands.names[e.band], e.job.model) for e in entries]
    waiting: dict[str, int] = {}
    for entry, paused in zip(entries, held, strict=True):
        if not paused:
            waiting[entry.job.model] = waiting.get(entry.job.model, 0) + 1
    etas = {
        model: capacity.etas(model, count + 1, running, exact=True)
        for model, count in waiting.items()
    }
    seen: dict[str, int] = {}
    for entry, paused in zip(entries, held, strict=True):
        model = entry.job.model
        ahead = seen.get(model, 0)
        if not paused:
            seen[model] = ahead + 1
        model_etas = etas.get(model) or capacity.etas(model, 1, running, exact=True)
        tickets[entry.job.id].place(ahead, model_etas[min(ahead, len(model_etas) - 1)], paused)
