"""Queue control (``seadragon.queue.control_state``) and per-model ETAs, in both modes.

Pauses and drains go through the public ``BaseQueueManager.switch``; ``SlotPool``
simulates the worker slots. The RabbitMQ-only tests at the end check that a switch
reaches other processes, including one that starts after it was made.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from slots import (
    NO_AGING,
    SlotPool,
    finish_all,
    make_job,
    outcome,
    wait_until,
    worker_info,
)

from seadragon.queue.base import BaseQueueManager, End, Position, Started
from seadragon.queue.control_state import Switch


async def state_of(queue: BaseQueueManager, job_id: str) -> str | None:
    info = await queue.lookup(job_id)
    return None if info is None else info.state


async def wait_state(queue: BaseQueueManager, job_id: str, state: str) -> None:
    async with asyncio.timeout(5):
        while await state_of(queue, job_id) != state:
            await asyncio.sleep(0.02)


async def test_a_paused_band_waits_and_runs_after_resume(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    await queue.switch(Switch.pause("high"), True)
    held = await queue.submit(make_job("high", label="held"))
    other = await queue.submit(make_job("normal", label="other"))
    assert held.position.paused and not other.position.paused
    assert other.position.ahead == 0  # the paused high job does not run first
    stream = held.events()
    for paused in (False, True):  # waiting callers hear of a resume and of a pause
        await queue.switch(Switch.pause("high"), paused)
        async with asyncio.timeout(5):
            event = await anext(stream)
        assert isinstance(event, Position) and event.paused is paused

    async with SlotPool(queue, slots=1, service_s=0.02) as pool:
        assert isinstance((await outcome(other))[-1], End)
        assert await state_of(queue, held.id) == "paused"
        status = await queue.status()
        assert [(p["band"], p["model"]) for p in status.paused] == [("high", None)]
        assert [r.state for r in status.queued] == ["paused"]
        assert [s.job_id for s in pool.starts] == [other.id]

        await queue.switch(Switch.pause("high"), False)
        events = await outcome(held)
    assert isinstance(events[-1], End)
    assert (await queue.status()).paused == []


async def test_a_pause_of_one_model_holds_only_that_model(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    await queue.switch(Switch.pause(model="a"), True)  # every band
    held = [await queue.submit(make_job(band, model="a")) for band in ("high", "low")]
    free = [await queue.submit(make_job(band, model="b")) for band in ("high", "low")]

    async with SlotPool(queue, models=["a", "b"], slots=2, service_s=0.02) as pool:
        await finish_all(free)
        for ticket in held:
            assert await state_of(queue, ticket.id) == "paused"
        await queue.switch(Switch.pause(model="a"), False)
        await finish_all(held)
    assert {s.model for s in pool.starts[:2]} == {"b"}


async def test_paused_jobs_keep_aging_into_a_band_that_runs(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=0.3)
    await queue.switch(Switch.pause("low"), True)
    ticket = await queue.submit(make_job("low"))
    assert ticket.position.paused
    async with SlotPool(queue, slots=1, service_s=0.02) as pool:
        events = await outcome(ticket, timeout=5)
    assert isinstance(events[-1], End)
    started = next(e for e in events if isinstance(e, Started))
    assert started.band != "low"  # ran from a band it aged into
    assert pool.starts[0].band == started.band


async def test_a_drained_worker_finishes_its_job_and_takes_no_new_one(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    first = await queue.submit(make_job("high", label="first"))
    async with asyncio.timeout(5):
        running = await queue.take("w1", ["m"])
    await running.emit(Started("backend-w1", running.band, running.attempt))
    await queue.advertise(worker_info("w1", ["m"], slots=1))

    await queue.switch(Switch.drain("w1"), True)
    await wait_until(lambda: any(w.draining for w in queue.workers() if w.id == "w1"))
    status = await queue.status()
    assert [w.draining for w in status.workers if w.id == "w1"] == [True]
    assert [d["target"] for d in status.draining] == ["w1"]

    waiting = [await queue.submit(make_job("high", label="next")) for _ in range(3)]
    take = asyncio.create_task(queue.take("w1", ["m"]))
    async with SlotPool(queue, worker_id="w2", slots=1, service_s=0.02) as pool:
        await finish_all(waiting)
        assert not take.done()  # the drained worker was given nothing
        await running.emit(End())  # and its running job finished normally
        await running.settle()
        assert isinstance((await outcome(first))[-1], End)
    assert {s.job_id for s in pool.starts} == {t.id for t in waiting}

    await queue.switch(Switch.drain("w1"), False)
    last = await queue.submit(make_job("high", label="last"))
    async with asyncio.timeout(5):
        delivery = await take
    assert delivery.job.id == last.id
    await delivery.settle()
    assert not any(w.draining for w in queue.workers())


async def test_draining_a_backend_by_name(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    await queue.switch(Switch.drain("backend-w1"), True)
    tickets = [await queue.submit(make_job("normal")) for _ in range(2)]
    async with (
        SlotPool(queue, worker_id="w1", slots=1, service_s=0.02) as drained,
        SlotPool(queue, worker_id="w2", slots=1, service_s=0.02) as serving,
    ):
        await finish_all(tickets)
    assert not drained.starts and len(serving.starts) == 2


# ETAs per model ---------------------------------------------------------------------


async def test_eta_reflects_the_slow_model_ahead(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    # Teach the queue two service times: "slow" 0.4 s, "fast" 0.02 s, one slot each.
    async with SlotPool(queue, worker_id="ws", models=["slow"], slots=1, service_s=0.4):
        await finish_all([await queue.submit(make_job("high", model="slow"))])
    async with SlotPool(queue, worker_id="wf", models=["fast"], slots=1, service_s=0.02):
        await finish_all([await queue.submit(make_job("high", model="fast")) for _ in range(8)])
    by_model = (await queue.status()).service_s_by_model
    assert by_model["slow"] >= 0.4 and by_model["fast"] < 0.2

    await queue.advertise(worker_info("ws2", ["slow"], slots=1))
    await wait_until(lambda: "slow" in queue.models())
    ahead = await queue.submit(make_job("high", model="slow"))
    behind = await queue.submit(make_job("high", model="slow"))
    assert ahead.position.eta_s == 0.0
    # One slow job ahead on the one slot: the slow mean, not the mixed one (~0.06 s).
    assert behind.position.eta_s == pytest.approx(by_model["slow"], rel=0.05)
    for ticket in (ahead, behind):
        await queue.cancel(ticket.id)


async def test_the_head_of_a_full_queue_has_a_positive_eta(queue_factory: Any) -> None:
    queue = await queue_factory(aging_interval_s=NO_AGING)
    await queue.advertise(worker_info("w1", ["m"], slots=1))
    await wait_until(lambda: "m" in queue.models())
    running = await queue.submit(make_job("high", label="running"))
    async with asyncio.timeout(5):
        delivery = await queue.take("w1", ["m"])
    await delivery.emit(Started("backend-w1", delivery.band, delivery.attempt))
    await wait_state(queue, running.id, "running")

    head = await queue.submit(make_job("high", label="head"))
    assert head.position.ahead == 0
    assert head.position.eta_s > 0  # the only slot is busy: not "0 s"
    info = await queue.lookup(head.id)
    assert info is not None and info.position is not None and info.position.eta_s > 0
    await queue.cancel(head.id)
    await delivery.emit(End())
    await delivery.settle()


# RabbitMQ: switches reach every process ------------------------------------------------


async def test_switches_reach_other_processes_and_late_joiners(
    queue_factory: Any, queue_kind: str
) -> None:
    if queue_kind != "rabbitmq":
        pytest.skip("one process holds the whole in-process queue")
    namespace = f"sdtest-{uuid.uuid4().hex[:10]}"
    gateway = await queue_factory(rabbitmq_namespace=namespace, aging_interval_s=NO_AGING)
    worker = await queue_factory(rabbitmq_namespace=namespace, aging_interval_s=NO_AGING)
    await gateway.switch(Switch.drain("w-late"), True)
    await gateway.switch(Switch.pause("low"), True)
    await wait_until(lambda: worker.control.paused("low", "m"))

    held = await gateway.submit(make_job("low", label="held"))
    fresh = await gateway.submit(make_job("high", label="fresh"))
    async with SlotPool(worker, worker_id="w-remote", slots=1, service_s=0.02) as pool:
        assert isinstance((await outcome(fresh))[-1], End)
        assert await state_of(gateway, held.id) == "paused"

        # A worker process that starts now asks and learns the drain meant for it.
        late = await queue_factory(rabbitmq_namespace=namespace, aging_interval_s=NO_AGING)
        await wait_until(lambda: late.control.draining("w-late", None))
        async with SlotPool(late, worker_id="w-late", slots=1, service_s=0.02) as drained:
            await worker.switch(Switch.pause("low"), False)  # from another process
            await wait_until(lambda: not gateway.control.paused("low", "m"))
            assert isinstance((await outcome(held))[-1], End)
        assert not drained.starts
    assert [s.job_id for s in pool.starts] == [fresh.id, held.id]


async def test_restored_switches_are_shared(queue_factory: Any, queue_kind: str) -> None:
    """A gateway that starts with switches from its database tells processes already up."""
    if queue_kind != "rabbitmq":
        pytest.skip("one process holds the whole in-process queue")
    namespace = f"sdtest-{uuid.uuid4().hex[:10]}"
    worker = await queue_factory(rabbitmq_namespace=namespace)
    gateway = await queue_factory(rabbitmq_namespace=namespace)
    source = await queue_factory()  # another namespace: only its marks are used
    await source.switch(Switch.drain("gpu1"), True)
    await gateway.restore_control(source.control.marks())
    await wait_until(lambda: worker.control.draining("any", "gpu1"))
