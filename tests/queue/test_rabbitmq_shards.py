"""RabbitMQ fair-share shards against the real broker: the topology, the old layout's
queues, clears and cancels across shards, and positions in fair order.

The fair order itself (a light user against a batch, weights, aging between users) is
in ``test_fair_shared.py``, run on both queue modes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from slots import SlotPool, failure, outcome
from tenants import job_of, users_on_distinct_shards

from seadragon.errors import RequestCancelled, RequestCleared
from seadragon.queue.base import End, Started
from seadragon.queue.rabbitmq.broker.names import Names
from seadragon.queue.rabbitmq.broker.shards import Shards
from seadragon.queue.rabbitmq.manager import RabbitMQQueue
from services import rabbitmqctl

pytestmark = pytest.mark.rabbitmq

BANDS = ("high", "normal")
Maker = Callable[..., Awaitable[RabbitMQQueue]]


async def declared(namespace: str) -> dict[str, dict[str, Any]]:
    out = await rabbitmqctl("list_queues", "name", "arguments", "--formatter", "json", "-q")
    return {
        entry["name"]: {name: value for name, _kind, value in entry["arguments"]}
        for entry in json.loads(out)
        if entry["name"].startswith(namespace + ".job.")
    }


async def test_every_shard_ages_into_the_same_shard_of_the_band_above(rabbit: Maker) -> None:
    queue = await rabbit(rabbitmq_fair_shards=3, aging_interval_s=0.5)
    await queue.submit(job_of(1, band="low"))
    names = Names(queue.settings.rabbitmq_namespace)
    args = await declared(names.ns)
    assert sorted(args) == sorted(
        names.band_queue("m", band, shard)
        for band in ("high", "normal", "low")
        for shard in range(3)
    )
    # Shard 0 is the queue of the layout before shards, under its old name.
    assert names.band_queue("m", "low", 0) == f"{names.ns}.job.m.low"
    for shard in range(3):
        low, normal = names.band_queue("m", "low", shard), names.band_queue("m", "normal", shard)
        assert args[low]["x-dead-letter-routing-key"] == normal
        assert args[normal]["x-dead-letter-routing-key"] == names.band_queue("m", "high", shard)
        assert "x-message-ttl" not in args[names.band_queue("m", "high", shard)]
    # Declaring again (another process, a restart) changes nothing.
    again = await rabbit(rabbitmq_fair_shards=3, aging_interval_s=0.5)
    await again.submit(job_of(2, band="low"))
    assert await declared(names.ns) == args


async def test_workers_serve_the_queues_of_the_old_layout(rabbit: Maker) -> None:
    """Jobs a gateway without shards queued (one queue per model and band) still run."""
    old_gateway = await rabbit(rabbitmq_fair_shards=1)
    worker = await rabbit(rabbitmq_fair_shards=4)
    users = users_on_distinct_shards(worker.settings, 3)
    assert any(Shards(worker.settings).of(job_of(user)) != 0 for user in users)
    tickets = [await old_gateway.submit(job_of(user, band)) for user in users for band in BANDS]
    async with SlotPool(worker, slots=1, service_s=0.01, chunks=1):
        results = await asyncio.gather(*(outcome(t) for t in tickets))
    assert all(isinstance(events[-1], End) for events in results)


async def test_clear_and_cancel_reach_every_shard(rabbit: Maker) -> None:
    gateway = await rabbit()
    users = users_on_distinct_shards(gateway.settings, 4)
    tickets = [await gateway.submit(job_of(user)) for user in users for _ in range(2)]
    assert (await gateway.status()).bands[1].depth == len(tickets)
    assert await gateway.cancel(tickets[0].id)
    # The cancelled job stays on the broker until a worker drops it, or a clear.
    assert await gateway.clear("normal") == len(tickets)
    results = await asyncio.gather(*(outcome(t, timeout=5) for t in tickets))
    assert isinstance(failure(results[0]), RequestCancelled)
    assert all(isinstance(failure(events), RequestCleared) for events in results[1:])
    assert (await gateway.status()).bands[1].depth == 0
    async with SlotPool(gateway, slots=1, service_s=0.01) as pool:
        late = await gateway.submit(job_of(users[1]))
        events = await outcome(late)
    assert [s.job_id for s in pool.starts] == [late.id]
    assert any(isinstance(e, Started) for e in events)


async def test_positions_follow_the_fair_order(rabbit: Maker) -> None:
    gateway = await rabbit()
    heavy, light = users_on_distinct_shards(gateway.settings)
    batch = [await gateway.submit(job_of(heavy)) for _ in range(10)]
    assert [t.position.ahead for t in batch] == list(range(10))
    newcomer = await gateway.submit(job_of(light))
    # One turn of the heavy user's shard may come first, not its whole backlog.
    assert newcomer.position.ahead == 1
    second = await gateway.submit(job_of(light))
    assert second.position.ahead == 1 + 2
    await gateway.clear()


async def test_a_burst_of_submits_shares_each_depth_read(
    rabbit: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 500 requests at once used to ask the broker for every shard of every band each, so
    # the last publishes missed their deadline and were answered 503.
    gateway = await rabbit()
    queues = gateway._parts.queues
    job = job_of(1)
    await queues.ensure(job.model)
    reads: list[str] = []
    read_depth = queues._read_depth

    async def counted(model: str, name: str) -> int:
        reads.append(name)
        return await read_depth(model, name)

    monkeypatch.setattr(queues, "_read_depth", counted)
    await asyncio.gather(*(queues.shard_depths(job.model, fresh=True) for _ in range(50)))
    queue_count = len(BANDS) * queues.shards.count
    assert len(reads) <= 2 * queue_count  # about once each, not 50 times each
