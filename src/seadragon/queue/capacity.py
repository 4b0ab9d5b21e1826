"""What the workers can serve and how fast: the basis of ETAs and ``Retry-After``.

Both queue modes use one ``Capacity``. A model's slots are the sum of the slots of
reachable workers that advertise it (``served``: the memory queue's ``WorkerTable``,
RabbitMQ's heartbeats). The service time of a job is measured from its ``Started`` to
the worker's last event (``End`` or ``Failed``); the mean is over the last
``SERVICE_WINDOW`` jobs, and ``DEFAULT_SERVICE_S`` stands in before the first one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping

from seadragon.queue.status import ModelInfo, WorkerInfo, served_models

SERVICE_WINDOW = 50
DEFAULT_SERVICE_S = 1.0


class Capacity:
    """Observed service times, and the ETA and ``Retry-After`` they give."""

    def __init__(self, served: Callable[[], Mapping[str, ModelInfo]]) -> None:
        self._served = served
        self._service_times: deque[float] = deque(maxlen=SERVICE_WINDOW)
        #: Bumped whenever service times change (so ETAs may have).
        self.version = 0

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
        """Seconds of waiting each job ahead adds, by served model: mean service / slots."""
        mean = self.mean_service_s
        return {name: mean / max(1, info.slots) for name, info in self._served().items()}

    def per_job_of(self, model: str) -> float:
        """``per_job_s`` of one model; a model nobody serves counts as one slot."""
        info = self._served().get(model)
        return self.mean_service_s / max(1, info.slots if info is not None else 1)

    def eta_s(self, ahead: int, model: str) -> float:
        return round(ahead * self.per_job_of(model), 3)

    def retry_after_s(self, depth: int, model: str) -> float:
        """Whole seconds, at least 1, for ``Retry-After`` when a band is full."""
        return float(max(1, math.ceil(depth * self.per_job_of(model))))


class WorkerTable:
    """The workers advertised to an in-process queue."""

    def __init__(self) -> None:
        self._workers: dict[str, WorkerInfo] = {}
        #: Bumped whenever the table changes (slots, and with them ETAs, may have).
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
