"""Fair share inside a band in the in-process queue: one user's batch does not make
everybody else wait behind it, weights tilt the share, and positions follow the order.

Bounds are in dispatches, not seconds: the slots have a fixed service time, so "served
within one service time per slot" is "at most ``slots`` of A's jobs start before B's"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from slots import NO_AGING, SlotPool, make_job, outcome

from seadragon.config import Settings
from seadragon.queue.bands import Bands, QueuedJob
from seadragon.queue.base import Job, Started, Ticket
from seadragon.queue.fair import FairShare
from seadragon.queue.memory import MemoryQueue

QueueMaker = Callable[..., Awaitable[MemoryQueue]]


@pytest.fixture
async def make_queue() -> AsyncIterator[QueueMaker]:
    made: list[MemoryQueue] = []

    async def factory(**overrides: Any) -> MemoryQueue:
        values: dict[str, Any] = {"aging_interval_s": NO_AGING, "max_queue_wait_s": 60.0}
        queue = MemoryQueue(Settings(**(values | overrides)))
        await queue.start()
        made.append(queue)
        return queue

    yield factory
    for queue in made:
        await queue.close()


def job_of(user: int | None, band: str = "normal", key: int | None = None) -> Job:
    job = make_job(band, label=f"user{user}")
    job.user_id = user
    job.key_id = key
    return job


async def started_at(ticket: Ticket) -> int:
    """Wait for the ticket's ``Started``; return its attempt (so the wait is observable)."""
    async for event in ticket.events():
        if isinstance(event, Started):
            return event.attempt
    raise AssertionError("the job ended without starting")


async def test_a_light_user_is_served_within_one_service_time_per_slot(
    make_queue: QueueMaker,
) -> None:
    queue = await make_queue()
    slots = 2
    async with SlotPool(queue, slots=slots, service_s=0.3, chunks=1) as pool:
        batch = [await queue.submit(job_of(1)) for _ in range(40)]
        for _ in range(slots):
            await asyncio.wait_for(pool.started.get(), 10)
        before = len(pool.starts)
        light = await queue.submit(job_of(2))
        # Fair order: at most one of A's jobs (a tie, broken by age) comes before B's.
        assert light.position.ahead <= 1
        await asyncio.wait_for(started_at(light), 10)
        at = [s.job_id for s in pool.starts].index(light.id)
        assert at - before <= slots - 1
        # A's backlog keeps both slots busy: the next starts are A's, back to back.
        while len(pool.starts) < at + 1 + 2 * slots:
            await asyncio.wait_for(pool.started.get(), 10)
        assert pool.max_busy == slots
        after = pool.starts[at + 1 :]
        assert after and all(s.job_id in {t.id for t in batch} for s in after)
        await queue.clear()
    assert all(pool.delivered[t.id] <= 1 for t in batch)


async def test_fair_share_off_keeps_the_band_fifo(make_queue: QueueMaker) -> None:
    queue = await make_queue(fair_share="off")
    batch = [await queue.submit(job_of(1)) for _ in range(5)]
    light = await queue.submit(job_of(2))
    assert light.position.ahead == 5
    async with SlotPool(queue, slots=1, service_s=0.01, chunks=1) as pool:
        await asyncio.wait_for(outcome(light), 10)
    assert [s.job_id for s in pool.starts] == [t.id for t in [*batch, light]]


async def test_weights_tilt_the_share(make_queue: QueueMaker) -> None:
    queue = await make_queue(fair_share_weights={"1": 3.0})
    heavy = [await queue.submit(job_of(1)) for _ in range(8)]
    light = [await queue.submit(job_of(2)) for _ in range(8)]
    async with SlotPool(queue, slots=1, service_s=0.005, chunks=1) as pool:
        await asyncio.wait_for(asyncio.gather(*(outcome(t) for t in heavy + light)), 20)
    first = [s.job_id for s in pool.starts[:8]]
    heavy_ids = {t.id for t in heavy}
    assert sum(job_id in heavy_ids for job_id in first) == 6


async def test_priority_between_bands_stays_strict(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    low = [await queue.submit(job_of(2, band="low")) for _ in range(3)]
    high = [await queue.submit(job_of(1, band="high")) for _ in range(3)]
    async with SlotPool(queue, slots=1, service_s=0.005, chunks=1) as pool:
        await asyncio.wait_for(asyncio.gather(*(outcome(t) for t in low + high)), 20)
    assert [s.band for s in pool.starts] == ["high"] * 3 + ["low"] * 3


def entry(job: Job, band: int = 0, at: float = 0.0) -> QueuedJob:
    return QueuedJob(job=job, band=band, entered_at=at, deadline=1e9, submitted_at=at)


def test_key_mode_shares_between_keys_of_one_user() -> None:
    bands = Bands(["high"], [NO_AGING], FairShare("key", {}, 1))
    first = [entry(job_of(1, key=10)) for _ in range(3)]
    second = entry(job_of(1, key=11))
    for e in [*first, second]:
        bands.append(e)
    assert list(bands)[:2] == [first[0], second]
    user_bands = Bands(["high"], [NO_AGING], FairShare("user", {}, 1))
    for e in [*first, second]:
        e.band = 0
        user_bands.append(e)
    assert list(user_bands) == [*first, second]


def test_a_returning_user_banks_no_credit() -> None:
    bands = Bands(["high"], [NO_AGING], FairShare("user", {}, 1))
    busy = [entry(job_of(1)) for _ in range(6)]
    for e in busy:
        bands.append(e)
    for e in busy[:4]:  # user 1 was served alone for a while
        bands.take(e)
    newcomer = entry(job_of(2))
    bands.append(newcomer)
    # Lifted to user 1's counter, not 4 turns ahead of it: they alternate from here.
    order = list(bands)
    assert order == [busy[4], newcomer, busy[5]]
    bands.take(busy[4])
    assert bands.first_for(frozenset({"m"})) is newcomer


def test_a_handed_back_job_is_next_again() -> None:
    bands = Bands(["high"], [NO_AGING], FairShare("user", {}, 1))
    a = [entry(job_of(1)) for _ in range(2)]
    b = entry(job_of(2))
    for e in [*a, b]:
        bands.append(e)
    bands.take(a[0])
    assert bands.first_for(frozenset({"m"})) is b
    bands.push_front(a[0])  # the worker handed it back: refunded, at the head
    assert bands.first_for(frozenset({"m"})) is a[0]
