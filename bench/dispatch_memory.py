"""The in-process queue's dispatch cost against the number of idle slots.

```sh
.venv/bin/python -m bench.dispatch_memory --slots 16,256,1024 --jobs 2000
```

A ``MemoryQueue`` with ``--slots`` slots waiting in ``take``, spread over ``--backends``
workers (each serving its own model plus a shared one), and no HTTP: one request at a
time is submitted for a random model and the time from ``submit`` to the slot holding
the delivery is measured (p50, p99), as is how often ``Bands.first_for`` ran per queue
event. Then ``--idle-events`` queue events that have nothing to dispatch (``status``
calls) are timed with every slot idle and an empty queue.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid

from seadragon.config import Settings
from seadragon.queue.base import End, Job
from seadragon.queue.memory import MemoryQueue

SHARED = "shared"


def job(model: str) -> Job:
    return Job(
        id=uuid.uuid4().hex,
        kind="chat",
        model=model,
        body={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        band=random.choice(["high", "normal", "low"]),
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(slots: int, backends: int, jobs: int, idle_events: int) -> dict[str, float]:
    queue = MemoryQueue(Settings(max_queue_wait_s=600))
    await queue.start()
    calls = 0
    first_for = queue._bands.first_for  # counted, as a profiler would

    def counted(models: frozenset[str], *rest: object) -> object:
        nonlocal calls
        calls += 1
        return first_for(models, *rest)  # type: ignore[arg-type]

    queue._bands.first_for = counted  # type: ignore[method-assign]
    started: dict[str, float] = {}
    done: dict[str, asyncio.Future[None]] = {}

    async def slot(worker: int) -> None:
        while True:
            delivery = await queue.take(f"w{worker}", [f"m{worker}", SHARED])
            started[delivery.job.id] = time.perf_counter()
            await delivery.emit(End())
            await delivery.settle()
            done[delivery.job.id].set_result(None)

    tasks = [asyncio.create_task(slot(i % backends)) for i in range(slots)]
    await asyncio.sleep(0.05)  # every slot reaches take()
    models = [f"m{i}" for i in range(backends)] + [SHARED]
    latencies = []
    calls = 0
    for _ in range(jobs):
        item = job(random.choice(models))
        done[item.id] = asyncio.get_running_loop().create_future()
        began = time.perf_counter()
        await queue.submit(item)
        await done[item.id]
        latencies.append((started[item.id] - began) * 1000)
    per_job = calls / jobs
    calls = 0
    began = time.perf_counter()
    for _ in range(idle_events):
        await queue.status()
    idle_us = (time.perf_counter() - began) / idle_events * 1e6
    idle_calls = calls / idle_events
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await queue.close()
    return {
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "per_job": per_job,
        "idle_us": idle_us,
        "idle_calls": idle_calls,
    }


async def main(args: argparse.Namespace) -> None:
    random.seed(1)
    print(
        f"{'slots':>6} {'submit->start p50':>18} {'p99':>9} {'first_for/job':>14}"
        f" {'idle event':>11} {'first_for/idle event':>21}"
    )
    for slots in (int(s) for s in args.slots.split(",")):
        r = await measure(slots, args.backends, args.jobs, args.idle_events)
        print(
            f"{slots:>6} {r['p50']:>15.3f} ms {r['p99']:>6.3f} ms {r['per_job']:>14.1f}"
            f" {r['idle_us']:>8.1f} µs {r['idle_calls']:>21.1f}",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", default="16,256,1024")
    parser.add_argument("--backends", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--idle-events", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
