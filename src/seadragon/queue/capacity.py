"""What the workers can serve and how fast: the basis of ETAs and ``Retry-After``.

Both queue modes use one ``Capacity``. Service times are kept per model and backend: a
job's is measured from its ``Started`` to the worker's last event (``End`` or
``Failed``), and the mean is over the last ``SERVICE_WINDOW`` jobs of that model on that
backend. A backend that has not run the model yet uses the model's mean on the others, a
model never run yet the mean over every job, and ``DEFAULT_SERVICE_S`` stands in before
the first job of all. ETAs come from ``eta.py``; the slots counted are those of
reachable workers that advertise the model and are not draining.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable

from seadragon.queue.eta import Busy, slot_times, start_times
from seadragon.queue.status import ModelInfo, WorkerInfo, served_models

SERVICE_WINDOW = 50
DEFAULT_SERVICE_S = 1.0


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


class Capacity:
    """Observed service times per model and backend, and the ETA and ``Retry-After``."""

    def __init__(
        self,
        workers: Callable[[], Iterable[WorkerInfo]],
        usable: Callable[[WorkerInfo], bool] = lambda _: True,
    ) -> None:
        self._workers = workers
        self._usable = usable
        self._times: dict[tuple[str, str | None], deque[float]] = {}
        self._recent: deque[float] = deque(maxlen=SERVICE_WINDOW)
        #: Bumped whenever service times change (so ETAs may have).
        self.version = 0

    def observe(self, service_s: float, model: str, backend: str | None) -> None:
        window = self._times.setdefault((model, backend), deque(maxlen=SERVICE_WINDOW))
        window.append(service_s)
        self._recent.append(service_s)
        self.version += 1

    @property
    def observed_service_s(self) -> float | None:
        """The mean over the last jobs of every model (for display only)."""
        return _mean(self._recent)

    def by_model(self) -> dict[str, float]:
        """Each observed model's mean service time, over its backends."""
        models: dict[str, list[float]] = {}
        for (model, _), window in self._times.items():
            models.setdefault(model, []).extend(window)
        return {model: round(sum(v) / len(v), 3) for model, v in sorted(models.items())}

    def service_s(self, model: str, backend: str | None = None) -> float:
        """The mean service time of ``model`` on ``backend`` (see the module docstring)."""
        window = self._times.get((model, backend))
        if window:
            return sum(window) / len(window)
        same_model = [t for (m, _), w in self._times.items() if m == model for t in w]
        return _mean(same_model) or self.observed_service_s or DEFAULT_SERVICE_S

    def serving(self) -> list[WorkerInfo]:
        """Workers whose slots count: reachable and not draining."""
        return [w for w in self._workers() if w.reachable and self._usable(w)]

    def served(self) -> dict[str, ModelInfo]:
        return served_models(self.serving())

    def etas(self, model: str, count: int, running: Iterable[Busy], *, exact: bool) -> list[float]:
        """ETAs of the next ``count`` waiting jobs of ``model`` (``eta.py``)."""
        slots = slot_times(model, self.serving(), running, self.service_s, exact=exact)
        return start_times(slots, count, self.service_s(model))

    def retry_after_s(self, depth: int, model: str) -> float:
        """Whole seconds, at least 1, for ``Retry-After`` when a band is full."""
        info = self.served().get(model)
        slots = max(1, info.slots if info is not None else 1)
        return float(max(1, math.ceil(depth * self.service_s(model) / slots)))


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
