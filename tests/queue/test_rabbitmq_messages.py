"""Messages that are not Seadragon's, on every Seadragon queue, against the real broker.

Each one must be refused by the process that hears it, logged once, kept in the
namespace's rejected queue with the reason, and must not stop that process: a job
submitted afterwards still runs from gateway to worker and back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import pytest
from slots import SlotPool, make_job, outcome

from conftest import RABBITMQ_URL
from seadragon.queue.base import End, Job
from seadragon.queue.rabbitmq.broker.codec import job_message
from seadragon.queue.rabbitmq.broker.messages import H_REJECTED, H_REJECTED_FROM
from seadragon.queue.rabbitmq.broker.names import Names
from seadragon.queue.rabbitmq.manager import RabbitMQQueue

pytestmark = pytest.mark.rabbitmq

Maker = Callable[..., Awaitable[RabbitMQQueue]]
REJECTS_LOGGER = "seadragon.queue.rabbitmq.broker.rejects"


def a_job() -> Job:
    return make_job("high")


#: Bodies and properties nobody should take for a Seadragon message of any queue.
FOREIGN: dict[str, dict[str, Any]] = {
    "not json": {"body": b"\x00\xffhello"},
    "json of another shape": {"body": b'{"task": "resize", "args": [1, 2]}'},
    "a list": {"body": b"[1, 2, 3]"},
    "truncated": {"body": b'{"id": "x", "kind": "chat", "mod'},
}


def job_with(job: Job, **changes: Any) -> aio_pika.Message:
    """A job message of ``job`` with some part spoiled."""
    message = job_message(job, "nobody", job.deadline_us(30.0))
    for name, value in changes.items():
        setattr(message, name, value)
    return message


async def publish(routing_key: str, message: aio_pika.Message, exchange: str = "") -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        target = channel.default_exchange
        if exchange:
            target = await channel.get_exchange(exchange, ensure=False)
        await target.publish(message, routing_key=routing_key)
    finally:
        await connection.close()


async def rejected(names: Names, count: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """The first ``count`` messages kept in the rejected queue (waits for them)."""
    connection = await aio_pika.connect(RABBITMQ_URL)
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    try:
        channel = await connection.channel()
        async with asyncio.timeout(10):
            while len(got) < count:
                try:
                    queue = await channel.declare_queue(names.rejected_queue(), passive=True)
                    message = await queue.get(no_ack=True, fail=False)
                except aio_pika.exceptions.ChannelNotFoundEntity:
                    channel = await connection.channel()
                    message = None
                if message is None:
                    await asyncio.sleep(0.05)
                else:
                    got.append(message)
    finally:
        await connection.close()
    return got


def rejections(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == REJECTS_LOGGER]


async def still_works(gateway: RabbitMQQueue, worker: RabbitMQQueue) -> None:
    async with SlotPool(worker, worker_id="after"):
        events = await outcome(await gateway.submit(a_job()))
    assert isinstance(events[-1], End)


async def test_foreign_jobs_on_a_band_queue_are_rejected_once_and_kept(
    rabbit: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=REJECTS_LOGGER)
    gateway, worker = await rabbit(), await rabbit()
    names = Names(gateway.settings.rabbitmq_namespace)
    async with SlotPool(worker, worker_id="before"):  # declares the band chain of "m"
        await outcome(await gateway.submit(a_job()))

    band = names.band_queue("m", "high")
    spoiled = [
        *(aio_pika.Message(**props) for props in FOREIGN.values()),
        job_with(a_job(), correlation_id="someone-else"),  # id and correlation id disagree
        job_with(a_job(), reply_to=None),  # no gateway to answer
        job_with(a_job(), headers={"sd-deadline-us": 1.5}),  # a float deadline, no enqueue time
        aio_pika.Message(b'{"id": "j", "kind": "chat", "model": "m", "body": [], "band": "high"}'),
    ]
    for message in spoiled:
        await publish(band, message)

    await still_works(gateway, worker)  # the slot meets them first, ahead of the good job
    kept = await rejected(names, len(spoiled))
    assert {m.headers[H_REJECTED_FROM] for m in kept} == {band}
    assert all(m.headers[H_REJECTED] for m in kept)
    assert sorted(m.body for m in kept) == sorted(m.body for m in spoiled)
    assert len(rejections(caplog)) == len(spoiled)  # once each: none came back


@pytest.mark.parametrize("role", ["reply", "control", "workers", "doorbell"])
async def test_foreign_messages_on_a_process_queue_are_rejected_once_and_kept(
    rabbit: Maker, caplog: pytest.LogCaptureFixture, role: str
) -> None:
    caplog.set_level(logging.WARNING, logger=REJECTS_LOGGER)
    gateway, worker = await rabbit(), await rabbit()
    names = Names(gateway.settings.rabbitmq_namespace)
    async with SlotPool(worker, worker_id="before"):  # the worker listens on its doorbell
        await outcome(await gateway.submit(a_job()))
    owner = worker if role == "doorbell" else gateway
    target = names.private_queue(role, owner.gateway_id)

    spoiled = [aio_pika.Message(**props) for props in FOREIGN.values()]
    if role == "reply":
        # Well-formed events under headers that do not number them, and a verdict of nonsense.
        spoiled.append(aio_pika.Message(b'{"t": "end"}', correlation_id="j1"))
        spoiled.append(aio_pika.Message(b"", headers={"sd-verdict": "maybe"}))
        spoiled.append(
            aio_pika.Message(
                b'{"t": "shout"}',
                correlation_id="j1",
                headers={"sd-delivery": "t", "sd-attempt": 1, "sd-seq": 1},
            )
        )
    if role in ("control", "workers"):
        spoiled.append(aio_pika.Message(b'{"op": "cancel", "ids": "all", "from": "x"}'))
        spoiled.append(aio_pika.Message(b'{"op": "beat", "worker": {"id": 1}, "from": "x"}'))
    if role == "doorbell":
        spoiled = spoiled[:1]  # x-max-length=1: one at a time
    for message in spoiled:
        await publish(target, message)
        if role == "doorbell":
            await rejected(names, 1)

    kept = [] if role == "doorbell" else await rejected(names, len(spoiled))
    assert all(m.headers[H_REJECTED_FROM] == target for m in kept)
    assert len(rejections(caplog)) == len(spoiled)
    await still_works(gateway, worker)
    assert len(rejections(caplog)) == len(spoiled)


async def test_a_foreign_message_on_the_dead_queue_is_rejected_and_a_real_one_fails_its_job(
    rabbit: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=REJECTS_LOGGER)
    gateway = await rabbit(rabbitmq_quorum=True)
    names = Names(gateway.settings.rabbitmq_namespace)
    ticket = await gateway.submit(job := a_job())
    await publish(names.dead_queue(), aio_pika.Message(b"garbage"), exchange=names.dead)
    dead = job_message(job, gateway.gateway_id, job.deadline_us(30.0))
    await publish(names.dead_queue(), dead, exchange=names.dead)

    [kept] = await rejected(names, 1)
    assert kept.body == b"garbage" and kept.headers[H_REJECTED_FROM] == names.dead_queue()
    events = await outcome(ticket)
    assert "giving up" in str(getattr(events[-1], "error", ""))
    assert len(rejections(caplog)) == 1
