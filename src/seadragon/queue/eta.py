"""When a waiting job should start: its model's slots, what they run now, service times.

Every slot that serves the model (reachable, not draining) is free at some time: now
when idle, else when the job it runs should end, its mean service time after it started
(a job running past its mean counts ``OVERRUN_SHARE`` of it still to go; a slot known to
be busy with a job this process cannot see counts half its mean). The jobs ahead are
handed out in order, each to the slot free first, each keeping its slot for the mean
service time of the model on that slot's backend; a job's ETA is when a slot is free for
it. So one 8 s request ahead of you on one busy slot means up to 8 s more, whatever
other models do, and the head of a queue whose slots are all busy waits for the first of
them to finish, not 0 s (``docs/architecture.md``, "The queue contract").
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from seadragon.queue.status import WorkerInfo

#: Share of its mean service time a job running longer than that mean counts as left.
OVERRUN_SHARE = 0.25
#: Share of the mean a busy slot counts as left when nothing is known of its job.
UNKNOWN_SHARE = 0.5

#: A mean service time for (model, backend).
ServiceTime = Callable[[str, str | None], float]


@dataclass(frozen=True)
class Busy:
    """A job running now on ``backend``, for ``elapsed_s`` so far."""

    backend: str | None
    model: str
    elapsed_s: float


def slot_times(
    model: str,
    workers: Iterable[WorkerInfo],
    running: Iterable[Busy],
    service_s: ServiceTime,
    *,
    exact: bool,
) -> list[tuple[float, float]]:
    """``(free in s, mean service s)`` of every slot that can run ``model``.

    ``exact``: ``running`` is every job running (in process); otherwise busy slots a
    worker advertises beyond the known jobs count as running something unknown.
    """
    by_backend: dict[str | None, list[Busy]] = {}
    for job in running:
        by_backend.setdefault(job.backend, []).append(job)
    slots: list[tuple[float, float]] = []
    for worker in workers:
        if model not in worker.models:
            continue
        mean = service_s(model, worker.backend)
        known = by_backend.get(worker.backend, [])[: worker.slots]
        for job in known:
            own = service_s(job.model, worker.backend)
            slots.append((max(own - job.elapsed_s, own * OVERRUN_SHARE), mean))
        unknown = 0 if exact else max(0, min(worker.busy, worker.slots) - len(known))
        slots.extend((mean * UNKNOWN_SHARE, mean) for _ in range(unknown))
        slots.extend((0.0, mean) for _ in range(worker.slots - len(known) - unknown))
    return slots


def start_times(slots: list[tuple[float, float]], count: int, fallback_s: float) -> list[float]:
    """ETAs of the next ``count`` jobs of one model, in queue order.

    With no slot at all (nobody serves the model now) one slot is assumed to come.
    """
    heap = list(slots) or [(0.0, fallback_s)]
    heapq.heapify(heap)
    etas: list[float] = []
    for _ in range(count):
        free, mean = heap[0]
        etas.append(round(free, 3))
        heapq.heapreplace(heap, (free + mean, mean))
    return etas
