"""Priority bands with aging, the in-process queue's data structure.

Each band is a list in dispatch order: FIFO by entry into the band, except that a job
handed back by a worker goes to the head. A job that has spent ``interval`` in a band
below the top moves to the tail of the band above. Its entry time there is the moment
it became due, not the moment a timer noticed, so late ticks never add up along the
chain: a job entering band ``i`` reaches the top after the sum of the intervals of
bands ``i..1``, to within one tick.

Inside a band the next job is the fair-share choice (``queue/fair.py``): the oldest job
of the tenant served least so far, which is plain FIFO when one tenant waits or fair
share is off. Iteration and positions follow the same order.

Times are ``time.monotonic()`` seconds. Nothing here knows about asyncio.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from seadragon.config import Settings
from seadragon.queue.base import BandStatus, Job, Position, RequestInfo
from seadragon.queue.fair import FairShare

#: A timer may fire a hair before the deadline it was set for; treat that as due rather
#: than re-arming a timer for a few microseconds.
DUE_EPSILON_S = 0.001


@dataclass(eq=False)
class QueuedJob:
    """A job waiting in a band, with the clocks that move it."""

    job: Job
    band: int
    entered_at: float
    deadline: float
    submitted_at: float
    attempt: int = 1

    def info(self, band: str, position: Position, now: float) -> RequestInfo:
        job = self.job
        return RequestInfo(
            id=job.id,
            model=job.model,
            band=band,
            entry_band=job.band,
            user_id=job.user_id,
            state="paused" if position.paused else "queued",
            waited_s=now - self.submitted_at,
            position=position,
        )


class Bands:
    """Ordered bands (index 0 = top) of ``QueuedJob``s, with aging and positions."""

    def __init__(
        self, names: Sequence[str], intervals: Sequence[float], fair: FairShare | None = None
    ) -> None:
        if len(names) != len(intervals):
            raise ValueError("one aging interval per band")
        self.names = list(names)
        self.fair = fair or FairShare("off", {}, len(names))
        self._intervals = list(intervals)
        self._lists: list[list[QueuedJob]] = [[] for _ in self.names]
        # Queued jobs per model, every band together: dispatch asks it before scanning.
        self._models: Counter[str] = Counter()
        #: Bumped on every change of membership or order, so positions are recomputed only then.
        self.version = 0
        # A lower bound on the next promotion or deadline: exact after a scan, lowered by
        # insertions, left early by removals, so ``advance`` scans only when one may be due.
        self._soonest: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Bands:
        names = settings.bands
        fair = FairShare(settings.fair_share, settings.fair_share_weights, len(names))
        return cls(names, [settings.aging_interval(name) for name in names], fair)

    def index(self, name: str) -> int:
        """The band's index; ``ValueError`` for an unknown band."""
        return self.names.index(name)

    def depth(self, band: int) -> int:
        return len(self._lists[band])

    def __iter__(self) -> Iterator[QueuedJob]:
        """Every queued job in dispatch order: top band first, fair order within a band."""
        for band, entries in enumerate(self._lists):
            yield from self.fair.order(band, entries)

    # Mutation -----------------------------------------------------------------------

    def append(self, entry: QueuedJob) -> None:
        """Queue at the tail of ``entry.band``."""
        self.fair.joined(entry.band, entry, self._lists[entry.band])
        self._lists[entry.band].append(entry)
        self._inserted(entry)

    def push_front(self, entry: QueuedJob) -> None:
        """Queue at the head of ``entry.band`` (a job a worker handed back)."""
        self.fair.joined(entry.band, entry, self._lists[entry.band])
        self.fair.charge(entry.band, entry.job, sign=-1.0)
        self._lists[entry.band].insert(0, entry)
        self._inserted(entry)

    def remove(self, entry: QueuedJob) -> bool:
        entries = self._lists[entry.band]
        for i, candidate in enumerate(entries):
            if candidate is entry:
                del entries[i]
                self._uncount(entry)
                if not entries:
                    self.fair.emptied(entry.band)
                self.version += 1
                return True
        return False

    def take(self, entry: QueuedJob) -> None:
        """Remove ``entry`` because a slot takes it, charging its tenant."""
        if self.remove(entry):
            self.fair.charge(entry.band, entry.job)

    def drain(self, band: int | None = None) -> list[QueuedJob]:
        """Remove and return every job of one band, or of all bands."""
        indexes = range(len(self._lists)) if band is None else [band]
        drained: list[QueuedJob] = []
        for i in indexes:
            drained.extend(self._lists[i])
            self._lists[i] = []
            self.fair.emptied(i)
        for entry in drained:
            self._uncount(entry)
        self.version += 1
        return drained

    def advance(self, now: float) -> list[QueuedJob]:
        """Apply the promotions due by ``now``; remove and return the jobs past deadline."""
        if self._soonest is None or now + DUE_EPSILON_S < self._soonest:
            return []
        self._promote(now)
        expired: list[QueuedJob] = []
        for band, entries in enumerate(self._lists):
            keep: list[QueuedJob] = []
            for entry in entries:
                (expired if entry.deadline <= now + DUE_EPSILON_S else keep).append(entry)
            self._lists[band] = keep
            if not keep:
                self.fair.emptied(band)
        for entry in expired:
            self._uncount(entry)
        self._soonest = min((self._due(entry) for entry in self), default=None)
        self.version += 1
        return expired

    def next_due(self) -> float | None:
        """When the next promotion or deadline may be due (never later than it is)."""
        return self._soonest

    def _promote(self, now: float) -> None:
        # Bottom-up, so a job can climb several bands at once when it is that late.
        for band in range(len(self._lists) - 1, 0, -1):
            interval = self._intervals[band]
            staying: list[QueuedJob] = []
            leaving: list[tuple[float, QueuedJob]] = []
            for entry in self._lists[band]:
                due = entry.entered_at + interval
                if due <= now + DUE_EPSILON_S:
                    leaving.append((due, entry))
                else:
                    staying.append(entry)
            if not leaving:
                continue
            self._lists[band] = staying
            if not staying:
                self.fair.emptied(band)
            leaving.sort(key=lambda pair: pair[0])
            for due, entry in leaving:
                entry.band = band - 1
                entry.entered_at = due
                self.fair.joined(band - 1, entry, self._lists[band - 1])
                self._lists[band - 1].append(entry)

    def _due(self, entry: QueuedJob) -> float:
        if entry.band == 0:
            return entry.deadline
        return min(entry.deadline, entry.entered_at + self._intervals[entry.band])

    def _inserted(self, entry: QueuedJob) -> None:
        self.version += 1
        self._models[entry.job.model] += 1
        due = self._due(entry)
        if self._soonest is None or due < self._soonest:
            self._soonest = due

    def _uncount(self, entry: QueuedJob) -> None:
        model = entry.job.model
        left = self._models[model] - 1
        if left > 0:
            self._models[model] = left
        else:
            del self._models[model]

    # Queries ------------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        """No job waits in any band (from the counts, without scanning a band)."""
        return not self._models

    def has_work(self, models: frozenset[str]) -> bool:
        """Whether any band holds a job for one of ``models`` (without scanning a band)."""
        counts = self._models
        if len(models) <= len(counts):
            return any(model in counts for model in models)
        return any(model in models for model in counts)

    def first_for(
        self, models: frozenset[str], paused: Callable[[str, str], bool] | None = None
    ) -> QueuedJob | None:
        """The next job of the highest band among jobs for ``models`` (fair within it),
        leaving out those ``paused(band, model)`` holds (``control_state.py``)."""
        for band, entries in enumerate(self._lists):
            if paused is not None:
                name = self.names[band]
                open_models = frozenset(m for m in models if not paused(name, m))
            else:
                open_models = models
            picked = self.fair.pick(band, (e for e in entries if e.job.model in open_models))
            if picked is not None:
                return picked
        return None

    def status(self, max_depth: Callable[[str], int], now: float) -> list[BandStatus]:
        """Depth of each band, and how long its longest-waiting job has been queued."""
        bands = []
        for name, entries in zip(self.names, self._lists, strict=True):
            oldest = min((entry.submitted_at for entry in entries), default=None)
            bands.append(
                BandStatus(
                    name=name,
                    depth=len(entries),
                    max_depth=max_depth(name),
                    oldest_wait_s=None if oldest is None else now - oldest,
                )
            )
        return bands
