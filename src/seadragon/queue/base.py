"""The queue contract shared by the in-process and the RabbitMQ implementations.

A gateway ``submit``s a ``Job`` and reads ``Event``s from the returned ``Ticket``
until an ``End`` or a ``Failed``. A worker slot calls ``take`` with the models its
backend serves and gets a ``Delivery``: the oldest job of the highest non-empty band
among those models (strict, work-conserving dispatch). It ``emit``s events back and
``settle``s the delivery once, when the job is over.

Aging: a job that has waited ``aging_interval(band)`` in a band moves to the tail of
the next band up, so a job entering band ``i`` (0 = top) reaches the top band after at
most the sum of the intervals of bands ``i..1``; from there it waits only for the top
band's backlog that was ahead of it at promotion.

The contract every implementation keeps (``tests/queue`` checks it for each):

- ``submit`` returns once the job is safely queued (RabbitMQ: publisher-confirmed);
  ``ticket.position`` says how many jobs are ahead of it (jobs of higher bands plus
  older jobs of its band, for the same model, leaving out paused ones) and an ETA: when
  a slot serving the model should be free for it, from the time left of the jobs those
  slots run and the model's mean service time (``queue/eta.py``; 1.0 s before anything
  was observed). It raises ``QueueFull`` with a ``retry_after`` (seconds, >= 1) when
  the band holds ``max_depth(band)`` jobs.
- Queue control (``queue/control_state.py``): ``take`` hands out no job of a paused
  band (and model) and nothing to a drained worker; such jobs stay queued, keep aging
  and keep their deadline, and their ``Position`` says ``paused``. A switch reaches
  every process of the queue (RabbitMQ: the control fanout) and outlives restarts.
- Every submitted job ends with exactly one terminal event on its ticket: ``End``
  or ``Failed``. Before it, zero or more ``Position`` (while queued, when the position
  changes), then ``Started`` (band at dispatch, attempt), then ``Chunk``s or a
  ``Result``.
- ``take`` never hands a slot a job whose model is not in ``models``, nor a job of a
  lower band while a job of a higher band for one of those models waits; within a
  band, in fair-share order between tenants (``queue/fair.py``), oldest first for one
  tenant. A job is delivered to one slot at a time.
- A job not started within ``max_queue_wait_s`` ends with ``Failed(QueueTimeout)`` and
  is never delivered. ``cancel`` of a queued job ends it with
  ``Failed(RequestCancelled)`` and it is never delivered; of a running one, sets the
  delivery's ``cancelled`` (the worker stops within about a second) and ends the ticket
  with ``Failed(RequestCancelled)``. ``clear`` ends every queued job of the band (or all)
  with ``Failed(RequestCleared)`` at once; running jobs go on.
- ``Delivery.emit`` after the ticket has ended raises ``RequestCancelled`` (in process
  at once; across processes within a bounded number of emits, as confirms show the
  caller's gateway gone); the worker then stops and settles. A worker ``emit``s
  ``Started`` first, then chunks, then ``End`` or ``Failed``, and settles the delivery
  once.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from seadragon.errors import InvalidRequest
from seadragon.queue.control_state import Mark, QueueControl, Switch
from seadragon.queue.events import Chunk as Chunk
from seadragon.queue.events import End as End
from seadragon.queue.events import Event as Event
from seadragon.queue.events import Failed as Failed
from seadragon.queue.events import Position as Position
from seadragon.queue.events import Result as Result
from seadragon.queue.events import Started as Started
from seadragon.queue.events import until_end as until_end
from seadragon.queue.status import BandStatus as BandStatus
from seadragon.queue.status import ModelInfo as ModelInfo
from seadragon.queue.status import QueueStatus as QueueStatus
from seadragon.queue.status import RequestInfo as RequestInfo
from seadragon.queue.status import WorkerInfo as WorkerInfo

JobKind = Literal["chat", "completion", "embedding"]


def now_us() -> int:
    """Wall-clock time in integer microseconds (headers must not carry floats)."""
    return time.time_ns() // 1000


@dataclass
class Job:
    """A validated request waiting for a backend slot."""

    id: str
    kind: JobKind
    model: str
    body: dict[str, Any]
    band: str
    user_id: int | None = None
    key_id: int | None = None
    enqueued_us: int = field(default_factory=now_us)
    #: The caller gets the answer only once it is whole (not streamed). An attempt lost
    #: after producing output may then be replaced: the caller never saw that output.
    buffered: bool = False

    def deadline_us(self, max_queue_wait_s: float) -> int:
        """When the job stops being worth starting (``now_us`` time)."""
        return self.enqueued_us + round(max_queue_wait_s * 1_000_000)


def band_index(bands: Sequence[str], band: str) -> int:
    """The band's index (0 = top); ``InvalidRequest`` naming the field when unknown."""
    try:
        return list(bands).index(band)
    except ValueError:
        raise InvalidRequest(f"unknown priority band {band!r}", param="band") from None


