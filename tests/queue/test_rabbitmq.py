"""What only the RabbitMQ queue promises, against the real broker.

Gateways and workers are separate ``RabbitMQQueue`` instances (separate connections,
as separate processes would have), sharing one namespace that is deleted afterwards.
Timings are printed (``-s``) and checked against loose bounds.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import statistics
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import pytest
from slots import failure, make_job, next_event, outcome, wait_until, worker_info

from conftest import RABBITMQ_URL
from seadragon.errors import RequestCancelled, RequestCleared
from seadragon.queue.base import Chunk, End, Started, now_us
from seadragon.queue.rabbitmq import heartbeat
from seadragon.queue.rabbitmq.broker.names import Names
from seadragon.queue.rabbitmq.manager import RabbitMQQueue
from seadragon.queue.rabbitmq.worker import look as looking
from seadragon.queue.rabbitmq.worker.delivery import WINDOW
from services import rabbitmqctl

pytestmark = pytest.mark.rabbitmq

NO_AGING = 1000.0
Maker = Callable[..., Awaitable[RabbitMQQueue]]


async def queue_arguments(namespace: str) -> dict[str, dict[str, Any]]:
    """Declared arguments of the namespace's queues, by queue name."""
    out = await rabbitmqctl("list_queues", "name", "arguments", "type", "--formatter", "json", "-q")
    found = {}
    for entry in json.loads(out):
        if entry["name"].startswith(namespace + "."):
            args = {name: value for name, _kind, value in entry["arguments"]}
            found[entry["name"]] = {**args, "type": entry["type"]}
    return found


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# Topology ---------------------------------------------------------------------------


@pytest.mark.parametrize("quorum", [False, True], ids=["classic", "quorum"])
async def test_band_chain_topology(rabbit: Maker, quorum: bool) -> None:
    queue = await rabbit(aging_interval_s=0.5, aging_intervals={"low": 2.0}, rabbitmq_quorum=quorum)
    await queue.submit(make_job("low"))
    names = Names(queue.settings.rabbitmq_namespace)
    args = await queue_arguments(names.ns)
    high, normal, low = (names.band_queue("m", band) for band in ("high", "normal", "low"))

    assert args[normal]["x-message-ttl"] == 500
    assert args[low]["x-message-ttl"] == 2000
    assert args[normal]["x-dead-letter-exchange"] == names.promote
    assert args[normal]["x-dead-letter-routing-key"] == high
    assert args[low]["x-dead-letter-routing-key"] == normal
    assert "x-message-ttl" not in args[high]
    for band_queue in (high, normal, low):
        assert "x-max-priority" not in args[band_queue]
        assert args[band_queue]["type"] == ("quorum" if quorum else "classic")
        if quorum:
            assert args[band_queue]["x-overflow"] == "reject-publish"
            assert args[band_queue]["x-dead-letter-strategy"] == "at-least-once"
            assert args[band_queue]["x-delivery-limit"] == queue.settings.rabbitmq_delivery_limit
    if quorum:
        assert args[high]["x-dead-letter-exchange"] == names.dead
    # Reply, control, workers queues are private to the process and vanish with it.
    private = [n for n in args if f".{queue.gateway_id}" in n]
    assert sorted(n.split(".")[1] for n in private) == ["control", "reply", "workers"]


async def test_any_model_name_makes_a_safe_queue_name(rabbit: Maker) -> None:
    names = Names("seadragon")
    models = ["llama3.3:70b", "hf.co/org/Model-GGUF:Q4_K_M", "a b/ü~" * 40, "a_b", "a/b"]
    queue_names = [names.band_queue(model, "low") for model in models]
    assert all(re.fullmatch(r"[A-Za-z0-9_.:#-]{1,255}", name) for name in queue_names)
    assert len(set(queue_names)) == len(models)
    assert queue_names[0] == "seadragon.job.llama3.3:70b.low"

    gateway, worker = await rabbit(), await rabbit()
    ticket = await gateway.submit(make_job("high", model=models[1]))
    async with asyncio.timeout(5):
        delivery = await worker.take("w", [models[1]])
    assert delivery.job.id == ticket.id
    await delivery.settle()


# Aging ------------------------------------------------------------------------------


