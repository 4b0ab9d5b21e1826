"""What metrics, request log lines and limits add to latency: the same gateway with them
off and on, side by side in one run (concurrency 1, memory queue, non-streamed chat).

Three gateways, each a real ``seadragon serve`` in front of its own fast fake upstream,
get the same requests interleaved, so machine noise hits all alike:

- ``off``: ``SEADRAGON_METRICS_ENABLED=false``, log level ``warning`` (no request lines),
  no limits set;
- ``on``: metrics, one JSON log line per request, and limits on the caller's user and
  key (every figure set, high enough never to refuse) counted in the gateway
  (``limits_store=memory``, the default with the memory queue);
- ``on, db limits``: the same with the counts in the database the gateways share
  (``limits_store=database``, SQLite here): the price of limits across gateways.

Usage: ``python -m bench.operate [--requests 400]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from bench.processes import Stack, cli, start_stack

VARIANTS: dict[str, dict[str, str]] = {
    "off": {"SEADRAGON_METRICS_ENABLED": "false", "SEADRAGON_LOG_LEVEL": "warning"},
    "on": {"SEADRAGON_LOG_FORMAT": "json", "SEADRAGON_LOG_LEVEL": "info"},
    "on, db limits": {
        "SEADRAGON_LOG_FORMAT": "json",
        "SEADRAGON_LOG_LEVEL": "info",
        "SEADRAGON_LIMITS_STORE": "database",
    },
}
LIMITS = ["--rpm", "1000000", "--tpm", "1000000000", "--concurrent", "1000"]
LIMITS += ["--model", "bench", "--budget", "1000000000000", "--period", "month"]
BODY = {"model": "bench", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


async def limit_everything(stack: Stack) -> None:
    """Limits on the bench user and on its key, before any chat request reads them."""
    async with httpx.AsyncClient(timeout=30) as client:
        keys = (await client.get(f"{stack.gateways[0]}/api/keys", headers=stack.auth)).json()
    cli(stack.env, "limits", "set", "--user", "bench", *LIMITS)
    cli(stack.env, "limits", "set", "--key", str(keys["data"][0]["id"]), *LIMITS)


async def one(client: httpx.AsyncClient, stack: Stack) -> float:
    start = time.perf_counter()
    response = await client.post(stack.gateway_chat, json=BODY, headers=stack.auth)
    response.raise_for_status()
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as exits:
            stacks: dict[str, Stack] = {}
            for name, settings in VARIANTS.items():
                folder = Path(tmp) / name.replace(" ", "").replace(",", "-")
                folder.mkdir()
                stacks[name] = await exits.enter_async_context(
                    start_stack("memory", str(folder), settings=settings)
                )
            for name in ("on", "on, db limits"):
                await limit_everything(stacks[name])
            times: dict[str, list[float]] = {name: [] for name in stacks}
            async with httpx.AsyncClient(timeout=30) as client:
                for i in range(args.requests + args.warmup):
                    for name, stack in stacks.items():
                        elapsed = await one(client, stack)
                        if i >= args.warmup:
                            times[name].append(elapsed)
            # Each "on" gateway really counted: its metrics saw every request.
            async with httpx.AsyncClient(timeout=30) as client:
                metrics = await client.get(f"{stacks['on'].gateways[0]}/metrics",
                                           headers=stacks["on"].auth)  # fmt: skip
                assert 'outcome="ok"' in metrics.text
    print(f"Seadragon: metrics, log lines and limits off vs on — Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores")  # fmt: skip
    print(f"command: python -m bench.operate {' '.join(sys.argv[1:])}")
    print(f"\n[concurrency 1, non-streamed, memory queue, {args.requests} requests each]")
    base50 = statistics.median(times["off"])
    base_mean = statistics.fmean(times["off"])
    for name, values in times.items():
        p50, mean = statistics.median(values), statistics.fmean(values)
        print(
            f"  {name:14} p50 {ms(p50)}  mean {ms(mean)}  p99 {ms(pct(values, 0.99))}"
            f"  added p50 {ms(p50 - base50)}  added mean {ms(mean - base_mean)}"
        )


if __name__ == "__main__":
    asyncio.run(main())
