"""Aging as a chain of band queues linked by dead-lettering.

Every band but the top has a queue-level ``x-message-ttl`` of ``aging_interval(band)``
and dead-letters expired jobs through the promote exchange to the tail of the next band
up. RabbitMQ expires only at the head of a queue, so with a queue-level TTL (every job
in the queue has the same TTL) the head is always the oldest and promotion is on time:
measured 2-6 ms late at p99, never early (``docs/architecture.md``). A job entering band ``i``
therefore reaches the top after the sum of the intervals of bands ``i..1`` plus a few
ms per hop. Never per-message ``expiration`` (it waits behind an unexpired head) and
never ``x-max-priority`` (expired low-priority jobs stay stuck behind higher ones).

A job a worker has taken but not yet acked does not age; workers only take what they
start at once (``worker/scan.py``).
"""

from __future__ import annotations

from typing import Any

from seadragon.config import Settings
from seadragon.queue.rabbitmq.broker.names import Names


class BandChain:
    """Queue arguments and promotion timing for the bands of ``settings``, top band first."""

    def __init__(self, settings: Settings, names: Names) -> None:
        self.settings = settings
        self.names = names
        self.bands = list(settings.bands)

    def index(self, band: str) -> int:
        return self.bands.index(band)

    def above(self, band: str) -> list[str]:
        """Bands served before ``band``, top first."""
        return self.bands[: self.index(band)]

    def arguments(self, model: str, band: str, shard: int = 0) -> dict[str, Any]:
        """``queue.declare`` arguments of one band queue (one shard of it): a job ages
        into the same shard of the band above, so its tenant's turn follows it."""
        args: dict[str, Any] = {}
        if self.settings.rabbitmq_quorum:
            args.update(
                {
                    "x-queue-type": "quorum",
                    # Without reject-publish the broker silently falls back to at-most-once.
                    "x-overflow": "reject-publish",
                    "x-dead-letter-strategy": "at-least-once",
                    "x-delivery-limit": self.settings.rabbitmq_delivery_limit,
                }
            )
        i = self.index(band)
        if i == 0:
            if self.settings.rabbitmq_quorum:
                # Past the delivery limit a top-band job is dead, not promoted.
                args["x-dead-letter-exchange"] = self.names.dead
                args["x-dead-letter-routing-key"] = self.names.dead_queue()
            return args
        args["x-message-ttl"] = max(1, round(self.settings.aging_interval(band) * 1000))
        args["x-dead-letter-exchange"] = self.names.promote
        args["x-dead-letter-routing-key"] = self.names.band_queue(model, self.bands[i - 1], shard)
        return args

    def band_after(self, entry_band: str, waited_s: float) -> str:
        """The band a job that entered ``entry_band`` is in after waiting ``waited_s``."""
        i = self.index(entry_band)
        while i > 0:
            waited_s -= self.settings.aging_interval(self.bands[i])
            if waited_s < 0:
                break
            i -= 1
        return self.bands[i]