async def test_aging_promotes_on_the_ttl_never_before(rabbit: Maker) -> None:
    interval = 0.3
    gateway = await rabbit(aging_interval_s=interval)
    names = Names(gateway.settings.rabbitmq_namespace)
    await gateway.submit(make_job("low", label="warm-up"))  # declares the chain

    # A spy bound to the promote exchange sees each job the moment it is dead-lettered.
    arrivals: asyncio.Queue[tuple[int, aio_pika.abc.AbstractIncomingMessage]] = asyncio.Queue()
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        spy = await channel.declare_queue(exclusive=True)
        for band in ("high", "normal"):
            await spy.bind(names.promote, routing_key=names.band_queue("m", band))

        async def seen(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            arrivals.put_nowait((now_us(), message))

        await spy.consume(seen, no_ack=True)

        jobs = [make_job("low", label=f"age{i}") for i in range(5)]
        for job in jobs:
            await gateway.submit(job)
        hops: dict[str, list[int]] = {}
        async with asyncio.timeout(5):
            while sum(len(v) for v in hops.values()) < 2 * (len(jobs) + 1):
                at, message = await arrivals.get()
                hops.setdefault(str(message.correlation_id), []).append(at)
    finally:
        await connection.close()

    late_ms = []
    for job in jobs:
        to_normal, to_high = hops[job.id]
        late_ms.append((to_normal - job.enqueued_us) / 1000 - interval * 1000)
        late_ms.append((to_high - to_normal) / 1000 - interval * 1000)
    print(
        f"\naging: promotion late by p50 {statistics.median(late_ms):.1f} ms, "
        f"max {max(late_ms):.1f} ms over {len(late_ms)} hops"
    )
    # The spy's own delivery delays blur each hop by a millisecond or so.
    assert min(late_ms) >= -5, "promoted before its aging interval"
    assert max(late_ms) < 250


# Dispatch ---------------------------------------------------------------------------


async def test_doorbell_wakes_an_idle_worker_at_once(
    rabbit: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the fallback poll out of reach only the doorbell can wake the worker in time.
    monkeypatch.setattr(looking, "POLL_S", 60.0)
    gateway, worker = await rabbit(), await rabbit()
    latencies_ms, submit_ms = [], []
    for i in range(20):
        take = asyncio.create_task(worker.take("w", ["m"]))
        # Idle time, longer than a scan, so the worker is asleep on its doorbell.
        await asyncio.sleep(0.05)
        assert not take.done()
        began = time.monotonic()
        ticket = await gateway.submit(make_job("normal", label=f"bell{i}"))
        accepted = time.monotonic()
        submit_ms.append((accepted - began) * 1000)
        async with asyncio.timeout(5):
            delivery = await take
        latencies_ms.append((time.monotonic() - accepted) * 1000)
        assert delivery.job.id == ticket.id
        await delivery.settle()
    p50, p99 = statistics.median(latencies_ms), percentile(latencies_ms, 99)
    print(
        f"\nsubmit (publish + confirm + doorbell): p50 {statistics.median(submit_ms):.1f} ms; "
        f"submit returned -> idle worker holds the job: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )


async def test_a_job_waits_for_a_worker_of_its_model(rabbit: Maker) -> None:
    gateway, other, serving = await rabbit(), await rabbit(), await rabbit()
    ticket = await gateway.submit(make_job("high", model="rare"))
    assert "rare" not in gateway.models()
    wrong = asyncio.create_task(other.take("w-other", ["common"]))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.5):  # longer than the fallback poll
            await asyncio.shield(wrong)
    info = await gateway.lookup(ticket.id)
    assert info is not None and info.state == "queued"

    async with asyncio.timeout(5):
        delivery = await serving.take("w-rare", ["rare"])
    assert delivery.job.id == ticket.id
    await delivery.settle()
    wrong.cancel()


async def test_oldest_first_across_models_of_one_band(rabbit: Maker) -> None:
    gateway, worker = await rabbit(), await rabbit()
    jobs = [make_job("normal", model=model) for model in ("b", "a", "b", "a", "a", "b")]
    for job in jobs:
        await gateway.submit(job)
    taken = []
    for _ in jobs:
        async with asyncio.timeout(5):
            delivery = await worker.take("w", ["a", "b"])
        taken.append((delivery.job.id, delivery.attempt))
        await delivery.settle()
    assert taken == [(job.id, 1) for job in jobs]


async def test_requeue_counts_attempts(rabbit: Maker) -> None:
    gateway, worker = await rabbit(), await rabbit()
    ticket = await gateway.submit(make_job("high"))
    attempts = []
    for _ in range(3):
        async with asyncio.timeout(5):
            delivery = await worker.take("w", ["m"])
        assert delivery.job.id == ticket.id
        attempts.append(delivery.attempt)
        await delivery.settle(requeue=True)
    assert attempts == [1, 2, 3]


# Publishing and the reply path ------------------------------------------------------


async def test_submit_returns_once_the_broker_holds_the_job(rabbit: Maker) -> None:
    gateway = await rabbit()
    name = Names(gateway.settings.rabbitmq_namespace).band_queue("m", "low")
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        for count in range(1, 6):
            await gateway.submit(make_job("low"))
            declared = await channel.declare_queue(name, passive=True)
            assert declared.declaration_result.message_count == count
    finally:
        await connection.close()


async def test_events_cross_processes_in_order(rabbit: Maker) -> None:
    gateway, worker = await rabbit(), await rabbit()
    ticket = await gateway.submit(make_job("high"))
    async with asyncio.timeout(5):
        delivery = await worker.take("w", ["m"])
    chunks = 500
    emit_ms = []
    await delivery.emit(Started("b", delivery.band, delivery.attempt))
    for index in range(chunks):
        began = time.monotonic()
        await delivery.emit(Chunk({"index": index}))
        emit_ms.append((time.monotonic() - began) * 1000)
    await delivery.emit(End())
    await delivery.settle()
    events = await outcome(ticket)
    assert [e.data["index"] for e in events if isinstance(e, Chunk)] == list(range(chunks))
    assert isinstance(events[-1], End)
    p50, p99 = statistics.median(emit_ms), percentile(emit_ms, 99)
    print(f"\nchunk emit (confirmed, to another connection): p50 {p50:.2f} ms, p99 {p99:.2f} ms")


async def test_a_job_whose_gateway_vanished_before_it_started_is_handed_back(
    rabbit: Maker,
) -> None:
    # The gateway may only be reconnecting (its reply queue is redeclared on reconnect):
    # the job is handed back after a pause, not dropped, for a grace period.
    gateway, worker = await rabbit(), await rabbit()
    ticket = await gateway.submit(make_job("high"))
    await gateway.close()
    async with asyncio.timeout(5):
        delivery = await worker.take("w", ["m"])
    with pytest.raises(RequestCancelled):
        await delivery.emit(Started("b", delivery.band, delivery.attempt))
    assert delivery.cancelled
    await delivery.settle()
    async with asyncio.timeout(5):
        again = await worker.take("w", ["m"])
    assert again.job.id == ticket.id
    await again.settle()


async def test_no_route_to_a_closed_gateway_cancels_the_delivery(rabbit: Maker) -> None:
    gateway, worker = await rabbit(), await rabbit()
    await gateway.submit(make_job("high"))
    async with asyncio.timeout(5):
        delivery = await worker.take("w", ["m"])
    await delivery.emit(Started("b", delivery.band, delivery.attempt))
    await gateway.close()
    with pytest.raises(RequestCancelled):
        # Chunks are not confirmed one by one: the loss shows within a window of emits.
        for index in range(WINDOW + 1):
            await delivery.emit(Chunk({"index": index}))
    assert delivery.cancelled
    await delivery.settle()


# Several gateways -------------------------------------------------------------------


async def test_cancel_and_clear_reach_other_gateways(rabbit: Maker) -> None:
    owner, admin, worker = await rabbit(), await rabbit(), await rabbit()
    await worker.advertise(worker_info("w", ["m"], slots=1))  # how admin learns of "m"
    await wait_until(lambda: "m" in admin.models())
    doomed = await owner.submit(make_job("normal", label="doomed"))
    assert not await admin.cancel(doomed.id)  # not admin's ticket, but it still stops it
    assert isinstance(failure(await outcome(doomed, timeout=2)), RequestCancelled)

    low = [await owner.submit(make_job("low")) for _ in range(2)]
    kept = await owner.submit(make_job("normal", label="kept"))
    assert await admin.clear("low") == 2
    for ticket in low:
        assert isinstance(failure(await outcome(ticket, timeout=2)), RequestCleared)

    async with asyncio.timeout(5):
        delivery = await worker.take("w", ["m"])  # the cancelled job is dropped unstarted
    assert delivery.job.id == kept.id
    await delivery.emit(Started("b", delivery.band, delivery.attempt))
    assert isinstance(await next_event(kept.events()), Started)
    await delivery.settle()


async def test_gateways_learn_workers_from_heartbeats(
    rabbit: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heartbeat, "HEARTBEAT_S", 60.0)  # only the beat on request can tell
    worker = await rabbit()
    await worker.advertise(worker_info("w-gpu", ["m", "n"], slots=4))
    gateway = await rabbit()  # starts after the advert: asks workers to beat at once
    await wait_until(lambda: "n" in gateway.models(), timeout=5.0)
    assert gateway.models()["m"].slots == 4
    assert [w.id for w in (await gateway.status()).workers] == ["w-gpu"]
    await worker.withdraw("w-gpu")
    await wait_until(lambda: not gateway.models(), timeout=5.0)


async def test_a_settled_delivery_is_not_kept_alive_by_its_channel(rabbit: Maker) -> None:
    """A worker's channel lives for hours: what a finished job left on it must go."""
    gateway, worker = await rabbit(), await rabbit()
    gone: list[weakref.ref[object]] = []
    for _ in range(3):
        ticket = await gateway.submit(make_job("high"))
        async with asyncio.timeout(5):
            delivery = await worker.take("w", ["m"])
        await delivery.emit(Started("b", delivery.band, delivery.attempt))
        await delivery.emit(End())
        await delivery.settle()
        await outcome(ticket)
        gone.append(weakref.ref(delivery))
        del delivery
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]
