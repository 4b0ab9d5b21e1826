"""What the queue reports about itself: bands, requests, workers (``status()``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from seadragon.queue.events import Position


@dataclass
class RequestInfo:
    id: str
    model: str
    band: str
    entry_band: str
    user_id: int | None
    #: ``paused``: queued in a band an administrator paused (``control_state.py``).
    state: Literal["queued", "paused", "running"]
    waited_s: float
    position: Position | None = None
    backend: str | None = None


@dataclass
class BandStatus:
    name: str
    depth: int
    max_depth: int
    oldest_wait_s: float | None


@dataclass
class ModelInfo:
    """A model some live worker serves, with the slots that can run it."""

    name: str
    slots: int
    backends: list[str]


@dataclass
class WorkerInfo:
    """What a worker (one backend's slots) advertises to gateways."""

    id: str
    backend: str
    kind: str
    url: str
    slots: int
    busy: int
    models: list[str]
    reachable: bool
    error: str | None = None
    #: An administrator drained it: it takes no new job (set by the queue, not advertised).
    draining: bool = False
    #: Models the backend holds in memory now (Ollama's ``/api/ps``); None: not known.
    loaded: list[str] | None = None


@dataclass
class QueueStatus:
    backend: Literal["memory", "rabbitmq"]
    connected: bool
    bands: list[BandStatus]
    queued: list[RequestInfo]
    running: list[RequestInfo]
    workers: list[WorkerInfo]
    mean_service_s: float | None
    positions_estimated: bool = False
    #: Mean service time of each model observed (what its ETAs use).
    service_s_by_model: dict[str, float] = field(default_factory=dict)
    #: Switched on by administrators: ``{"band", "model", "since_us"}`` each.
    paused: list[dict[str, Any]] = field(default_factory=list)
    #: ``{"target", "since_us"}`` each: backends or workers taking no new job.
    draining: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def served_models(workers: Iterable[WorkerInfo]) -> dict[str, ModelInfo]:
    """Models that reachable workers serve, with the slots (and backends) that can run each."""
    served: dict[str, ModelInfo] = {}
    for worker in workers:
        if not worker.reachable:
            continue
        for model in worker.models:
            info = served.setdefault(model, ModelInfo(name=model, slots=0, backends=[]))
            info.slots += worker.slots
            if worker.backend not in info.backends:
                info.backends.append(worker.backend)
    return served
