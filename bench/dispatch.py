"""Publish -> start in RabbitMQ mode with an idle worker, by number of fair-share shards.

One gateway and one worker (two ``RabbitMQQueue``s in this process, each with its own
connection, as two processes would have) per shard count, each in a namespace of its
own; jobs are submitted one at a time, from users spread over the shards, to a worker
slot asleep on its doorbell, and the shard counts take turns job by job so that machine
noise hits them alike. Printed per shard count and band:

- ``submit``: the submit call until it returned (depths read, publisher-confirmed);
- ``publish->start``: the submit call until the worker slot holds the job (doorbell,
  then a scan: one ``basic.get`` per shard queue looked at, top band first).

Usage: ``python -m bench.dispatch [--shards 1 4 8] [--jobs 200]`` (RabbitMQ on
127.0.0.1:5672, or ``SEADRAGON_RABBITMQ_URL``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field

from seadragon.config import Settings
from seadragon.queue.base import Job
from seadragon.queue.rabbitmq.manager import RabbitMQQueue

#: Idle time before each job, so the worker slot is asleep on its doorbell.
IDLE_S = 0.02
USERS = 16
WARM_UP = 10


@dataclass
class Pair:
    """A gateway and a worker on one namespace with ``shards`` shards."""

    shards: int
    gateway: RabbitMQQueue
    worker: RabbitMQQueue
    spans: dict[str, list[float]] = field(default_factory=dict)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def open_pair(shards: int, url: str) -> Pair:
    settings = Settings(
        rabbitmq_url=url,
        rabbitmq_namespace=f"sdbench-{uuid.uuid4().hex[:8]}",
        rabbitmq_fair_shards=shards,
        aging_interval_s=1000.0,
    )
    gateway, worker = RabbitMQQueue(settings), RabbitMQQueue(settings)
    await gateway.start()
    await worker.start()
    return Pair(shards, gateway, worker)


async def one_job(pair: Pair, index: int, band: str) -> None:
    take = asyncio.create_task(pair.worker.take("w", ["bench"]))
    await asyncio.sleep(IDLE_S)
    job = Job(id=f"d-{uuid.uuid4().hex[:10]}", kind="chat", model="bench", body={}, band=band)
    job.user_id = 1 + index % USERS
    began = time.perf_counter()
    await pair.gateway.submit(job)
    submitted = time.perf_counter()
    delivery = await asyncio.wait_for(take, 10)
    taken = time.perf_counter()
    assert delivery.job.id == job.id
    await delivery.settle()
    if index >= WARM_UP:
        pair.spans.setdefault(f"{band} submit", []).append(submitted - began)
        pair.spans.setdefault(f"{band} publish->start", []).append(taken - began)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--jobs", type=int, default=200, help="per shard count and band")
    parser.add_argument("--bands", nargs="+", default=["high", "low"])
    args = parser.parse_args()
    url = os.environ.get("SEADRAGON_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    pairs = [await open_pair(shards, url) for shards in args.shards]
    try:
        for index in range(args.jobs + WARM_UP):
            for band in args.bands:
                for pair in pairs:
                    await one_job(pair, index, band)
    finally:
        for pair in pairs:
            await pair.gateway.close()
            await pair.worker.close()
            await pair.worker.delete_namespace()
    load = os.getloadavg()[0]
    print(f"RabbitMQ dispatch, idle worker — Python {sys.version.split()[0]}, load {load:.2f}")
    print(f"command: python -m bench.dispatch {' '.join(sys.argv[1:])}")
    print(f"{'shards':>6}  {'span':22} {'p50 ms':>7} {'p99 ms':>7}")
    for pair in pairs:
        for name, values in pair.spans.items():
            p50, p99 = statistics.median(values) * 1000, pct(values, 0.99) * 1000
            print(f"{pair.shards:>6}  {name:22} {p50:7.2f} {p99:7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
