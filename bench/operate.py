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

With ``--postgres URL`` (a server where the URL's user may create databases) a fourth
gateway keeps its data and limit counts in a temporary PostgreSQL database.

Usage: ``python -m bench.operate [--requests 400] [--postgres postgresql://…/postgres]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
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


@asynccontextmanager
async def temporary_database(server: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database on ``server``; its SQLAlchemy URL; dropped afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(server)
    name = f"sdbench_{uuid.uuid4().hex[:10]}"
    admin = {"host": url.host, "port": url.port or 5432, "user": url.username,
             "password": url.password, "database": url.database or "postgres"}  # fmt: skip
    connection = await asyncpg.connect(**admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        connection = await asyncpg.connect(**admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def in_process_costs(rounds: int = 20_000) -> dict[str, float]:
    """CPU per request of each piece, timed in this process (immune to the HTTP noise)."""
    import io
    import logging
    from datetime import UTC, datetime, timedelta

    from seadragon.limits.rules import Rule, Subject
    from seadragon.limits.store import MemoryLimitStore
    from seadragon.logs import JsonFormatter, request_line
    from seadragon.metrics import Metrics

    now = datetime.now(UTC)
    row = {
        "request_id": "r" * 32, "user_id": 1, "key_id": 1, "kind": "chat", "model": "bench",
        "route": "/v1/chat/completions", "backend": "fake", "stream": False,
        "entry_band": "high", "dispatch_band": "high", "status": "ok", "error_kind": None,
        "http_status": 200, "queued_at": now, "started_at": now + timedelta(milliseconds=1),
        "first_token_at": now + timedelta(milliseconds=2),
        "finished_at": now + timedelta(milliseconds=3), "wait_ms": 1, "run_ms": 2,
        "prompt_tokens": 5, "completion_tokens": 8,
    }  # fmt: skip
    metrics = Metrics(["high", "normal", "low"])
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("seadragon.requests")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    rule = Rule(1_000_000_000, 1_000_000_000, 1_000_000, ("bench",), 10**15, "month")
    subjects = [Subject("u:1", "user", rule), Subject("k:1", "key", rule)]
    store = MemoryLimitStore()

    async def limits() -> None:
        await store.admit(subjects, "lease", time.time())
        await store.finish(subjects, "lease", 13, time.time())

    costs: dict[str, float] = {}
    for name, work in (("metrics", lambda: metrics.observe_request(row)),
                       ("log line", lambda: request_line(row))):  # fmt: skip
        start = time.perf_counter()
        for _ in range(rounds):
            work()
        costs[name] = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(rounds):
        await limits()
    costs["limits (memory)"] = (time.perf_counter() - start) / rounds
    logger.removeHandler(handler)
    return costs


async def one(client: httpx.AsyncClient, stack: Stack) -> float:
    start = time.perf_counter()
    response = await client.post(stack.gateway_chat, json=BODY, headers=stack.auth)
    response.raise_for_status()
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--postgres", help="a PostgreSQL server URL for a fourth gateway")
    args = parser.parse_args()
    variants = dict(VARIANTS)
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as exits:
            if args.postgres:
                url = await exits.enter_async_context(temporary_database(args.postgres))
                variants["on, pg limits"] = {
                    **VARIANTS["on, db limits"],
                    "SEADRAGON_DATABASE_URL": url,
                }
            stacks: dict[str, Stack] = {}
            for name, settings in variants.items():
                folder = Path(tmp) / name.replace(" ", "").replace(",", "-")
                folder.mkdir()
                stacks[name] = await exits.enter_async_context(
                    start_stack("memory", str(folder), settings=settings)
                )
            for name in stacks:
                if name != "off":
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
    print("\n[in-process CPU per request, 20000 rounds]")
    for piece, cost in (await in_process_costs()).items():
        print(f"  {piece:16} {cost * 1e6:7.2f} µs")
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
