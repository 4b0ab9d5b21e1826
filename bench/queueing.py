"""Scenarios 4, 5 and 7: scheduling under overload, starvation, memory while queued.

They use the fake's ``sched`` model: ``service`` seconds per request, at most
``capacity`` at once (the gateway is given the same number of slots), so the capacity is
``capacity / service`` requests per second. Wait = latency - service time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bench.harness import NAME, SENT, Log, mix, pct, run_load, target_rss
from bench.paths import Cores, Target
from bench.scenarios import MS, Per, Sizes, _add, medians

HIGH_SHARE = 0.2


async def scheduling(
    log: Log, cores: Cores, paths: list[Target], sizes: Sizes, service: float, capacity: int
) -> dict[str, Any]:
    """Scenario 4: 1.5x capacity, 20 % high / 80 % low, priority on and off (FIFO)."""
    rate = 1.5 * capacity / service
    high95: dict[str, Per] = {"priority": {}, "fifo": {}}
    ratio: Per = {}
    tput: Per = {}
    waits: dict[str, Any] = {}
    for rep in range(sizes.sched_reps):
        for target in paths:
            done: dict[str, float] = {}
            for priority in (True, False):
                mode = "priority" if priority else "fifo"
                log.load_average(
                    f"4 scheduling at {rate:.0f}/s ({mode}): {target.name}, repetition {rep + 1}"
                )
                spec = {
                    "mode": "open",
                    "rate": rate,
                    "duration": sizes.sched_s,
                    "model": "sched",
                    "mix": mix(target, priority, HIGH_SHARE),
                    "timeout": 2 * sizes.timeout_s,
                }
                block = await run_load(cores, target, spec)
                high = [max(0.0, x - service) for x in block.latencies("high")]
                _add(high95[mode], target.name, pct(high, 0.95) * MS)
                finished = [s for s in block.ok() if s[SENT] + s[2] <= sizes.sched_s]
                done[mode] = len(finished) / sizes.sched_s
                waits[f"{target.name} {mode}"] = [
                    (s[SENT], max(0.0, s[2] - service), s[NAME]) for s in block.ok()
                ]
                log.say(
                    f"   high p95 wait {high95[mode][target.name][-1]:.0f} ms, completed "
                    f"{done[mode]:.1f}/s in the window, failed: {block.why}"
                )
            prio, fifo = high95["priority"][target.name][-1], high95["fifo"][target.name][-1]
            _add(ratio, target.name, prio / fifo if fifo > 0 else float("nan"))
            _add(tput, target.name, done["priority"] / done["fifo"] if done["fifo"] else 0.0)
    return {
        "rate": rate,
        "high_p95": {m: medians(v) for m, v in high95.items()},
        "high_ratio": medians(ratio),
        "throughput_ratio": medians(tput),
        "waits": waits,
    }


async def starvation(
    log: Log,
    cores: Cores,
    stacks: dict[str, Target],
    sizes: Sizes,
    service: float,
    capacity: int,
    aging_s: float,
) -> dict[str, Any]:
    """Scenario 5: a closed loop of high requests saturates; low ones trickle in."""
    result: dict[str, Any] = {}
    high_clients = capacity * 4
    for label, target in stacks.items():
        log.load_average(f"5 starvation ({label}): {target.name}")
        high = {
            "mode": "closed",
            "concurrency": high_clients,
            "duration": sizes.starve_s,
            "model": "sched",
            "mix": [{"name": "high", **(target.high or {})}],
        }
        low = {
            "mode": "open",
            "rate": 2.0,
            "duration": sizes.starve_s,
            "model": "sched",
            "mix": [{"name": "low", **(target.low or {})}],
            "timeout": 600,
        }
        blocks = await asyncio.gather(run_load(cores, target, high), run_load(cores, target, low))
        highs, lows = blocks[0], blocks[1]
        # What one request really takes on the saturated backend (the fake's sleep, its
        # HTTP exchange and the gateway's hand-off), from the high load's throughput.
        served = len(highs.ok()) + len(lows.ok())
        taken = highs.elapsed * capacity / served if served else service
        waits = [max(0.0, s[2] - taken) for s in lows.ok()]
        # A low request sent before the high clients have filled the slots may find one
        # free; count those sent once the queue is saturated (after one service time).
        during = [s for s in lows.ok() if s[SENT] >= service and s[SENT] + s[2] <= sizes.starve_s]
        result[label] = {
            "service": taken,
            "max_wait": max(waits) if waits else float("nan"),
            "served_during": len(during),
            "sent": len(lows.samples),
        }
        log.say(
            f"   low max wait {result[label]['max_wait']:.2f} s (service {taken * MS:.1f} ms); "
            f"{len(during)} of "
            f"{len(lows.samples)} low requests served while the high load ran"
        )
    # Up two bands, then behind at most the high requests already queued, then the
    # remaining time of a running one: in service times measured with aging on.
    taken = result.get("aging", {}).get("service", service)
    queued_ahead = (high_clients - capacity) * taken / capacity
    result["bound"] = 2 * aging_s + queued_ahead + taken
    return result


async def queue_depth(target: Target) -> int:
    """Requests waiting at a Seadragon gateway; -1 for a peer (no such API used)."""
    if not target.env:
        return -1
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            url = f"{target.base}/api/queue/status"
            bands = (await client.get(url, headers=target.headers)).json().get("bands", [])
    except httpx.HTTPError:  # a busy gateway may be slow to answer: try at the next poll
        return -1
    return sum(int(b.get("depth", 0)) for b in bands)


async def memory(log: Log, cores: Cores, paths: list[Target], sizes: Sizes) -> dict[str, Any]:
    """Scenario 7: gateway RSS idle, with ``queued`` requests waiting, after they drained."""
    result: dict[str, Any] = {}
    for target in paths:
        log.load_average(f"7 memory with {sizes.queued} queued: {target.name}")
        idle = target_rss(target)
        spec = {
            "mode": "burst",
            "count": sizes.queued,
            "model": "sched",
            "timeout": sizes.timeout_s,
        }
        load = asyncio.create_task(run_load(cores, target, spec))
        peak, depth_seen = idle, 0
        while not load.done():
            peak = max(peak, target_rss(target))
            if target.env:
                depth_seen = max(depth_seen, await queue_depth(target))
            await asyncio.sleep(0.25)
        block = await load
        await asyncio.sleep(2.0)
        after = target_rss(target)
        result[target.name] = {
            "idle": idle,
            "queued": peak,
            "after": after,
            "depth": depth_seen,
            "failed": block.errors,
        }
        log.say(
            f"   RSS idle {idle:.0f} MiB, queued {peak:.0f} MiB (depth seen {depth_seen}), "
            f"after draining {after:.0f} MiB; failed: {block.why}"
        )
    return result
