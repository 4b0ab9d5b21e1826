"""Failures the RabbitMQ queue must survive: a broker restart, a worker losing its
connection mid-job, a job that fails every worker (quorum ``x-delivery-limit``).

The restart test stops the shared broker for a few seconds: it always starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from slots import (
    SlotPool,
    failure,
    finish_all,
    make_job,
    next_event,
    outcome,
    wait_until,
    worker_info,
)
from test_rabbitmq import Maker

from seadragon.errors import QueueUnavailable, RequestCancelled, UpstreamError
from seadragon.queue.base import Chunk, End, Event, Failed, Position, Started
from services import rabbitmqctl

pytestmark = pytest.mark.rabbitmq


async def kill_connection(name: str) -> None:
    """Have the broker close the connection a ``RabbitMQQueue`` named ``name``."""
    out = await rabbitmqctl(
        "list_connections", "pid", "client_properties", "-q", "--no-table-headers"
    )
    pids = [line.split("\t")[0] for line in out.splitlines() if name in line]
    assert len(pids) == 1, out
    await rabbitmqctl("close_connection", pids[0], "seadragon test: worker connection lost")


async def test_broker_restart_loses_no_confirmed_job(rabbit: Maker) -> None:
    gateway, worker = await rabbit(), await rabbit()
    await worker.advertise(worker_info("w1", ["m"], slots=1))
    await wait_until(lambda: "m" in gateway.models())
    tickets = [await gateway.submit(make_job(band)) for band in ("high", "normal", "low")]
    try:
        await rabbitmqctl("stop_app")
        await wait_until(lambda: not gateway.connected and not worker.connected)
        assert "m" in gateway.models()  # silence during an outage does not drop workers
        assert (await gateway.status()).connected is False
        began = time.monotonic()
        with pytest.raises(QueueUnavailable):
            await gateway.submit(make_job("high"))
        refused_s = time.monotonic() - began
    finally:
        await rabbitmqctl("start_app")
    restarted = time.monotonic()
    await wait_until(lambda: gateway.connected and worker.connected, timeout=15)
    reconnected_s = time.monotonic() - restarted

    later = await gateway.submit(make_job("normal"))
    async with SlotPool(worker, slots=1) as pool:
        results = await finish_all([*tickets, later])
        first_start_s = pool.starts[0].at - restarted
    print(
        f"\nbroker restart: submit refused after {refused_s:.2f} s; reconnected "
        f"{reconnected_s:.2f} s after start_app; first job started after {first_start_s:.2f} s"
    )
    assert refused_s < gateway.settings.rabbitmq_submit_timeout_s + 3  # its one budget
    assert all(isinstance(events[-1], End) for events in results)
    assert [s.job_id for s in pool.starts] == [
        t.id for t in (tickets[0], tickets[1], later, tickets[2])
    ]
    assert reconnected_s < 10


@pytest.mark.parametrize("output_before_loss", [False, True], ids=["before-output", "after-output"])
async def test_redelivery_after_a_worker_loses_its_connection(
    rabbit: Maker, output_before_loss: bool
) -> None:
    gateway, first, second = await rabbit(), await rabbit(), await rabbit()
    ticket = await gateway.submit(make_job("high"))
    stream = ticket.events()
    async with asyncio.timeout(5):
        lost = await first.take("w1", ["m"])
    await lost.emit(Started("b1", lost.band, lost.attempt))
    seen: list[Event] = [await next_event(stream)]
    if output_before_loss:
        await lost.emit(Chunk({"index": 0}))
        seen.append(await next_event(stream))

    await kill_connection(first.connection.name)
    async with asyncio.timeout(5):
        await lost.wait_cancelled()  # the worker must stop: the broker gives the job to another
        again = await second.take("w2", ["m"])
    assert again.job.id == ticket.id
    assert again.attempt == 2
    await lost.settle()  # a stale ack is harmless

    if output_before_loss:
        # Replaying would repeat chunk 0 to the caller: the ticket ends instead, and
        # the new attempt is stopped (a redelivery waits for the gateway's verdict).
        with pytest.raises(RequestCancelled):
            await again.emit(Started("b2", again.band, again.attempt))
            async with asyncio.timeout(5):
                await again.wait_cancelled()
            await again.emit(Chunk({"index": 0}))
    else:
        await again.emit(Started("b2", again.band, again.attempt))
        for index in range(2):
            await again.emit(Chunk({"index": index}))
        await again.emit(End())
    await again.settle()
    async with asyncio.timeout(5):
        async for event in stream:
            if not isinstance(event, Position):
                seen.append(event)
    chunks = [e.data["index"] for e in seen if isinstance(e, Chunk)]
    assert len(chunks) == len(set(chunks)), "a chunk reached the caller twice"
    if output_before_loss:
        assert [type(e) for e in seen] == [Started, Chunk, Failed]
        assert isinstance(failure(seen), UpstreamError)
    else:
        assert [type(e) for e in seen] == [Started, Started, Chunk, Chunk, End]
        assert isinstance(seen[1], Started) and seen[1].attempt == 2


async def test_a_buffered_job_lost_after_output_runs_again(rabbit: Maker) -> None:
    # Its caller gets the answer only when it is whole, so nothing was shown twice.
    gateway, first, second = await rabbit(), await rabbit(), await rabbit()
    job = make_job("high")
    job.buffered = True
    ticket = await gateway.submit(job)
    stream = ticket.events()
    async with asyncio.timeout(5):
        lost = await first.take("w1", ["m"])
    await lost.emit(Started("b1", lost.band, lost.attempt))
    await lost.emit(Chunk({"index": 0}))
    seen: list[Event] = [await next_event(stream), await next_event(stream)]

    await kill_connection(first.connection.name)
    async with asyncio.timeout(5):
        again = await second.take("w2", ["m"])
    await lost.settle()
    await again.emit(Started("b2", again.band, again.attempt))  # the gateway says go
    for index in range(2):
        await again.emit(Chunk({"index": index}))
    await again.emit(End())
    await again.settle()
    async with asyncio.timeout(5):
        seen += [event async for event in stream if not isinstance(event, Position)]
    assert [type(e) for e in seen] == [Started, Chunk, Started, Chunk, Chunk, End]
    assert isinstance(seen[2], Started) and seen[2].attempt == 2


@pytest.mark.parametrize("band", ["high", "low"])
async def test_quorum_poison_job_ends_instead_of_blocking(rabbit: Maker, band: str) -> None:
    # In the top band the broker dead-letters it to the dead queue; below, it moves up a
    # band marked as exhausted, and the next worker to take it refuses it.
    settings = {"rabbitmq_quorum": True, "rabbitmq_delivery_limit": 2}
    gateway, worker = await rabbit(**settings), await rabbit(**settings)
    poison = await gateway.submit(make_job(band, label="poison"))
    good = await gateway.submit(make_job(band, label="good"))
    attempts = []
    async with asyncio.timeout(10):
        while True:
            delivery = await worker.take("w", ["m"])
            await delivery.emit(Started("b", delivery.band, delivery.attempt))
            if delivery.job.id == good.id:
                await delivery.emit(End())
                await delivery.settle()
                break
            attempts.append(delivery.attempt)
            await delivery.settle(requeue=True)  # the worker crashed on it
    # Below the top band the broker may move the exhausted job up only after the scan
    # that took "good" passed that band: a slot that goes on taking refuses it.
    async with SlotPool(worker, slots=1) as pool:
        poisoned = await outcome(poison, timeout=5)
    assert not pool.starts  # refused, never run again
    assert attempts == [1, 2, 3]
    assert isinstance(failure(poisoned), UpstreamError)
    assert isinstance((await outcome(good))[-1], End)


def text(record: logging.LogRecord) -> str:
    # aio-pika's callback records hold the callback, which forgets itself once done.
    try:
        return record.getMessage()
    except AttributeError:
        return str(record.msg)


async def test_a_lost_connection_logs_one_warning_and_one_recovery_line(
    rabbit: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    queue = await rabbit()
    await queue.advertise(worker_info("w1", ["m"], slots=1))
    waiting = asyncio.create_task(queue.take("w1", ["m"]))  # a slot waits on its channels
    await wait_until(lambda: "m" in queue.models())
    caplog.clear()
    caplog.set_level(logging.INFO)

    await kill_connection(queue.connection.name)
    await wait_until(lambda: any("restored" in text(r) for r in caplog.records), 15)
    ticket = await queue.submit(make_job("high"))  # every channel works again
    async with asyncio.timeout(10):
        delivery = await waiting
    assert delivery.job.id == ticket.id
    await delivery.settle()

    lines = [(r.levelname, r.name, text(r)) for r in caplog.records]
    loud = [line for line in lines if line[0] not in ("DEBUG", "INFO")]
    assert len(loud) == 1 and loud[0][0] == "WARNING", lines
    assert "lost" in loud[0][2]
    assert [line for line in lines if "restored" in line[2]] == [
        ("INFO", loud[0][1], loud[0][2].replace("lost; reconnecting", "restored"))
    ]
    assert not [r for r in caplog.records if r.exc_info and r.levelno > logging.DEBUG]
    assert not [line for line in lines if line[1].startswith(("aio_pika", "aiormq"))], lines
