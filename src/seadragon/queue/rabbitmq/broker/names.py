"""The names of everything in one Seadragon namespace, and its exchanges.

Exchanges (``docs/architecture.md``, "RabbitMQ topology"):

``{ns}.work``      direct   gateways publish jobs; routing key = band queue name
``{ns}.promote``   direct   dead-letter target of aging; routing key = next band's queue
``{ns}.dead``      direct   quorum mode: jobs past ``x-delivery-limit`` in the top band
``{ns}.reply``     direct   workers publish events; routing key = gateway id
``{ns}.control``   fanout   cancellations and clears, to every process
``{ns}.doorbell``  fanout   "a job was queued": wakes idle workers
``{ns}.workers``   fanout   worker heartbeats (``WorkerInfo``) and withdrawals

Queues: ``{ns}.job.{model}.{band}`` (durable band queues: fair share's shard 0) and
``{ns}.job.{model}.{band}.{shard}`` (its other shards, ``shards.py``), ``{ns}.dead`` (quorum mode),
``{ns}.rejected`` (malformed messages kept for an operator, ``rejects.py``) and one
exclusive ``{ns}.{role}.{process id}`` per process and role.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import aio_pika
from aio_pika import ExchangeType
from aio_pika.abc import AbstractRobustChannel, AbstractRobustExchange

#: pamqp refuses other characters in queue names, and the refusal closes the connection.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
#: AMQP short strings hold 255 bytes; keep room for the namespace and band.
_MAX_MODEL_PART = 120


def safe_part(text: str) -> str:
    """A queue-name fragment for ``text``: safe characters, bounded, still unique."""
    cleaned = _UNSAFE.sub("_", text)
    if cleaned == text and len(text) <= _MAX_MODEL_PART:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{cleaned[:_MAX_MODEL_PART]}#{digest}"


@dataclass(frozen=True)
class Names:
    """Every exchange and queue name of a namespace."""

    ns: str

    @property
    def work(self) -> str:
        return f"{self.ns}.work"

    @property
    def promote(self) -> str:
        return f"{self.ns}.promote"

    @property
    def dead(self) -> str:
        return f"{self.ns}.dead"

    @property
    def reply(self) -> str:
        return f"{self.ns}.reply"

    @property
    def control(self) -> str:
        return f"{self.ns}.control"

    @property
    def doorbell(self) -> str:
        return f"{self.ns}.doorbell"

    @property
    def workers(self) -> str:
        return f"{self.ns}.workers"

    def band_queue(self, model: str, band: str, shard: int = 0) -> str:
        """One shard queue of a band; shard 0 keeps the name of the layout before shards
        (a band name never starts with a digit, so the names cannot collide)."""
        base = f"{self.ns}.job.{safe_part(model)}.{band}"
        return base if shard == 0 else f"{base}.{shard}"

    def band_queues(self, model: str, band: str, shards: int) -> list[str]:
        """Every shard queue of a band, shard 0 first."""
        return [self.band_queue(model, band, shard) for shard in range(shards)]

    def dead_queue(self) -> str:
        return f"{self.ns}.dead"

    def rejected_queue(self) -> str:
        return f"{self.ns}.rejected"

    def private_queue(self, role: str, process_id: str) -> str:
        """An exclusive per-process queue: ``reply``, ``control``, ``doorbell``, ``workers``."""
        return f"{self.ns}.{role}.{process_id}"

    def exchanges(self) -> dict[str, ExchangeType]:
        return {
            self.work: ExchangeType.DIRECT,
            self.promote: ExchangeType.DIRECT,
            self.dead: ExchangeType.DIRECT,
            self.reply: ExchangeType.DIRECT,
            self.control: ExchangeType.FANOUT,
            self.doorbell: ExchangeType.FANOUT,
            self.workers: ExchangeType.FANOUT,
        }


class Exchanges:
    """The declared exchanges of a namespace, by name."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self._declared: dict[str, AbstractRobustExchange] = {}

    async def declare(self, channel: AbstractRobustChannel) -> None:
        """Declare every exchange (idempotent); the robust channel redeclares them on reconnect."""
        for name, kind in self.names.exchanges().items():
            self._declared[name] = await channel.declare_exchange(name, kind, durable=True)

    def __getitem__(self, name: str) -> AbstractRobustExchange:
        return self._declared[name]

    @property
    def work(self) -> AbstractRobustExchange:
        return self._declared[self.names.work]

    @property
    def reply(self) -> AbstractRobustExchange:
        return self._declared[self.names.reply]


async def delete_namespace(
    url: str, names: Names, models: Iterable[str], bands: Iterable[str], shards: int = 1
) -> None:
    """Delete the namespace's shared queues and exchanges (tests, uninstall).

    Uses a plain connection of its own, so it also works after ``close``, and no robust
    consumer recreates what it deletes.
    """
    conn = await aio_pika.connect(url, timeout=5.0)
    try:
        channel = await conn.channel()
        queues = [names.dead_queue(), names.rejected_queue()]
        for model in models:
            for band in bands:
                queues += names.band_queues(model, band, shards)
        for name in queues:
            await channel.queue_delete(name)
        for exchange in names.exchanges():
            await channel.exchange_delete(exchange)
    finally:
        await conn.close()
