"""What only the in-process queue promises: exact positions, precise aging, hand-off races,
requeue and ``close``. The shared contract is in ``test_contract.py``."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from slots import SlotPool, failure, make_job, outcome, wait_until, worker_info

from seadragon.config import Settings
from seadragon.errors import (
    Conflict,
    InvalidRequest,
    QueueFull,
    QueueTimeout,
    QueueUnavailable,
    RequestCancelled,
    ServiceUnavailable,
    UpstreamError,
)
from seadragon.queue.base import End, Position, Started
from seadragon.queue.memory import MemoryQueue

QueueMaker = Callable[..., Awaitable[MemoryQueue]]
NO_AGING = 1000.0
#: How late a timer-driven promotion or expiry may be. The timers themselves are within a
#: few ms; the margin is for a busy two-core machine, where a test must not flake.
PRECISION_S = 0.25


@pytest.fixture
async def make_queue() -> AsyncIterator[QueueMaker]:
    made: list[MemoryQueue] = []

    async def factory(**overrides: Any) -> MemoryQueue:
        values: dict[str, Any] = {"aging_interval_s": NO_AGING, "max_queue_wait_s": 30.0}
        queue = MemoryQueue(Settings(**(values | overrides)))
        await queue.start()
        made.append(queue)
        return queue

    yield factory
    for queue in made:
        await queue.close()


async def band_changes(queue: MemoryQueue, job_id: str, count: int) -> list[tuple[str, float]]:
    """Times (since now) at which the job was first seen in each of ``count`` new bands."""
    began = time.monotonic()
    info = await queue.lookup(job_id)
    assert info is not None
    seen: list[tuple[str, float]] = []
    band = info.band

    def moved() -> bool:
        nonlocal band
        # A peek that applies nothing, so only the queue's own timer can move the job.
        current = queue._bands.names[queue._queued[job_id].band]
        if current != band:
            band = current
            seen.append((current, time.monotonic() - began))
        return len(seen) == count

    async with asyncio.timeout(5):
        while not moved():
            await asyncio.sleep(0.002)
    return seen


async def test_aging_timer_promotes_an_idle_queue_on_time(make_queue: QueueMaker) -> None:
    queue = await make_queue(aging_interval_s=0.3)
    ticket = await queue.submit(make_job("low"))
    changes = await band_changes(queue, ticket.id, 2)
    assert [band for band, _ in changes] == ["normal", "high"]
    (_, to_normal), (_, to_high) = changes
    assert 0.3 - 0.002 <= to_normal < 0.3 + PRECISION_S
    # Each hop counts from when the job was due, so lateness does not add up.
    assert 0.6 - 0.002 <= to_high < 0.6 + PRECISION_S


async def test_queue_timeout_fires_on_time_when_idle(make_queue: QueueMaker) -> None:
    queue = await make_queue(max_queue_wait_s=0.3)
    began = time.monotonic()
    ticket = await queue.submit(make_job("normal"))
    assert isinstance(failure(await outcome(ticket, timeout=2)), QueueTimeout)
    assert 0.3 - 0.002 <= time.monotonic() - began < 0.3 + PRECISION_S


async def test_promoted_job_joins_the_tail_of_the_band_above(make_queue: QueueMaker) -> None:
    queue = await make_queue(aging_intervals={"low": 0.2})
    before = await queue.submit(make_job("normal"))
    promoted = await queue.submit(make_job("low"))
    await band_changes(queue, promoted.id, 1)
    after = await queue.submit(make_job("normal"))
    info = await queue.lookup(promoted.id)
    assert info is not None and (info.band, info.entry_band) == ("normal", "low")
    assert info.position is not None and info.position.ahead == 1
    order = [(await queue.take("w1", ["m"])).job.id for _ in range(3)]
    assert order == [before.id, promoted.id, after.id]


async def test_positions_follow_every_change(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    low = await queue.submit(make_job("low"))
    high = await queue.submit(make_job("high"))  # jumps ahead of the low job
    assert await queue.cancel(high.id)
    tickets = [await queue.submit(make_job("normal")) for _ in range(3)]
    assert [t.position.ahead for t in tickets] == [0, 1, 2]
    async with SlotPool(queue, slots=1, service_s=0.01):
        events = await outcome(low)
    aheads = [e.ahead for e in events if isinstance(e, Position)]
    # Up for the high job, down at its cancel, up per normal job, down per dispatch.
    assert aheads == [1, 0, 1, 2, 3, 2, 1, 0]
    assert isinstance(events[-1], End)


async def test_observed_service_time_drives_eta_and_retry_after(make_queue: QueueMaker) -> None:
    queue = await make_queue(max_queue_depths={"low": 20})
    assert (await queue.status()).mean_service_s is None
    warmup = [await queue.submit(make_job("high")) for _ in range(2)]
    async with SlotPool(queue, slots=1, service_s=0.2, chunks=1):
        for ticket in warmup:
            await outcome(ticket)
    mean = (await queue.status()).mean_service_s
    assert mean is not None and 0.2 <= mean < 0.45

    await queue.advertise(worker_info("w2", ["m"], slots=2))
    tickets = [await queue.submit(make_job("low")) for _ in range(20)]
    # Two idle slots: jobs 0-1 start now, 2-3 after one mean, 4-5 after two.
    assert tickets[5].position.eta_s == pytest.approx(2 * mean, abs=0.01)
    with pytest.raises(QueueFull) as raised:
        await queue.submit(make_job("low"))
    assert raised.value.retry_after == math.ceil(20 * mean / 2)


async def test_requeue_puts_the_job_back_at_the_head_of_its_band(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    first = await queue.submit(make_job("normal"))
    second = await queue.submit(make_job("normal"))
    delivery = await queue.take("w1", ["m"])
    assert (delivery.job.id, delivery.attempt) == (first.id, 1)
    await delivery.settle(requeue=True)

    info = await queue.lookup(first.id)
    assert info is not None and info.state == "queued" and info.band == "normal"
    assert second.position.ahead == 1
    again = await queue.take("w1", ["m"])
    assert (again.job.id, again.band, again.attempt) == (first.id, "normal", 2)


async def test_take_cancelled_after_hand_off_returns_the_job(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    take = asyncio.create_task(queue.take("w1", ["m"]))
    await asyncio.sleep(0)  # let the slot start waiting
    ticket = await queue.submit(make_job("high"))  # handed to the waiting slot at once
    take.cancel()  # before the slot resumed to receive it
    with pytest.raises(asyncio.CancelledError):
        await take
    info = await queue.lookup(ticket.id)
    assert info is not None and info.state == "queued"
    delivery = await queue.take("w2", ["m"])
    assert (delivery.job.id, delivery.attempt) == (ticket.id, 1)


async def test_job_cancelled_before_hand_out_is_skipped(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    take = asyncio.create_task(queue.take("w1", ["m"]))
    await asyncio.sleep(0)
    gone = await queue.submit(make_job("high"))
    assert await queue.cancel(gone.id)  # already handed over, not yet received
    assert isinstance(failure(await outcome(gone, timeout=3)), RequestCancelled)
    wanted = await queue.submit(make_job("low"))
    async with asyncio.timeout(2):
        delivery = await take
    assert delivery.job.id == wanted.id


async def test_settle_without_an_ending_fails_the_ticket(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    ticket = await queue.submit(make_job("high"))
    delivery = await queue.take("w1", ["m"])
    await delivery.emit(Started("b", delivery.band, delivery.attempt))
    await delivery.settle()
    await delivery.settle()  # a second settle is harmless
    events = await outcome(ticket, timeout=3)
    assert isinstance(failure(events), UpstreamError)


async def test_running_info_names_the_backend(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    await queue.advertise(worker_info("w1", ["m"], slots=1))
    ticket = await queue.submit(make_job("low"))
    await queue.take("w1", ["m"])
    info = await queue.lookup(ticket.id)
    assert info is not None and (info.state, info.backend) == ("running", "backend-w1")
    assert info.waited_s >= 0


async def test_bad_requests_are_refused(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    job = make_job("high")
    await queue.submit(job)
    with pytest.raises(Conflict):
        await queue.submit(job)
    with pytest.raises(InvalidRequest):
        await queue.submit(make_job("urgent"))
    with pytest.raises(InvalidRequest):
        await queue.clear("urgent")
    assert queue.connected


async def test_close_ends_everything_and_wakes_takers(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    running = await queue.submit(make_job("high"))
    delivery = await queue.take("w1", ["m"])
    queued = await queue.submit(make_job("low"))
    idle = asyncio.create_task(queue.take("w2", ["other"]))
    await asyncio.sleep(0)

    await queue.close()
    for ticket in (queued, running):
        error = failure(await outcome(ticket, timeout=3))
        assert isinstance(error, ServiceUnavailable) and error.message == "gateway shutting down"
    assert delivery.cancelled
    with pytest.raises(QueueUnavailable):
        await asyncio.wait_for(idle, 1)
    with pytest.raises(QueueUnavailable):
        await queue.take("w3", ["m"])
    with pytest.raises(QueueUnavailable):
        await queue.submit(make_job("high"))
    await delivery.settle()
    await queue.close()  # idempotent
    await wait_until(lambda: not queue.models())
