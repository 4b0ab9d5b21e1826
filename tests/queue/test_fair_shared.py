"""Fair share inside a band, in both queue modes: one user's batch does not make another
user wait behind it, weights tilt the share, and aging and band order do not change.

RabbitMQ mode shards each band by user (``broker/shards.py``); the users here are picked
on different shards, as two users of a real deployment are unless their hashes collide.
Bounds are in dispatches, not seconds: the slots have a fixed service time, so "served
within one service time per slot" is "at most ``slots`` of A's jobs start before B's".
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from slots import NO_AGING, SlotPool, make_job, outcome
from tenants import job_of, users_on_distinct_shards

from seadragon.config import Settings
from seadragon.queue.base import BaseQueueManager, Started, Ticket
from seadragon.queue.rabbitmq.broker.shards import Shards


def settings_of(queue: BaseQueueManager) -> Settings:
    settings = getattr(queue, "settings", None) or getattr(queue, "_settings", None)
    assert isinstance(settings, Settings)
    return settings


async def started(ticket: Ticket) -> float:
    """Wait for the ticket's ``Started``; when it came (``time.monotonic``)."""
    async for event in ticket.events():
        if isinstance(event, Started):
            return time.monotonic()
    raise AssertionError("the job ended without starting")


async def test_a_light_user_is_not_stuck_behind_a_batch(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING, max_queue_wait_s=60.0)
    heavy, light_user = users_on_distinct_shards(settings_of(queue))
    slots, service_s = 2, 0.3
    async with SlotPool(queue, slots=slots, service_s=service_s, chunks=1) as pool:
        batch = [await queue.submit(job_of(heavy)) for _ in range(20)]
        for _ in range(slots):
            await asyncio.wait_for(pool.started.get(), 10)
        before = len(pool.starts)
        submitted = time.monotonic()
        light = await queue.submit(job_of(light_user))
        # Its shard is empty: at most one of A's jobs (where the rotation stands) is ahead.
        assert light.position.ahead <= 1
        began = await asyncio.wait_for(started(light), 10)
        at = [s.job_id for s in pool.starts].index(light.id)
        assert at - before <= slots - 1, "B waited behind more than one job per slot"
        print(f"\nB started {began - submitted:.3f} s after its submit ({service_s} s service)")
        # A's backlog keeps both slots busy afterwards.
        while len(pool.starts) < at + 1 + 2 * slots:
            await asyncio.wait_for(pool.started.get(), 10)
        assert pool.max_busy == slots
        after = pool.starts[at + 1 :]
        assert after and all(s.job_id in {t.id for t in batch} for s in after)
        await queue.clear()
    # Exactly once: nothing ran twice.
    assert all(count == 1 for count in pool.delivered.values())


async def test_weights_tilt_the_share(queue_factory: Any) -> None:
    probe = await queue_factory(aging_interval_s=NO_AGING)
    heavy, light_user = users_on_distinct_shards(settings_of(probe))
    queue = await queue_factory(
        aging_interval_s=NO_AGING,
        fair_share_weights={str(heavy): 3.0},
        rabbitmq_namespace=settings_of(probe).rabbitmq_namespace + "-w",
    )
    heavy_jobs = [await queue.submit(job_of(heavy)) for _ in range(8)]
    light = [await queue.submit(job_of(light_user)) for _ in range(8)]
    async with SlotPool(queue, slots=1, service_s=0.005, chunks=1) as pool:
        await asyncio.wait_for(asyncio.gather(*(outcome(t) for t in heavy_jobs + light)), 20)
    heavy_ids = {t.id for t in heavy_jobs}
    first = [s.job_id for s in pool.starts[:8]]
    assert sum(job_id in heavy_ids for job_id in first) == 6


async def test_bands_stay_strict_across_users(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    one, two = users_on_distinct_shards(settings_of(queue))
    low = [await queue.submit(job_of(two, band="low")) for _ in range(3)]
    high = [await queue.submit(job_of(one, band="high")) for _ in range(3)]
    normal = [await queue.submit(job_of(two, band="normal")) for _ in range(2)]
    async with SlotPool(queue, slots=1, service_s=0.005, chunks=1) as pool:
        await asyncio.wait_for(asyncio.gather(*(outcome(t) for t in low + high + normal)), 20)
    assert [s.band for s in pool.starts] == ["high"] * 3 + ["normal"] * 2 + ["low"] * 3


async def test_aging_carries_a_user_into_the_band_above(queue_factory: Any) -> None:
    """B's low job ages up the bands and, in the top band, takes its turn before the rest
    of A's high backlog instead of queueing behind it."""
    aging_s = 0.3
    queue = await queue_factory(aging_interval_s=aging_s, max_queue_wait_s=60.0)
    heavy, light_user = users_on_distinct_shards(settings_of(queue))
    async with SlotPool(queue, slots=1, service_s=0.1, chunks=1) as pool:
        batch = [await queue.submit(job_of(heavy, band="high")) for _ in range(15)]
        await asyncio.wait_for(pool.started.get(), 10)
        submitted = time.monotonic()
        aged = await queue.submit(job_of(light_user, band="low"))
        began = await asyncio.wait_for(started(aged), 10)
        await asyncio.gather(*(outcome(t, timeout=20) for t in batch))
    ids = [s.job_id for s in pool.starts]
    at = ids.index(aged.id)
    assert pool.starts[at].band == "high"
    # It cannot start before reaching the top band while A's high jobs wait.
    assert began - submitted >= 2 * aging_s - 0.05
    # A's backlog (1.5 s of it) is far from done when B arrives at the top after 0.6 s.
    assert len(ids) - at - 1 >= 4, "B waited behind A's whole backlog"


def test_anonymous_and_off_use_the_one_queue_of_the_old_layout() -> None:
    shards = Shards(Settings(fair_share="user", rabbitmq_fair_shards=8))
    anonymous = make_job("high")
    assert shards.of(anonymous) == 0
    assert {shards.of(job_of(user)) for user in range(1, 50)} == set(range(8))
    off = Shards(Settings(fair_share="off", rabbitmq_fair_shards=8))
    assert off.count == 1 and off.of(job_of(7)) == 0
