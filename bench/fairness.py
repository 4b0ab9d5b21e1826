"""Fair share inside a band, measured: a heavy user's backlog and a light user's request.

``python -m bench.fairness`` starts the bench's fake upstream with the ``sched`` model
(``--service`` seconds per request, 2 at a time) and, per queue mode, Seadragon with
``fair_share`` off (FIFO inside a band) and on (``user``). User A sends ``--backlog``
requests at once; ``--delay`` seconds later user B sends one. It prints B's wait in service
times (the target with fair share on: at most 1.5), the throughput against the upstream's
capacity and against FIFO's (target ≥ 0.97), and in RabbitMQ mode the publish→start time
of single requests on an idle worker (p50 / p99; target p50 ≤ 3 ms), from the request log.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Log
from bench.paths import (
    Cores,
    Lab,
    Target,
    backends,
    delete_rabbitmq,
    start_seadragon,
    start_upstream,
)
from bench.processes import cli

CAPACITY = 2


def body(tag: str) -> dict[str, Any]:
    return {"model": "sched", "messages": [{"role": "user", "content": tag}]}


async def light_user(target: Target) -> dict[str, str]:
    """A second, ordinary user with a key of their own."""
    create = ("users", "create", "light", "--password-stdin")
    await asyncio.to_thread(cli, target.env, *create, stdin="light-pass-1\n")
    key = await asyncio.to_thread(cli, target.env, "keys", "create", "--user", "light")
    return {"Authorization": f"Bearer {key}"}


async def one_round(
    target: Target, light: dict[str, str], backlog: int, delay: float, service: float
) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=None)) as http:

        async def send(headers: dict[str, str], tag: str) -> float:
            started = time.monotonic()
            response = await http.post(target.url, headers=headers, json=body(tag))
            response.raise_for_status()
            return time.monotonic() - started

        began = time.monotonic()
        heavy = [asyncio.create_task(send(target.headers, f"a{i}")) for i in range(backlog)]
        await asyncio.sleep(delay)  # the workload's shape, not synchronisation
        b_latency = await send(light, "b")
        await asyncio.gather(*heavy)
        took = time.monotonic() - began
    ideal = (backlog + 1) * service / CAPACITY
    return {"b_wait_services": max(0.0, b_latency - service) / service, "throughput": ideal / took}


async def publish_to_start(target: Target, count: int) -> tuple[float, float]:
    """Single requests on an idle worker: queued → started, from the request log (ms)."""
    async with httpx.AsyncClient(timeout=60) as http:
        for i in range(count):
            headers = {**target.headers, "X-Request-Id": f"p{i}"}
            response = await http.post(target.url, headers=headers, json=body(f"p{i}"))
            response.raise_for_status()

        async def logged() -> list[dict[str, Any]]:
            params = {"limit": count, "model": "sched"}
            url = f"{target.base}/api/requests"
            page = await http.get(url, headers=target.headers, params=params)
            return [r for r in page.json()["data"] if str(r["request_id"]).startswith("p")]

        rows = await logged()
        for _ in range(50):  # the log is written in batches, a moment after the answers
            if len(rows) >= count:
                break
            await asyncio.sleep(0.1)
            rows = await logged()
    waits = sorted(float(r["wait_ms"]) for r in rows if r.get("wait_ms") is not None)
    if not waits:
        return float("nan"), float("nan")
    p99 = waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
    return statistics.median(waits), p99


async def run(args: argparse.Namespace) -> None:
    log = Log()
    with tempfile.TemporaryDirectory(prefix="sdbench-fair-") as tmp:
        lab = Lab(Path(tmp), Cores(args.gateway_cpu, args.client_cpu))
        try:
            await start_upstream(lab, args.service, CAPACITY)
            configured = backends(lab.upstream, streams=False, sched_slots=CAPACITY)
            rows: list[tuple[str, ...]] = []
            tputs: dict[str, float] = {}
            for mode in args.modes.split(","):
                for fair in ("off", "user"):
                    name = f"{mode}-fair-{fair}"
                    settings = {"SEADRAGON_FAIR_SHARE": fair}
                    target = await start_seadragon(lab, mode, configured, settings, name=name)
                    try:
                        light = await light_user(target)
                        log.load_average(f"{name}: {args.backlog} from A, then 1 from B")
                        rounds = [
                            await one_round(target, light, args.backlog, args.delay, args.service)
                            for _ in range(args.reps)
                        ]
                        wait = statistics.median(r["b_wait_services"] for r in rounds)
                        tput = statistics.median(r["throughput"] for r in rounds)
                        log.say(f"   B waited {wait:.2f} service times; throughput {tput:.3f}")
                        p2s = "-"
                        if mode == "rabbitmq":
                            p50, p99 = await publish_to_start(target, args.singles)
                            p2s = f"{p50:.2f} / {p99:.2f}"
                            log.say(f"   publish→start on an idle worker p50/p99 {p2s} ms")
                        fifo = tputs.setdefault(mode, tput)  # "off" runs first
                        rows.append(
                            (mode, fair, f"{wait:.2f}", f"{tput:.3f}", f"{tput / fifo:.3f}", p2s)
                        )
                    finally:
                        lab.stop(target.procs)
                        if mode == "rabbitmq":
                            await delete_rabbitmq(target)
        finally:
            lab.stop()
    log.say("")
    log.say("| mode | fair_share | B's wait (service times) | throughput ÷ capacity | "
            "throughput ÷ FIFO's | publish→start p50 / p99 (ms) |")  # fmt: skip
    log.say("|---|---|---|---|---|---|")
    for row in rows:
        log.say("| " + " | ".join(row) + " |")
    log.say(
        "targets: B's wait with fair share ≤ 1.5; throughput ÷ FIFO's ≥ 0.97; publish→start p50 ≤ 3"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="memory,rabbitmq")
    parser.add_argument("--service", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--backlog", type=int, default=20, help="user A's requests at once")
    parser.add_argument("--delay", type=float, default=0.3, help="seconds before B sends")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--singles", type=int, default=50, help="publish→start samples")
    parser.add_argument("--gateway-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
