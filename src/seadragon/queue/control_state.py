"""What an administrator switched on the queue: paused bands, draining workers.

A ``Switch`` is one thing that can be on or off: a pause of a band (or every band),
optionally of one model, or a drain of a backend or a worker. The state is a map from
switch to its last ``Mark`` (on or off, and a stamp in integer microseconds), merged
switch by switch, newest stamp winning. Merging is order-free and idempotent, so in
RabbitMQ mode every process can send its whole map to every other one whenever it
likes (on a change, when asked by a process that starts or reconnects) and they all
end up with the same state; two gateways switching different things at once lose
neither (``docs/architecture.md``, "Queue control").

A pause holds the jobs that are in a band: they keep aging, and one that ages into a
band that is not paused is dispatched from there. A drained worker takes no new job
and finishes the ones it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from seadragon.queue.status import WorkerInfo

SwitchKind = Literal["pause", "drain"]


@dataclass(frozen=True)
class Switch:
    """A pause (``band``/``model``; None: every one) or a drain (``target``)."""

    kind: SwitchKind
    band: str | None = None
    model: str | None = None
    target: str | None = None

    @classmethod
    def pause(cls, band: str | None = None, model: str | None = None) -> Switch:
        return cls("pause", band=band, model=model)

    @classmethod
    def drain(cls, target: str) -> Switch:
        return cls("drain", target=target)


@dataclass(frozen=True)
class Mark:
    on: bool
    stamp_us: int


class QueueControl:
    """The merged switch map of this process, with the questions dispatch asks of it."""

    def __init__(self) -> None:
        self._marks: dict[Switch, Mark] = {}
        #: Bumped on every change, so positions and slots are looked at again only then.
        self.version = 0

    # Changes ------------------------------------------------------------------------

    def set(self, switch: Switch, on: bool) -> Mark:
        """Switch ``switch`` here, stamped after everything seen so far."""
        newest = max((mark.stamp_us for mark in self._marks.values()), default=0)
        mark = Mark(on, max(time.time_ns() // 1000, newest + 1))
        self._marks[switch] = mark
        self.version += 1
        return mark

    def merge(self, marks: Iterable[tuple[Switch, Mark]]) -> bool:
        """Take every mark newer than the one held; True if anything changed."""
        changed = False
        for switch, mark in marks:
            held = self._marks.get(switch)
            if held is None or mark.stamp_us > held.stamp_us:
                self._marks[switch] = mark
                changed = changed or held is None or held.on != mark.on
        if changed:
            self.version += 1
        return changed

    def marks(self) -> list[tuple[Switch, Mark]]:
        """Every mark, off ones included (they win over older on ones when merged)."""
        return list(self._marks.items())

    # Questions ----------------------------------------------------------------------

    def is_on(self, switch: Switch) -> bool:
        mark = self._marks.get(switch)
        return mark is not None and mark.on

    def active(self, kind: SwitchKind) -> list[tuple[Switch, Mark]]:
        return [(s, m) for s, m in self._marks.items() if s.kind == kind and m.on]

    def paused(self, band: str, model: str) -> bool:
        """Jobs of ``model`` in ``band`` must not be dispatched now."""
        for switch, mark in self._marks.items():
            if switch.kind != "pause" or not mark.on:
                continue
            if switch.band in (None, band) and switch.model in (None, model):
                return True
        return False

    def pause_check(self) -> Callable[[str, str], bool] | None:
        """``paused``, or None while nothing is paused (dispatch then checks nothing)."""
        return self.paused if self.active("pause") else None

    def usable(self, worker: WorkerInfo) -> bool:
        """The worker's slots count for ETAs: it is not draining."""
        return not self.draining(worker.id, worker.backend)

    def mark_workers(self, workers: Iterable[WorkerInfo]) -> list[WorkerInfo]:
        """``workers`` with ``draining`` set from this state."""
        return [replace(w, draining=self.draining(w.id, w.backend)) for w in workers]

    def draining(self, worker_id: str, backend: str | None) -> bool:
        """The worker (by id, or its backend by name) takes no new job."""
        for switch, mark in self._marks.items():
            if switch.kind == "drain" and mark.on and switch.target in (worker_id, backend):
                return True
        return False

    def pauses(self) -> list[dict[str, Any]]:
        """What is paused, for ``status()``: band and model (None: all), since when."""
        return [
            {"band": s.band, "model": s.model, "since_us": m.stamp_us}
            for s, m in self.active("pause")
        ]

    def drains(self) -> list[dict[str, Any]]:
        """Backends and workers draining, for ``status()``."""
        return [{"target": s.target, "since_us": m.stamp_us} for s, m in self.active("drain")]
