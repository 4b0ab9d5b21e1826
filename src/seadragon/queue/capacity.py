"""What the workers can serve and how fast: the basis of ETAs and ``Retry-After``.

A model's slots are the sum of the slots of reachable workers that advertise it. The
mean service time is a running mean over the last ``SERVICE_WINDOW`` finished jobs,
measured from take to settle; before the first one, ``DEFAULT_SERVICE_S`` stands in.
"""

from __future__ import annotations

import math
from collections import deque

from seadragon.queue.base import ModelInfo, WorkerInfo
from seadragon.queue.status import served_models

SERVICE_WINDOW = 50
DEFAULT_SERVICE_S = 1.0


class Capacity:
    """The advertised worker table and observed service times."""

    def __init__(self) -> None:
        self._workers: dict[str, WorkerInfo] = {}
        self._service_times: deque[float] = deque(maxlen=SERVICE_WINDOW)
        #: Bumped whenever ETAs may have changed (workers or service times).
        self.version = 0

    def advertise(self, worker: WorkerInfo) -> None:
        self._workers[worker.id] = worker
        self.version += 1

    def withdraw(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)
        self.version += 1

    def worker(self, worker_id: str) -> WorkerInfo | None:
        return self._workers.get(worker_id)

    @property
    def workers(self) -> list[WorkerInfo]:
        return list(self._workers.values())

    def models(self) -> dict[str, ModelInfo]:
        return served_models(self._workers.values())

    def observe(self, service_s: float) -> None:
        self._service_times.append(service_s)
        self.version += 1

    @property
    def observed_service_s(self) -> float | None:
        if not self._service_times:
            return None
        return sum(self._service_times) / len(self._service_times)

    @property
    def mean_service_s(self) -> float:
        observed = self.observed_service_s
        return DEFAULT_SERVICE_S if observed is None else observed

    def per_job_s(self) -> dict[str, float]:
        """Seconds of waiting each job ahead adds, by model: mean service time / slots."""
        mean = self.mean_service_s
        return {name: mean / max(1, info.slots) for name, info in self.models().items()}

    def retry_after_s(self, depth: int, model: str) -> float:
        """Whole seconds, at least 1, for ``Retry-After`` when a band is full."""
        per_job = self.per_job_s().get(model, self.mean_service_s)
        return float(max(1, math.ceil(depth * per_job)))
