"""Whether a model no reachable backend serves now is gone (404) or only down (503).

A model is *down* while a worker that cannot reach its backend still lists it, or when
some reachable worker served it within the window and at least one of the backends that
served it is now unreachable or gone (a killed worker stops advertising at all). A model
whose backends all answer and no longer list it was removed: that stays a 404.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from seadragon.queue.status import WorkerInfo

#: How often the worker table is sampled, so a model served between two requests counts.
OBSERVE_EVERY_S = 1.0


@dataclass
class _Served:
    backends: set[str] = field(default_factory=set)
    last_s: float = 0.0


class ModelAvailability:
    """Remembers which backends served each model recently; one per gateway process."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._served: dict[str, _Served] = {}

    def observe(self, workers: Iterable[WorkerInfo]) -> None:
        """Note every model that a reachable worker serves now."""
        now = self._clock()
        for worker in workers:
            if not worker.reachable:
                continue
            for model in worker.models:
                served = self._served.setdefault(model, _Served())
                if now - served.last_s > self.window_s:
                    served.backends.clear()
                served.backends.add(worker.backend)
                served.last_s = now

    def is_down(self, model: str, workers: list[WorkerInfo]) -> bool:
        """True if ``model``, not served now, should come back once a backend does."""
        self.observe(workers)
        if any(not w.reachable and model in w.models for w in workers):
            return True
        served = self._served.get(model)
        if served is None or self._clock() - served.last_s > self.window_s:
            return False
        answering = {w.backend for w in workers if w.reachable}
        return not served.backends <= answering

    async def watch(self, workers: Callable[[], list[WorkerInfo]]) -> None:
        """Sample the worker table forever (run as a task; cancel it to stop)."""
        while True:
            self.observe(workers())
            await asyncio.sleep(OBSERVE_EVERY_S)
