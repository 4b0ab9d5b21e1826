"""Fair share inside a band in RabbitMQ mode: shard queues and the rotation between them.

Stochastic fair queueing (``docs/architecture.md``, "Fair share in RabbitMQ mode"): each
(model, band) has ``rabbitmq_fair_shards`` FIFO queues, and a job goes to the shard its
tenant (a user or an API key, as ``fair_share`` says) hashes to, so the broker keeps
every job and its order. Callers with neither share shard 0, which is the single queue
of the layout before shards, so an older deployment's queued jobs are simply in shard 0.

A worker process rotates between the non-empty shards of a band by deficit round robin:
arriving at a shard credits it the quantum of the tenant whose job is at its head (its
``fair_share_weights`` weight, scaled so that the smallest weight is 1), each job taken
costs 1, and the rotation stays on a shard while it has a whole credit left. A shard
found empty loses its credit, so idle time is never banked. Two tenants that hash to
the same shard share its turn; the rotation is per process, so several worker
processes each rotate on their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from seadragon.config import Settings
from seadragon.queue.base import Job
from seadragon.queue.fair import shard_of, tenant_of

ANONYMOUS = "-"


class Shards:
    """How many shard queues each (model, band) has, and which one a job goes to."""

    def __init__(self, settings: Settings) -> None:
        self.mode = settings.fair_share
        self.count = 1 if self.mode == "off" else settings.rabbitmq_fair_shards
        self._weights = dict(settings.fair_share_weights)
        # Quanta are weights over the smallest one, so every quantum is at least 1 and a
        # shard whose turn comes always serves its head.
        self._unit = min([1.0, *self._weights.values()])

    def of(self, job: Job) -> int:
        """The shard of ``job``: the same in every process (a CRC of its tenant)."""
        if tenant_of(job, self.mode) == ANONYMOUS:
            return 0
        return shard_of(job, self.mode, self.count)

    def quantum(self, job: Job) -> float:
        """Turns in a row a shard gets when ``job`` is at its head (1 without weights)."""
        _, _, ident = tenant_of(job, self.mode).partition(":")
        return self._weights.get(ident, 1.0) / self._unit

    def rotation(self) -> Rotation:
        return Rotation(self.count)


class Rotation:
    """Deficit round robin over the shards of one band (the state of one process)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._at = count - 1  # so that the first turn goes to shard 0
        self._credit = [0.0] * count

    def order(self) -> list[int]:
        """Shards in the order a slot looks at them: the current one first while it has
        a whole credit left, else the next one."""
        start = self._at if self._credit[self._at] >= 1.0 else self._at + 1
        return [(start + i) % self.count for i in range(self.count)]

    def served(self, shard: int, quantum: float) -> None:
        """A job of ``shard`` was taken; ``quantum`` is its tenant's (``Shards.quantum``)."""
        if shard != self._at or self._credit[shard] < 1.0:
            self._at = shard
            self._credit[shard] += quantum
        self._credit[shard] = max(0.0, self._credit[shard] - 1.0)

    def empty(self, shard: int) -> None:
        """``shard`` had nothing: it keeps no credit for later."""
        self._credit[shard] = 0.0


def fair_ahead(depths: Sequence[int], shard: int, ahead_in_shard: int) -> int:
    """Jobs of a band served before one that has ``ahead_in_shard`` jobs ahead of it in
    ``shard``, under a plain rotation: each round serves one job of every non-empty shard,
    so every other shard serves up to ``ahead_in_shard + 1`` first (where the rotation
    stands and weights are not known to a gateway, so this errs on the long side)."""
    others = sum(min(depth, ahead_in_shard + 1) for i, depth in enumerate(depths) if i != shard)
    return ahead_in_shard + others