# Handles --------------------------------------------------------------------------


class Ticket(ABC):
    """The gateway's handle on a submitted job."""

    id: str
    position: Position

    @abstractmethod
    def events(self) -> AsyncIterator[Event]:
        """Events until (and including) ``End`` or ``Failed``."""

    @abstractmethod
    async def cancel(self) -> None:
        """Stop the job wherever it is (queued or running); the caller no longer waits."""


class Delivery(ABC):
    """A worker's handle on a job it took."""

    job: Job
    band: str
    attempt: int

    @property
    @abstractmethod
    def cancelled(self) -> bool:
        """True once the caller is gone or the job was cancelled; stop working on it."""

    @abstractmethod
    async def wait_cancelled(self) -> None:
        """Return when ``cancelled`` becomes true."""

    @abstractmethod
    async def emit(self, event: Event) -> None:
        """Send an event to the caller; raises ``RequestCancelled`` if the caller is gone."""

    @abstractmethod
    async def settle(self, *, requeue: bool = False) -> None:
        """Finish the delivery once; ``requeue`` hands the job back for another attempt."""


class BaseQueueManager(ABC):
    """A priority queue with aging between gateways and backend slots."""

    name: Literal["memory", "rabbitmq"]
    #: What administrators switched (pauses, drains), as this process knows it.
    control: QueueControl

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    # Gateway side

    async def stop_accepting(self) -> None:  # noqa: B027 - optional: the default keeps them
        """The gateway is going away: refuse new jobs and end its queued ones with a 503.

        Running jobs go on. By default nothing changes: queued jobs end at ``close``.
        """

    @abstractmethod
    async def submit(self, job: Job) -> Ticket:
        """Enqueue; raises ``QueueFull`` (with ``retry_after``) or ``QueueUnavailable``."""

    @abstractmethod
    async def cancel(self, request_id: str) -> bool:
        """Drop a queued job or stop a running one; False if unknown here."""

    @abstractmethod
    async def clear(self, band: str | None = None) -> int:
        """Fail every queued job (of one band, or all) with ``RequestCleared``; count them."""

    @abstractmethod
    async def switch(self, switch: Switch, on: bool) -> Mark:
        """Pause or resume, drain or undrain, here and in every process of the queue."""

    @abstractmethod
    async def restore_control(self, marks: list[tuple[Switch, Mark]]) -> None:
        """Take switches kept elsewhere (the audit log) at start; newer ones win."""

    @abstractmethod
    async def status(self) -> QueueStatus: ...

    @abstractmethod
    async def lookup(self, request_id: str) -> RequestInfo | None:
        """State and position of one request known to this gateway."""

    @abstractmethod
    def models(self) -> dict[str, ModelInfo]:
        """Models that live workers serve now."""

    @abstractmethod
    def workers(self) -> list[WorkerInfo]:
        """The live workers (``status().workers`` without reading the queue's depths)."""

    # Worker side

    @abstractmethod
    async def take(self, worker_id: str, models: Iterable[str]) -> Delivery:
        """Wait for the next job this slot may run, highest band first."""

    @abstractmethod
    async def advertise(self, worker: WorkerInfo) -> None:
        """Publish (or refresh) what a worker serves."""

    @abstractmethod
    async def withdraw(self, worker_id: str) -> None:
        """A worker is leaving; its models are no longer offered by it."""
