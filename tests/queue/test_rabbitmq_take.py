"""How many broker round trips a take costs when many slots of one process are idle.

A ring wakes every idle slot; the slots that serve the same models look one at a time,
and a slot skips its scan when one that began after it last looked found nothing with
no ring since (``worker/take.py``, ``worker/look.py``). Jobs that ring no bell are covered in
``test_rabbitmq_recovery.py`` and by the aging tests of ``test_contract.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slots import NO_AGING, make_job
from tenants import job_of

from conftest import queue_settings
from seadragon.queue.rabbitmq.manager import RabbitMQQueue
from seadragon.queue.rabbitmq.worker import known as known_module
from seadragon.queue.rabbitmq.worker.take import Taker
from services import require_rabbitmq

pytestmark = pytest.mark.rabbitmq

SLOTS = 16


@pytest.fixture
async def queue() -> AsyncIterator[RabbitMQQueue]:
    require_rabbitmq()
    settings = queue_settings(
        aging_interval_s=NO_AGING,
        rabbitmq_namespace=f"sdtest-{uuid.uuid4().hex[:10]}",
        rabbitmq_fair_shards=4,
    )
    made = RabbitMQQueue(settings)
    await made.start()
    yield made
    await made.close()
    await made.delete_namespace()


class Counted:
    """Counts the scans that went to the broker, and the looks (scanned or skipped) done."""

    def __init__(self, taker: Taker, looks: int) -> None:
        self.scans = 0
        self.looked = 0
        self.done = asyncio.Event()
        scan, look = taker.scanner._scan, taker._look

        async def counted_scan(models: list[str]) -> object:
            self.scans += 1
            return await scan(models)

        async def counted_look(*args: object) -> object:
            try:
                return await look(*args)  # type: ignore[arg-type]
            finally:
                self.looked += 1
                if self.looked >= looks:
                    self.done.set()

        taker.scanner._scan = counted_scan  # type: ignore[method-assign,assignment]
        taker._look = counted_look  # type: ignore[method-assign,assignment]


async def test_idle_slots_of_one_process_do_not_all_scan_for_one_job(
    queue: RabbitMQQueue,
) -> None:
    job = make_job("low")
    ticket = await queue.submit(job)
    counted = Counted(queue._taker, SLOTS)
    takes = [asyncio.create_task(queue.take("w1", ["m"])) for _ in range(SLOTS)]
    try:
        await counted.done.wait()  # every slot looked once: one took the job
        taken = [take.result() for take in takes if take.done()]
        assert [delivery.job.id for delivery in taken] == [job.id]
        # One scan finds the job, one more finds nothing (and the bell's local ring may
        # ask for one more each); the other slots take that answer as theirs.
        assert counted.scans <= 4
        await taken[0].settle()
        await ticket.cancel()
    finally:
        for take in takes:
            take.cancel()
        await asyncio.gather(*takes, return_exceptions=True)


async def test_a_slot_woken_by_a_ring_asks_only_the_queue_that_rang(
    queue: RabbitMQQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Knowledge older than the fallback poll is not used; this test is not about time.
    monkeypatch.setattr(known_module, "KNOWN_FOR_S", 3600.0)
    taker = queue._taker
    gets: list[str] = []
    looked = taker.scanner.known.looked

    def counted(model: str, band: str, shard: int, *args: Any) -> None:
        gets.append(f"{band}.{shard}")
        looked(model, band, shard, *args)

    taker.scanner.known.looked = counted  # type: ignore[method-assign]
    for user in range(1, 4):  # scans learn that every other queue is empty
        job = job_of(user, band="low")
        await queue.submit(job)
        delivery = await queue.take("w1", ["m"])
        assert delivery.job.id == job.id
        await delivery.settle()
    gets.clear()
    take = asyncio.create_task(queue.take("w1", ["m"]))
    job = job_of(4, band="low")
    await queue.submit(job)
    delivery = await take
    assert delivery.job.id == job.id
    shard = queue._parts.queues.shards.of(job)
    # Without what earlier scans learnt: every shard of high and normal, then low's. (The
    # gateway here also wakes this process's slots before its publish is confirmed, so
    # the rung queue may be asked twice.)
    assert set(gets) == {f"low.{shard}"}
    await delivery.settle()
