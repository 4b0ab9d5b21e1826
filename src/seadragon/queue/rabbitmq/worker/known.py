"""Band queues a worker process knows to be empty, so a scan need not ask again.

A ``basic.get`` that finds a queue empty (or takes its last job: ``message_count`` 0)
makes the queue known empty until one of these:

- a ring names it, or any ring names no queue or shows dropped rings (``doorbell.py``);
  publishes always ring, after the job is in its queue;
- the queue below it in the TTL chain (the same shard of the next band down) may have
  aged a job into it: each queue keeps the earliest time a job in it can expire, from
  the rings that named it (the ring came after the publish, so the job's TTL runs out no
  earlier than the ring's arrival plus the TTL, less ``RING_SLACK_S`` for a ring slow to
  arrive) and, in turn, from the queue below it; a queue seen non-empty whose jobs'
  ages are not known counts as able to expire at once;
- ``KNOWN_FOR_S`` has passed: redelivered jobs and jobs handed back by another process
  ring no bell, and are found, as before this knowledge, within the 1 s fallback poll.

When a queue is found empty while one of its jobs could have expired already, that job
may be in the queue above now, so that queue's knowledge is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from seadragon.config import Settings
from seadragon.queue.rabbitmq.doorbell import Doorbell

#: How long a queue found empty counts as empty without a ring (the fallback poll's period).
KNOWN_FOR_S = 1.0
#: How late a ring may arrive after its job was queued, for the earliest expiry of that job.
RING_SLACK_S = 1.0


class Known:
    """What this process's scans learnt about its band queues (one per process)."""

    def __init__(
        self, settings: Settings, doorbell: Doorbell, name: Callable[[str, str, int], str]
    ) -> None:
        self.bands = list(settings.bands)
        self._ttl = {band: settings.aging_interval(band) for band in self.bands[1:]}
        self._doorbell = doorbell
        self._name = name
        #: Queue name -> (doorbell generation, monotonic time) when a get found it empty.
        self._empty: dict[str, tuple[int, float]] = {}
        #: Queue name -> the earliest time a job in it may expire into the band above;
        #: missing: not known (at once).
        self._expires: dict[str, float] = {}
        #: The band of each queue name looked at (to place rings).
        self._band_of: dict[str, str] = {}

    def rung(self, queue: str | None, now: float) -> None:
        """The doorbell rang for ``queue`` (None: for any queue)."""
        if queue is None:
            self._empty.clear()
            self._expires.clear()
            return
        band = self._band_of.get(queue)
        if queue in self._expires and band is not None:
            ttl = self._ttl.get(band)
            if ttl is not None:
                at = now + ttl - RING_SLACK_S
                self._expires[queue] = min(self._expires[queue], at)

    def empty(self, model: str, band: str, shard: int, now: float) -> bool:
        """True when ``(model, band, shard)`` is known to hold no job now."""
        name = self._name(model, band, shard)
        seen = self._empty.get(name)
        if seen is None:
            return False
        generation, at = seen
        if now - at >= KNOWN_FOR_S or self._doorbell.rung_since(name, generation):
            return False
        i = self.bands.index(band)
        return i + 1 >= len(self.bands) or now < self._expiry(model, i + 1, shard)

    def _expiry(self, model: str, i: int, shard: int) -> float:
        """The earliest time a job may expire out of band ``i``'s queue (into ``i - 1``)."""
        band = self.bands[i]
        own = self._expires.get(self._name(model, band, shard), -math.inf)
        if i + 1 < len(self.bands):
            own = min(own, self._expiry(model, i + 1, shard) + self._ttl[band])
        return own

    def looked(
        self, model: str, band: str, shard: int, at: tuple[int, float], left: int, now: float
    ) -> None:
        """A get sent when the bell was at generation ``at[0]`` and the clock at
        ``at[1]`` left ``left`` jobs in the queue (0 also when it found none)."""
        name = self._name(model, band, shard)
        self._band_of[name] = band
        if left > 0:
            # Jobs are left whose ages are not known: they may expire at once.
            self._empty.pop(name, None)
            self._expires.pop(name, None)
            return
        i = self.bands.index(band)
        if i > 0 and self._expiry(model, i, shard) < now:
            # A job of this queue may have expired into the one above before this get.
            self._empty.pop(self._name(model, self.bands[i - 1], shard), None)
        self._expires[name] = math.inf
        self._empty[name] = at

    def returned(self, model: str, band: str, shard: int) -> None:
        """A job was handed back to the queue: it is not empty."""
        self._empty.pop(self._name(model, band, shard), None)
