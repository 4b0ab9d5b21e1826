"""Running one block of load: the load generator process, statistics, load average, RSS."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.paths import Cores, Target
from bench.processes import ROOT

# One sample from the load generator: see bench/loadgen.py.
NAME, SENT, LATENCY, TTFT, OK, CHUNKS, LOST, DUPLICATED, GAPS, STATUS = range(10)


@dataclass
class Block:
    """What one load generator run returned."""

    elapsed: float
    lag: float
    samples: list[list[Any]]

    def ok(self, name: str | None = None) -> list[list[Any]]:
        return [s for s in self.samples if s[OK] and (name is None or s[NAME] == name)]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not s[OK])

    @property
    def why(self) -> str:
        """What the failed requests got (HTTP status or exception), counted."""
        counts = Counter(str(s[STATUS]) for s in self.samples if not s[OK])
        return ", ".join(f"{n}x {what}" for what, n in counts.most_common()) or "none failed"

    def latencies(self, name: str | None = None) -> list[float]:
        return [s[LATENCY] for s in self.ok(name)]

    def ttfts(self) -> list[float]:
        return [s[TTFT] for s in self.ok() if s[TTFT] is not None]

    def gaps(self) -> list[float]:
        return [g for s in self.ok() for g in s[GAPS]]


@dataclass
class Log:
    """Every line the run prints, kept for the results file."""

    lines: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)

    def load_average(self, what: str) -> None:
        one, five, fifteen = os.getloadavg()
        self.say(f"-- {what} (load average {one:.2f} {five:.2f} {fifteen:.2f})")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    clean = [v for v in values if v == v]  # NaN-free
    return statistics.median(clean) if clean else float("nan")


async def run_load(cores: Cores, target: Target, spec: dict[str, Any]) -> Block:
    """One load generator process on the client core against ``target``."""
    full = {"url": target.url, "kind": target.kind, "headers": target.headers, **spec}
    args = cores.pin(cores.client, [sys.executable, "-m", "bench.loadgen"])
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out, _ = await proc.communicate(orjson.dumps(full))
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed against {target.name}")
    result = orjson.loads(out)
    return Block(result["elapsed"], result["lag"], result["samples"])


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def target_rss(target: Target) -> float:
    return sum(rss_mib(pid) for pid in target.pids)


def mix(target: Target, priority: bool, high_share: float) -> list[dict[str, Any]]:
    """A 'high' and a 'low' class; with ``priority`` off both are sent as high (FIFO)."""
    high = dict(target.high or {})
    low = dict((target.low if priority else target.high) or {})
    return [
        {"name": "high", "weight": high_share, **high},
        {"name": "low", "weight": 1 - high_share, **low},
    ]
