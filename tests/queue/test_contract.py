"""The queue contract (``seadragon.queue.base``), run against every implementation.

Only the public ``BaseQueueManager`` API is used, so the RabbitMQ queue runs this file
unchanged; ``slots.SlotPool`` simulates worker slots. Tests wait on events under
``asyncio.timeout``; sleeping only simulates service time. Checks that depend on how an
implementation computes positions or promotes live in ``test_memory.py`` and friends.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from slots import (
    NO_AGING,
    SlotPool,
    failure,
    finish_all,
    low_job_wait,
    make_job,
    next_event,
    outcome,
    wait_drained,
    wait_until,
    without_positions,
    worker_info,
)

from seadragon.errors import QueueFull, QueueTimeout, RequestCancelled, RequestCleared
from seadragon.queue.base import Chunk, End, Position, Started

BANDS = ("high", "normal", "low")  # the default bands, top first

# Dispatch order ---------------------------------------------------------------------


async def test_strict_band_order_and_fifo_within_band(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    jobs = [make_job(band, label=f"{band}{i}") for i in range(3) for band in reversed(BANDS)]
    tickets = [await queue.submit(job) for job in jobs]

    async with SlotPool(queue, slots=1, service_s=0.01) as pool:
        results = await finish_all(tickets)

    assert all(isinstance(events[-1], End) for events in results)
    by_band = {band: [j.id for j in jobs if j.band == band] for band in BANDS}
    assert [s.job_id for s in pool.starts] == by_band["high"] + by_band["normal"] + by_band["low"]


AGING_S = 0.3
AGING_SERVICE_S = 0.05
# Two hops of aging, then at most ~3 high jobs ahead (backlog plus the running one).
AGING_BOUND_S = 2 * AGING_S + 3 * AGING_SERVICE_S + 0.5


async def test_aging_bounds_the_wait_of_a_low_job(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=AGING_S)
    waited = await low_job_wait(queue, AGING_BOUND_S, AGING_SERVICE_S)
    assert waited is not None, f"low job not started within {AGING_BOUND_S:.2f} s"
    # It cannot start before reaching the top band while high jobs are always waiting.
    assert waited >= 2 * AGING_S - AGING_SERVICE_S


async def test_without_aging_a_low_job_starves(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    assert await low_job_wait(queue, AGING_BOUND_S, AGING_SERVICE_S) is None


async def test_slots_and_models_are_respected(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    jobs = [make_job(BANDS[i % 3], model="a" if i % 3 else "b") for i in range(12)]
    tickets = [await queue.submit(job) for job in jobs]
    orphan = await queue.submit(make_job("high", model="nobody-serves-this"))
    models = {job.id: job.model for job in jobs}

    async with (
        SlotPool(queue, worker_id="wa", models=["a"], slots=2, service_s=0.1) as pool_a,
        SlotPool(queue, worker_id="wb", models=["b"], slots=1, service_s=0.05) as pool_b,
    ):
        results = await finish_all(tickets)
        info = await queue.lookup(orphan.id)

    assert all(isinstance(events[-1], End) for events in results)
    assert {models[s.job_id] for s in pool_a.starts} == {"a"}
    assert {models[s.job_id] for s in pool_b.starts} == {"b"}
    # Never more than the slots, and never a slot idle while its model has work.
    assert pool_a.max_busy == 2
    assert pool_b.max_busy == 1
    assert info is not None and info.state == "queued"
    assert await queue.cancel(orphan.id)


# Position ---------------------------------------------------------------------------


async def test_position_at_submit_and_while_draining(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    await queue.advertise(worker_info("w-advert", ["m"], slots=2))
    await wait_until(lambda: "m" in queue.models() and queue.models()["m"].slots == 2)

    # (band, model, ahead at submit), with 2 slots and the 1 s service time assumed at first
    expected = [("low", "m", 0), ("normal", "m", 0), ("high", "m", 0)]
    expected += [("high", "m", 1), ("high", "other", 0), ("low", "m", 4)]
    tickets = []
    for band, model, ahead in expected:
        ticket = await queue.submit(make_job(band, model=model))
        assert ticket.position.ahead == ahead, (band, model)
        # Two idle slots: the jobs ahead start in pairs, 1 s apart.
        assert ticket.position.eta_s == pytest.approx(ahead // 2 * 1.0, abs=0.01)
        tickets.append(ticket)
    await queue.withdraw("w-advert")

    last = tickets[-1]
    async with SlotPool(queue, slots=1, service_s=0.1):
        events = await outcome(last)
    await queue.cancel(tickets[4].id)

    aheads = [e.ahead for e in events if isinstance(e, Position)]
    assert aheads, "no Position event while the queue drained"
    assert all(a > b for a, b in itertools.pairwise(aheads))
    assert aheads[0] < 4
    assert isinstance(events[-1], End)


# Cancellation, clearing, timeouts -------------------------------------------------


async def test_cancel_queued_job_is_never_delivered(queue_factory: Any) -> None:
    queue = await queue_factory()
    ticket = await queue.submit(make_job("high"))
    assert await queue.cancel(ticket.id)
    events = await outcome(ticket, timeout=2.0)
    assert isinstance(failure(events), RequestCancelled)
    assert not any(isinstance(e, Started) for e in events)
    assert not await queue.cancel("no-such-request")

    other = await queue.submit(make_job("low"))
    async with SlotPool(queue) as pool:
        await outcome(other)
    assert list(pool.delivered) == [other.id]


async def test_cancel_running_job_stops_its_delivery(queue_factory: Any) -> None:
    queue = await queue_factory()
    ticket = await queue.submit(make_job("normal"))
    async with asyncio.timeout(5):
        delivery = await queue.take("w1", ["m"])
    assert delivery.job.id == ticket.id
    assert not delivery.cancelled
    await delivery.emit(Started("backend-w1", delivery.band, delivery.attempt))

    assert await queue.cancel(ticket.id)
    async with asyncio.timeout(1.5):
        await delivery.wait_cancelled()
    assert delivery.cancelled
    events = without_positions(await outcome(ticket, timeout=2.0))
    assert isinstance(events[0], Started)
    assert isinstance(failure(events), RequestCancelled)
    with pytest.raises(RequestCancelled):
        await delivery.emit(Chunk({"object": "chat.completion.chunk"}))
    await delivery.settle()


async def test_clear_one_band_then_all(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    running = await queue.submit(make_job("high", label="running"))
    async with asyncio.timeout(5):
        delivery = await queue.take("w1", ["m"])
    await delivery.emit(Started("backend-w1", delivery.band, delivery.attempt))
    queued = {band: [await queue.submit(make_job(band)) for _ in range(2)] for band in BANDS}

    assert await queue.clear("low") == 2
    for ticket in queued["low"]:
        assert isinstance(failure(await outcome(ticket, timeout=3.0)), RequestCleared)
    depths = {b.name: b.depth for b in (await queue.status()).bands}
    assert depths == {"high": 2, "normal": 2, "low": 0}

    assert await queue.clear() == 4
    for ticket in queued["high"] + queued["normal"]:
        assert isinstance(failure(await outcome(ticket, timeout=3.0)), RequestCleared)

    await delivery.emit(Chunk({"object": "chat.completion.chunk"}))
    await delivery.emit(End())
    await delivery.settle()
    assert [type(e) for e in without_positions(await outcome(running))] == [Started, Chunk, End]

    fresh = await queue.submit(make_job("low"))
    async with SlotPool(queue) as pool:
        await outcome(fresh)
    assert list(pool.delivered) == [fresh.id]


async def test_max_queue_wait_times_out_and_never_delivers(queue_factory: Any) -> None:
    max_wait = 0.3
    queue = await queue_factory(max_queue_wait_s=max_wait, aging_interval_s=NO_AGING)
    submitted = time.monotonic()
    tickets = [await queue.submit(make_job(band)) for band in ("high", "low")]
    for ticket in tickets:
        events = await outcome(ticket, timeout=max_wait + 1.5)
        assert isinstance(failure(events), QueueTimeout)
    assert time.monotonic() - submitted >= max_wait * 0.9

    fresh = await queue.submit(make_job("normal"))
    async with SlotPool(queue) as pool:
        await outcome(fresh)
    assert list(pool.delivered) == [fresh.id]


async def test_full_band_raises_queue_full(queue_factory: Any) -> None:
    queue = await queue_factory(max_queue_depths={"low": 2})
    for _ in range(2):
        await queue.submit(make_job("low"))
    with pytest.raises(QueueFull) as raised:
        await queue.submit(make_job("low"))
    assert raised.value.retry_after is not None and raised.value.retry_after >= 1
    await queue.submit(make_job("high"))  # other bands keep their own depth


# Exactly once -----------------------------------------------------------------------


async def test_every_job_ends_exactly_once(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=0.2)
    async with SlotPool(queue, models=["m", "n"], slots=3, service_s=0.03) as pool:
        jobs = [make_job(BANDS[i % 3], model="mn"[i % 2]) for i in range(36)]
        tickets = list(await asyncio.gather(*(queue.submit(job) for job in jobs)))
        cancelled = {t.id for t in tickets[::7]}
        for job_id in cancelled:
            await queue.cancel(job_id)
        results = await finish_all(tickets)
        await wait_drained(queue)

    for ticket, events in zip(tickets, results, strict=True):
        if ticket.id in cancelled:
            assert isinstance(failure(events), RequestCancelled) or isinstance(events[-1], End)
        else:
            assert isinstance(events[-1], End), events[-1]
            assert pool.delivered[ticket.id] == 1
    assert set(pool.delivered) <= {t.id for t in tickets}
    assert max(pool.delivered.values()) == 1


# Status, lookup, workers ------------------------------------------------------------


async def test_status_and_lookup(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING, max_queue_depths={"normal": 5})
    first = await queue.submit(make_job("high"))
    await queue.submit(make_job("high"))
    low = await queue.submit(make_job("low"))

    status = await queue.status()
    assert status.backend == queue.name and status.connected
    bands = {b.name: b for b in status.bands}
    assert {name: b.depth for name, b in bands.items()} == {"high": 2, "normal": 0, "low": 1}
    assert bands["normal"].max_depth == 5
    assert bands["normal"].oldest_wait_s is None
    assert bands["low"].oldest_wait_s is not None and bands["low"].oldest_wait_s >= 0
    assert len(status.queued) == 3

    info = await queue.lookup(low.id)
    assert info is not None
    assert (info.state, info.band, info.entry_band) == ("queued", "low", "low")
    assert info.position is not None and info.position.ahead == 2
    assert await queue.lookup("no-such-request") is None

    async with asyncio.timeout(5):
        delivery = await queue.take("w1", ["m"])
    assert delivery.job.id == first.id
    await delivery.emit(Started("backend-w1", delivery.band, delivery.attempt))
    stream = first.events()
    assert isinstance(await next_event(stream), Started)  # the gateway has heard of it
    info = await queue.lookup(first.id)
    assert info is not None and info.state == "running"
    assert [r.id for r in (await queue.status()).running] == [first.id]
    await delivery.emit(End())
    await delivery.settle()
    assert isinstance(await next_event(stream), End)
    assert await queue.lookup(first.id) is None


async def test_advertised_workers_define_models(queue_factory: Any) -> None:
    queue = await queue_factory()
    await queue.advertise(worker_info("w-one", ["m", "n"], slots=2))
    await queue.advertise(worker_info("w-two", ["m"], slots=3))
    await wait_until(lambda: queue.models().get("m") is not None and queue.models()["m"].slots == 5)
    assert queue.models()["n"].slots == 2
    assert sorted(queue.models()["m"].backends) == ["backend-w-one", "backend-w-two"]
    assert {w.id for w in (await queue.status()).workers} >= {"w-one", "w-two"}
    assert {w.id for w in queue.workers()} == {w.id for w in (await queue.status()).workers}

    await queue.withdraw("w-one")
    await wait_until(lambda: "n" not in queue.models())
    assert queue.models()["m"].slots == 3
    assert "w-one" not in {w.id for w in queue.workers()}
