"""The in-process queue's dispatch: idle slots are indexed, not scanned one by one.

The order it gives is the one the contract states (``test_contract.py``); these tests pin
what the index must keep across backends serving different models, and that an event
with nothing to hand out does not look at the bands once per idle slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slots import make_job

import seadragon.queue.memory_report as report
from seadragon.config import Settings
from seadragon.queue.bands import QueuedJob
from seadragon.queue.base import Delivery
from seadragon.queue.control_state import Switch
from seadragon.queue.memory import MemoryQueue


@pytest.fixture
async def queue() -> AsyncIterator[MemoryQueue]:
    made = MemoryQueue(Settings(aging_interval_s=1000.0, max_queue_wait_s=30.0))
    await made.start()
    yield made
    await made.close()


def count_first_for(queue: MemoryQueue) -> list[int]:
    """Count calls of the bands' scan (``calls[0]``) from now on."""
    calls = [0]
    bands = queue._bands
    scan = bands.first_for

    def counted(models: frozenset[str], *rest: Any) -> QueuedJob | None:
        calls[0] += 1
        return scan(models, *rest)

    bands.first_for = counted  # type: ignore[method-assign]
    return calls


def takers(queue: MemoryQueue, worker: str, models: list[str], n: int) -> list[Any]:
    return [asyncio.create_task(queue.take(worker, models)) for _ in range(n)]


async def test_many_idle_slots_and_an_empty_queue_do_not_scan_the_bands(
    queue: MemoryQueue,
) -> None:
    slots = takers(queue, "a", ["m", "shared"], 100) + takers(queue, "b", ["n", "shared"], 100)
    await asyncio.sleep(0)  # every slot reaches take()
    calls = count_first_for(queue)
    for _ in range(20):
        await queue.status()
    assert calls[0] == 0
    # Work for a model no idle slot serves is not looked for per slot either.
    await queue.submit(make_job("high", model="elsewhere"))
    await queue.status()
    assert calls[0] == 0
    # One job for one backend: one scan, and the oldest slot of that backend gets it.
    job = make_job("low", model="n")
    await queue.submit(job)
    assert calls[0] == 1
    done, _ = await asyncio.wait(slots, return_when=asyncio.FIRST_COMPLETED)
    assert [t.result().job.id for t in done] == [job.id]
    assert done == {slots[100]}
    for task in slots:
        task.cancel()


async def test_the_longest_waiting_slot_that_serves_the_model_gets_the_job(
    queue: MemoryQueue,
) -> None:
    first = takers(queue, "a", ["m", "shared"], 1)
    await asyncio.sleep(0)
    second = takers(queue, "b", ["n", "shared"], 2)
    await asyncio.sleep(0)
    third = takers(queue, "a", ["m", "shared"], 1)
    await asyncio.sleep(0)
    jobs = [make_job("normal", model=model) for model in ("shared", "shared", "m", "shared")]
    for job in jobs:
        await queue.submit(job)
    got: list[Delivery] = [await t for t in (*first, *second, *third)]
    # Oldest slot first among those that serve the model, as one scan of every slot would.
    assert [d.job.id for d in got] == [jobs[0].id, jobs[1].id, jobs[3].id, jobs[2].id]


async def test_band_order_holds_across_the_index(queue: MemoryQueue) -> None:
    low, high = make_job("low", model="shared"), make_job("high", model="m")
    await queue.submit(low)
    await queue.submit(high)
    delivery = await queue.take("a", ["m", "shared"])
    assert delivery.job.id == high.id
    delivery = await queue.take("b", ["n", "shared"])
    assert delivery.job.id == low.id


async def test_a_cancelled_slot_leaves_the_index_and_the_next_one_is_served(
    queue: MemoryQueue,
) -> None:
    gone, stays = takers(queue, "a", ["m"], 1)[0], takers(queue, "a", ["m"], 1)[0]
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    job = make_job("high", model="m")
    await queue.submit(job)
    assert (await stays).job.id == job.id
    assert len(queue._idle) == 0


async def test_a_slot_with_only_paused_work_does_not_hold_up_the_others(
    queue: MemoryQueue,
) -> None:
    first = takers(queue, "a", ["m"], 1)[0]
    await asyncio.sleep(0)
    second = takers(queue, "b", ["n"], 1)[0]
    await asyncio.sleep(0)
    await queue.switch(Switch.pause(model="m"), True)
    held, runs = make_job("high", model="m"), make_job("low", model="n")
    await queue.submit(held)
    await queue.submit(runs)
    async with asyncio.timeout(5):
        assert (await second).job.id == runs.id
    assert not first.done()
    await queue.switch(Switch.pause(model="m"), False)
    assert (await first).job.id == held.id


async def test_a_draining_worker_s_slots_are_passed_over_for_another_worker_s(
    queue: MemoryQueue,
) -> None:
    drained = takers(queue, "a", ["m"], 2)
    await asyncio.sleep(0)
    other = takers(queue, "b", ["m"], 1)[0]
    await asyncio.sleep(0)
    await queue.switch(Switch.drain("a"), True)
    job = make_job("high", model="m")
    await queue.submit(job)
    async with asyncio.timeout(5):
        assert (await other).job.id == job.id
    assert not any(t.done() for t in drained)
    for task in drained:
        task.cancel()


async def test_positions_are_computed_only_while_someone_waits(
    queue: MemoryQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed = [0]
    place_all = report.place_all

    def counted(*args: Any) -> None:
        computed[0] += 1
        place_all(*args)

    monkeypatch.setattr(report, "place_all", counted)
    slots = takers(queue, "a", ["m"], 64)
    await asyncio.sleep(0)
    for _ in range(64):  # every job finds a slot: nobody ever waits
        await queue.submit(make_job("high", model="m"))
    await queue.status()
    assert computed[0] == 0
    # A job with no slot waits, and gets its position.
    ticket = await queue.submit(make_job("high", model="m"))
    assert computed[0] >= 1
    assert ticket.position.ahead == 0
    for task in slots:
        task.cancel()
