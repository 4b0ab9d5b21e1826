"""A py-spy flame graph of a gateway under the closed loop at concurrency 64, and the
frames with the most self time (from a second, raw recording of the same load)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import Log, run_load
from bench.paths import Cores, Target
from bench.scenarios import Sizes


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def self_time(raw: str, top: int = 15) -> list[tuple[str, float]]:
    """Share of samples per innermost frame, from py-spy's raw (collapsed stacks) output."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            counts[stack.split(";")[-1]] += int(n)
    total = sum(counts.values()) or 1
    return [(frame, 100 * n / total) for frame, n in counts.most_common(top)]


async def record(spy: str, pid: int, seconds: float, out: Path, raw: bool) -> Any:
    form = ["-f", "raw"] if raw else []
    return await asyncio.create_subprocess_exec(
        spy, "record", "--nonblocking", "-r", "250", "-d", str(int(seconds) + 1), *form,
        "-o", str(out), "-p", str(pid),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def profile(
    log: Log, cores: Cores, target: Target, out: Path, sizes: Sizes
) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        log.say("-- profile: skipped, py-spy is not installed (pip install -e '.[bench]')")
        return {}
    seconds = max(3.0, sizes.closed_s * 2)
    svg = out / f"flame-{target.name}-c64.svg"
    raw = out / f"flame-{target.name}-c64.txt"
    spec = {"mode": "closed", "concurrency": 64, "duration": seconds, "model": "fast"}
    rates = []
    for path, as_raw in ((svg, False), (raw, True)):
        log.load_average(f"profile: py-spy on {target.name}'s gateway, closed loop c=64")
        spying = await record(spy, target.pids[0], seconds, path, as_raw)
        block = await run_load(cores, target, spec)
        await spying.wait()
        rates.append(len(block.ok()) / block.elapsed)
        log.say(f"   {rates[-1]:.0f} req/s while profiled; {path.name}")
    top = self_time(raw.read_text()) if raw.exists() else []
    for frame, share in top:
        log.say(f"   {share:5.1f} % self  {frame}")
    return {"svg": svg.name, "rps": rates, "self": top}
