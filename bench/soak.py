"""The soak: hours of mixed traffic against Seadragon in RabbitMQ mode, watching RSS.

```sh
nice -n 10 .venv/bin/python -m bench.soak --minutes 30
```

One gateway and one worker (``bench/processes.py``) in front of the fake upstream;
``--concurrency`` clients in this process send chat requests back to back, each one
streamed or not and ``high`` or ``low`` band at random (fixed seed). Every
``--sample-s`` seconds the resident memory of every process of the stack is sampled;
the table and a verdict per process go to stdout and to ``--out`` (``bench/results/soak.md``).

The verdict looks at the last half of the samples (after warm-up: caches, pools and
the allocator's arenas fill in the first minutes): a least-squares slope above
``--grow-mib-per-min`` is "grows", anything else "levels off".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from bench.harness import rss_mib
from bench.processes import ROOT, Stack, start_stack

TOKENS = 32
NOTES = {"upstream": " (the fake upstream keeps every request it served, by design)"}


@dataclass
class Traffic:
    """What the clients sent and got, by kind."""

    sent: dict[str, int] = field(default_factory=dict)
    #: Failures by what the client got (HTTP status and error code, or the exception).
    why: Counter[str] = field(default_factory=Counter)
    failures: int = 0

    def count(self, kind: str) -> None:
        self.sent[kind] = self.sent.get(kind, 0) + 1

    def fail(self, why: str) -> None:
        self.failures += 1
        self.why[why] += 1

    @property
    def total(self) -> int:
        return sum(self.sent.values())


async def client(
    stack: Stack, session: aiohttp.ClientSession, seed: int, until: float, traffic: Traffic
) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        stream = rng.random() < 0.5
        band = "high" if rng.random() < 0.6 else "low"
        kind = f"{'stream' if stream else 'plain'}/{band}"
        body = {
            "model": "bench",
            "messages": [{"role": "user", "content": "hello " * rng.randint(1, 40)}],
            "max_tokens": rng.randint(1, TOKENS),
            "stream": stream,
        }
        headers = {**stack.auth, "Content-Type": "application/json"}
        if band == "low":
            headers["X-Seadragon-Priority"] = "low"
        traffic.count(kind)
        try:
            async with session.post(
                stack.gateway_chat, data=orjson.dumps(body), headers=headers
            ) as response:
                data = await response.read()
                if response.status != 200 or b"tok" not in data:
                    traffic.fail(f"{response.status} {_code(data)}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            traffic.fail(type(exc).__name__)


def _code(body: bytes) -> str:
    """The error code of an OpenAI-shaped error body, or what the body holds."""
    try:
        return str(orjson.loads(body)["error"]["code"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "no tokens" if body.startswith(b":") or b"data:" in body else repr(body[:80])


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def verdicts(
    names: list[str], rows: list[tuple[float, dict[str, float]]], limit: float
) -> dict[str, tuple[float, str]]:
    """Per process: the slope of its last half (MiB/min) and "levels off" or "grows"."""
    half = rows[len(rows) // 2 :] if len(rows) >= 4 else rows
    out = {}
    for name in names:
        s = slope([(minute, rss[name]) for minute, rss in half if name in rss])
        out[name] = (s, "grows" if s > limit else "levels off")
    return out


def render(
    args: argparse.Namespace,
    names: list[str],
    rows: list[tuple[float, dict[str, float]]],
    traffic: Traffic,
    commit: str,
) -> str:
    lines = [
        "# Soak: RSS under mixed traffic, RabbitMQ mode",
        "",
        f"`python -m bench.soak --minutes {args.minutes:g} --concurrency {args.concurrency}"
        f" --slots {args.slots}` — commit {commit}, {time.strftime('%Y-%m-%d %H:%M')},"
        f" Python {platform.python_version()}, {os.cpu_count()} cores,"
        f" load average at the end {os.getloadavg()[0]:.2f}.",
        "",
        f"Requests: {traffic.total} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(traffic.sent.items()))
        + f"), failed {traffic.failures} (reasons below).",
        "",
        "| minute | " + " | ".join(f"{n} MiB" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for minute, rss in rows:
        cells = " | ".join(f"{rss.get(n, float('nan')):.1f}" for n in names)
        lines.append(f"| {minute:.1f} | {cells} |")
    lines += ["", "Last half of the samples (least-squares slope):", ""]
    for name, (s, verdict) in verdicts(names, rows, args.grow_mib_per_min).items():
        note = NOTES.get(name, "")
        lines.append(f"- {name}: {s:+.2f} MiB/min — **{verdict}**{note}")
    if traffic.why:
        got = ", ".join(f"{n} x {why}" for why, n in traffic.why.most_common())
        lines += ["", f"Failed requests by what the client got: {got}."]
    return "\n".join(lines) + "\n"


async def soak(args: argparse.Namespace) -> str:
    settings = {
        "SEADRAGON_LOG_LEVEL": "warning",
        **dict(item.split("=", 1) for item in args.env),
    }
    if args.tracemalloc:
        settings["SEADRAGON_TRACEMALLOC_DIR"] = str(args.tracemalloc)
    commit = git_commit()  # what the processes run, whatever is committed meanwhile
    with tempfile.TemporaryDirectory(prefix="sdsoak-") as tmp:
        async with start_stack("rabbitmq", tmp, slots=args.slots, settings=settings) as stack:
            names = [n for n in stack.processes]
            traffic = Traffic()
            start = time.monotonic()
            until = start + args.minutes * 60
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=120)
            rows: list[tuple[float, dict[str, float]]] = []

            def sample() -> None:
                minute = (time.monotonic() - start) / 60
                rss = {n: rss_mib(p.pid) for n, p in stack.processes.items() if p.poll() is None}
                rows.append((minute, rss))
                if args.tracemalloc:
                    for name in ("gateway0", "worker0"):
                        stack.processes[name].send_signal(signal.SIGUSR1)
                cells = "  ".join(f"{n} {v:7.1f}" for n, v in rss.items())
                print(f"[{minute:5.1f} min] {cells}  requests {traffic.total}", flush=True)

            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                sample()
                clients = [
                    asyncio.create_task(client(stack, session, seed, until, traffic))
                    for seed in range(args.concurrency)
                ]
                while time.monotonic() < until:
                    await asyncio.sleep(min(args.sample_s, max(0.0, until - time.monotonic())))
                    sample()
                await asyncio.gather(*clients)
            sample()
            return render(args, names, rows, traffic, commit)


def git_commit() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--sample-s", type=float, default=60)
    parser.add_argument("--grow-mib-per-min", type=float, default=0.2)
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for every Seadragon process"
    )
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        help="trace the gateway's and the worker's allocations; a snapshot per sample goes here",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.md")
    args = parser.parse_args()
    report = asyncio.run(soak(args))
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
