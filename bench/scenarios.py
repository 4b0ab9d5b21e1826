"""Scenarios 1-3: added latency, throughput, streaming. Each returns plain numbers per path.

Every block is run on every path in turn (paths interleaved), ``reps`` times; a number is
the median over the repetitions, and a comparison (added latency, a ratio) is taken within
one repetition before the median.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.harness import DUPLICATED, LOST, Log, median, pct, run_load
from bench.paths import Cores, Target

MS = 1000.0


@dataclass(frozen=True)
class Sizes:
    reps: int = 2
    sequential: int = 300  # p99 of 300 is the 4th slowest, not the slowest
    closed_s: float = 3.0
    rates: tuple[int, ...] = (100, 200, 400, 700, 1000, 1500)
    rate_s: float = 2.0
    streams_c1: int = 12
    burst: int = 500
    sched_reps: int = 2  # each run drains a long queue: fewer repetitions
    sched_s: float = 5.0
    starve_s: float = 10.0
    model_requests: int = 3
    queued: int = 1000
    timeout_s: float = 60.0  # a request not answered by then counts as failed

    @staticmethod
    def quick() -> Sizes:
        return Sizes(
            reps=1,
            sched_reps=1,
            sequential=30,
            closed_s=1.0,
            rates=(100, 300),
            rate_s=1.0,
            streams_c1=2,
            burst=50,
            sched_s=2.0,
            starve_s=3.0,
            model_requests=1,
            queued=100,
        )


Per = dict[str, list[float]]


def _add(store: Per, name: str, value: float) -> None:
    store.setdefault(name, []).append(value)


def medians(store: Per) -> dict[str, float]:
    return {name: median(values) for name, values in store.items()}


async def added_latency(
    log: Log, cores: Cores, paths: list[Target], sizes: Sizes
) -> dict[str, Any]:
    """Scenario 1: concurrency 1, non-streamed; added = path - its direct path."""
    p50: Per = {}
    p99: Per = {}
    added50: Per = {}
    added99: Per = {}
    for rep in range(sizes.reps):
        seen: dict[str, tuple[float, float]] = {}
        for target in paths:
            log.load_average(f"1 added latency: {target.name}, repetition {rep + 1}")
            spec = {"mode": "sequential", "count": 20, "model": "fast"}
            await run_load(cores, target, spec)  # warm-up
            block = await run_load(cores, target, {**spec, "count": sizes.sequential})
            lat = block.latencies()
            seen[target.name] = (median(lat) * MS, pct(lat, 0.99) * MS)
            _add(p50, target.name, seen[target.name][0])
            _add(p99, target.name, seen[target.name][1])
        for target in paths:
            base = seen[target.direct]
            _add(added50, target.name, seen[target.name][0] - base[0])
            _add(added99, target.name, seen[target.name][1] - base[1])
    result = {"p50": medians(p50), "p99": medians(p99)}
    result |= {"added_p50": medians(added50), "added_p99": medians(added99)}
    for name, value in result["added_p99"].items():
        log.say(f"   {name:14} added p50 {result['added_p50'][name]:7.2f} ms  p99 {value:7.2f} ms")
    return result


async def throughput(log: Log, cores: Cores, paths: list[Target], sizes: Sizes) -> dict[str, Any]:
    """Scenario 2: closed loop at concurrency 64, and an open-loop rate sweep."""
    closed: Per = {}
    ratio: Per = {}
    best: Per = {}
    curve: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for rep in range(sizes.reps):
        rps: dict[str, float] = {}
        for target in paths:
            log.load_average(f"2 closed loop c=64: {target.name}, repetition {rep + 1}")
            spec = {"mode": "closed", "concurrency": 64, "model": "fast"}
            await run_load(cores, target, {**spec, "duration": 0.5})  # warm-up
            block = await run_load(cores, target, {**spec, "duration": sizes.closed_s})
            rps[target.name] = len(block.ok()) / block.elapsed
            _add(closed, target.name, rps[target.name])
            log.say(f"   {rps[target.name]:8.0f} req/s, failed: {block.why}")
        for target in paths:
            if "litellm" in rps:
                _add(ratio, target.name, rps[target.name] / rps["litellm"])
        failed: set[str] = set()
        top: dict[str, float] = {t.name: 0.0 for t in paths}
        for rate in sizes.rates:
            p99s: dict[str, float] = {}
            for target in paths:
                if target.name in failed:
                    continue
                log.load_average(f"2 open loop {rate}/s: {target.name}, repetition {rep + 1}")
                spec = {"mode": "open", "rate": rate, "duration": sizes.rate_s, "model": "fast"}
                block = await run_load(cores, target, {**spec, "timeout": 15})
                lat = block.latencies()
                p99s[target.name] = pct(lat, 0.99) * MS if not block.errors else float("inf")
                curve.setdefault(target.name, {}).setdefault(rate, [])
                curve[target.name][rate].append((median(lat) * MS, pct(lat, 0.99) * MS))
                log.say(
                    f"   p99 {p99s[target.name]:8.2f} ms, failed: {block.why}, "
                    f"sender lag {block.lag * MS:.1f} ms"
                )
            for target in paths:
                if target.name in failed or target.direct not in p99s:
                    continue
                if p99s[target.name] - p99s[target.direct] <= 10.0:
                    top[target.name] = float(rate)
                else:
                    failed.add(target.name)
        for name, rate in top.items():
            _add(best, name, rate)
    plot = {
        name: {
            rate: (median([a for a, _ in v]), median([b for _, b in v])) for rate, v in c.items()
        }
        for name, c in curve.items()
    }
    return {
        "closed_rps": medians(closed),
        "closed_ratio": medians(ratio),
        "best_rate": medians(best),
        "curve": plot,
    }


async def streaming(log: Log, cores: Cores, paths: list[Target], sizes: Sizes) -> dict[str, Any]:
    """Scenario 3: the paced model (64 chunks, 20 ms apart), one at a time and in a burst."""
    out: dict[str, Per] = {k: {} for k in ("ttft", "gap", "burst_ttft", "burst_gap")}
    out |= {"added_ttft": {}, "added_gap": {}, "added_burst_ttft": {}, "added_burst_gap": {}}
    faults: dict[str, list[int]] = {}
    for rep in range(sizes.reps):
        seen: dict[str, dict[str, float]] = {}
        for target in paths:
            log.load_average(f"3 streams one at a time: {target.name}, repetition {rep + 1}")
            spec = {
                "model": "paced",
                "stream": True,
                "tokens": 64,
                "gaps": True,
                "timeout": sizes.timeout_s,
            }
            # Warm-up: the streaming gateways are fresh, and their first stream opens
            # a connection to the upstream.
            await run_load(cores, target, {**spec, "mode": "sequential", "count": 1})
            one = await run_load(
                cores, target, {**spec, "mode": "sequential", "count": sizes.streams_c1}
            )
            log.load_average(f"3 burst of {sizes.burst} streams: {target.name}")
            burst = await run_load(cores, target, {**spec, "mode": "burst", "count": sizes.burst})
            lost = sum(s[LOST] for s in burst.samples)
            dup = sum(s[DUPLICATED] for s in burst.samples)
            total = faults.setdefault(target.name, [0, 0, 0])
            for i, count in enumerate((lost, dup, burst.errors)):
                total[i] += count
            seen[target.name] = {
                "ttft": pct(one.ttfts(), 0.99) * MS,
                "gap": pct(one.gaps(), 0.99) * MS,
                "burst_ttft": pct(burst.ttfts(), 0.99) * MS,
                "burst_gap": pct(burst.gaps(), 0.99) * MS,
            }
            log.say(
                f"   burst: ttft p99 {seen[target.name]['burst_ttft']:.1f} ms, gap p99 "
                f"{seen[target.name]['burst_gap']:.1f} ms, lost {lost}, duplicated {dup}, "
                f"failed {burst.errors}"
            )
        for target in paths:
            for key, value in seen[target.name].items():
                _add(out[key], target.name, value)
                _add(out[f"added_{key}"], target.name, value - seen[target.direct][key])
    result: dict[str, Any] = {key: medians(values) for key, values in out.items()}
    result["faults"] = faults  # lost, duplicated, failed: every burst of every repetition
    return result
