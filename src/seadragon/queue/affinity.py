"""Model affinity in the in-process queue: which of the free slots takes a job.

When several waiting slots could take a job, a slot whose backend has the job's model
loaded takes it (what its worker advertises: Ollama's ``/api/ps``, read again after a
job that loaded a model, ``worker/pool.py``). So consecutive requests for a model go
to the backend that holds it, and alternating traffic does not make every backend load
and evict models in turn. A backend that cannot tell what it holds (an OpenAI-compatible
server) counts as holding the model it was last handed.

Affinity only chooses between slots for which this job is their own next one (the same
``first_for`` answer), so it never hands a slot a job of a lower band, or out of fair
order, than one it could run: priority, fair share and work conservation are unchanged.
A busy backend with the model loaded is not waited for: a free slot elsewhere takes the
job (``docs/architecture.md``, "Model affinity").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from seadragon.queue.capacity import WorkerTable
from seadragon.queue.fair import Entry


class Slot(Protocol):
    worker_id: str

    @property
    def models(self) -> frozenset[str]: ...

    def free(self) -> bool: ...


S = TypeVar("S", bound=Slot)
E = TypeVar("E", bound=Entry)


class Affinity:
    """Prefers, among free slots, one whose backend has the job's model loaded."""

    def __init__(
        self,
        workers: WorkerTable,
        next_for: Callable[[frozenset[str]], Entry | None],
        enabled: bool = True,
    ) -> None:
        self._workers = workers
        #: The job a slot serving these models would be handed next (``Bands.first_for``).
        self._next_for = next_for
        self.enabled = enabled
        #: The model each worker was handed last (for backends that report nothing loaded).
        self._last: dict[str, str] = {}

    def warm(self, worker_id: str, model: str) -> bool:
        """Whether the worker's backend has ``model`` loaded, as far as is known."""
        worker = self._workers.worker(worker_id)
        if worker is None:
            return False
        if worker.loaded is not None:
            return model in worker.loaded
        return self._last.get(worker_id) == model

    def taker(self, slot: S, entry: E, slots: Iterable[S]) -> S:
        """The slot that is handed ``entry``, the next job of ``slot``: ``slot`` itself
        unless it is cold and another free slot whose next job is also ``entry`` is warm."""
        chosen = self._choose(slot, entry, slots)
        self._last[chosen.worker_id] = entry.job.model
        return chosen

    def _choose(self, slot: S, entry: E, slots: Iterable[S]) -> S:
        model = entry.job.model
        if not self.enabled or self.warm(slot.worker_id, model):
            return slot
        for other in slots:
            if other is slot or not other.free() or model not in other.models:
                continue
            if self.warm(other.worker_id, model) and self._next_for(other.models) is entry:
                return other
        return slot
