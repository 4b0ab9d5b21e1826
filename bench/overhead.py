"""What Seadragon adds to latency: direct-to-upstream vs through the gateway, one run.

Starts a fast fake OpenAI-compatible upstream, a gateway (``memory`` queue, or
``rabbitmq`` with a separate ``seadragon worker``) as real processes, then sends the
same requests both ways, interleaved so machine noise hits both sides alike:

- concurrency 1, non-streamed chat: added p50 / p99 latency;
- streamed chat: added time to first chunk, added gap between chunks (the per-chunk
  overhead), chunks/s while streaming;
- a fixed request rate (open loop): added p50 / p99 latency;
- from the gateway's request log: queued -> started (the job was confirmed queued until
  a worker's ``Started`` reached the gateway: publish -> start), started -> first token,
  first token -> finished.

Usage: ``python -m bench.overhead [--mode memory|rabbitmq] [--requests 300]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx

from bench.processes import Stack, start_stack

Body = dict[str, object]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


async def timed(call: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


def chat_body(stream: bool, tokens: int) -> Body:
    return {
        "model": "bench",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": tokens,
        "stream": stream,
    }


def tagged(stack: Stack, request_id: str) -> dict[str, str]:
    """The gateway's auth headers, with an ``X-Request-Id`` the request log will show."""
    return {**stack.auth, "X-Request-Id": request_id}


async def post(client: httpx.AsyncClient, url: str, headers: dict[str, str], body: Body) -> None:
    response = await client.post(url, json=body, headers=headers)
    response.raise_for_status()


def sse_chunk(line: str) -> bool:
    """An SSE line carrying a content chunk."""
    return line.startswith("data: {") and '"content"' in line


async def stream_times(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    body: Body,
    is_chunk: Callable[[str], bool] = sse_chunk,
    expect: int | None = None,
) -> tuple[float, list[float]]:
    """Time to first content chunk, and the arrival time of every content chunk; with
    ``expect``, a stream of any other number of chunks is an error."""
    start = time.perf_counter()
    stamps: list[float] = []
    async with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if is_chunk(line):
                stamps.append(time.perf_counter())
    if expect is not None and len(stamps) != expect:
        raise RuntimeError(f"{url} streamed {len(stamps)} chunks, not {expect}")
    return stamps[0] - start, stamps


async def sequential(stack: Stack, n: int) -> None:
    direct: list[float] = []
    gateway: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n + 20):
            body = chat_body(False, 8)
            headers = tagged(stack, f"seq-{i}" if i >= 20 else f"warm-{i}")
            d = await timed(lambda b=body: post(client, stack.direct_chat, {}, b))
            g = await timed(lambda b=body, h=headers: post(client, stack.gateway_chat, h, b))
            if i >= 20:  # warm-up excluded
                direct.append(d)
                gateway.append(g)
    added50 = statistics.median(gateway) - statistics.median(direct)
    added99 = pct(gateway, 0.99) - pct(direct, 0.99)
    print(f"\n[concurrency 1, non-streamed, {n} requests each way]")
    print(f"  direct   p50 {ms(statistics.median(direct))}  p99 {ms(pct(direct, 0.99))}")
    print(f"  gateway  p50 {ms(statistics.median(gateway))}  p99 {ms(pct(gateway, 0.99))}")
    print(f"  added    p50 {ms(added50)}  p99 {ms(added99)}")


async def streaming(stack: Stack, n: int, tokens: int) -> None:
    d_first: list[float] = []
    g_first: list[float] = []
    d_gaps: list[float] = []
    g_gaps: list[float] = []
    d_rate: list[float] = []
    g_rate: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n + 5):
            body = chat_body(True, tokens)
            headers = tagged(stack, f"stream-{i}" if i >= 5 else f"warm-stream-{i}")
            first, stamps = await stream_times(client, stack.direct_chat, {}, body)
            g_first_i, g_stamps = await stream_times(client, stack.gateway_chat, headers, body)
            if i >= 5:
                d_first.append(first)
                g_first.append(g_first_i)
                d_gaps += [b - a for a, b in itertools.pairwise(stamps)]
                g_gaps += [b - a for a, b in itertools.pairwise(g_stamps)]
                d_rate.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
                g_rate.append((len(g_stamps) - 1) / (g_stamps[-1] - g_stamps[0]))
    count = len(g_gaps) // n + 1
    print(f"\n[streamed, {count} content chunks each, {n} requests each way]")
    print(
        f"  first chunk  direct p50 {ms(statistics.median(d_first))}  "
        f"gateway p50 {ms(statistics.median(g_first))}  "
        f"added p50 {ms(statistics.median(g_first) - statistics.median(d_first))}"
    )
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        print(
            f"  chunk gap    direct {label} {ms(pct(d_gaps, q))}  gateway {label} "
            f"{ms(pct(g_gaps, q))}  added {label} {ms(pct(g_gaps, q) - pct(d_gaps, q))}"
        )
    ratio = statistics.median(g_rate) / statistics.median(d_rate)
    print(
        f"  chunks/s     direct {statistics.median(d_rate):8.0f}  "
        f"gateway {statistics.median(g_rate):8.0f}  ratio {ratio:.3f}  (first to last chunk)"
    )


async def fixed_rate(stack: Stack, rate: float, seconds: float) -> None:
    async with httpx.AsyncClient(timeout=30) as client:

        async def run(url: str, gateway: bool) -> list[float]:
            tasks = []
            start = time.perf_counter()
            for i in range(int(rate * seconds)):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = chat_body(False, 8)
                headers = tagged(stack, f"rate-{i}") if gateway else {}
                tasks.append(
                    asyncio.create_task(timed(lambda b=body, h=headers: post(client, url, h, b)))
                )
            return list(await asyncio.gather(*tasks))

        direct = await run(stack.direct_chat, False)
        gateway = await run(stack.gateway_chat, True)
    print(f"\n[fixed rate {rate:.0f} req/s for {seconds:.0f} s, non-streamed]")
    print(f"  direct   p50 {ms(statistics.median(direct))}  p99 {ms(pct(direct, 0.99))}")
    print(f"  gateway  p50 {ms(statistics.median(gateway))}  p99 {ms(pct(gateway, 0.99))}")
    print(
        f"  added    p50 {ms(statistics.median(gateway) - statistics.median(direct))}  "
        f"p99 {ms(pct(gateway, 0.99) - pct(direct, 0.99))}"
    )


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def request_log(stack: Stack, expected: dict[str, int]) -> None:
    """Where the gateway's time went, per phase (request ids ``seq-``, ``stream-``, ``rate-``)."""
    rows: list[tuple[str, str, str | None, str | None, str | None]] = []
    async with asyncio.timeout(10):  # the gateway batches its log rows every 0.5 s
        while True:
            with sqlite3.connect(stack.database) as db:
                rows = db.execute(
                    "SELECT request_id, queued_at, started_at, first_token_at, finished_at "
                    "FROM request_log WHERE status = 'ok'"
                ).fetchall()
            done = {p: sum(r[0].startswith(p + "-") for r in rows) for p in expected}
            if all(done[p] >= n for p, n in expected.items()):
                break
            await asyncio.sleep(0.2)
    print("\n[gateway request log: queued -> started -> first token -> finished, ok requests]")
    for phase in expected:
        spans: dict[str, list[float]] = {"queued->started": [], "started->first": []}
        spans["first->finished"] = []
        for request_id, queued, started, first, finished in rows:
            times = [_at(queued), _at(started), _at(first), _at(finished)]
            if not request_id.startswith(phase + "-") or None in times:
                continue
            for name, (a, b) in zip(spans, itertools.pairwise(times), strict=True):
                assert a is not None and b is not None
                spans[name].append((b - a).total_seconds())
        line = "  ".join(
            f"{name} p50 {ms(statistics.median(v))} p99 {ms(pct(v, 0.99))}"
            for name, v in spans.items()
        )
        print(f"  {phase:6} {line}")


async def queue_latency(stack: Stack, n: int, tokens: int) -> None:
    """The RabbitMQ queue alone, from this process as one more gateway (no HTTP)."""
    from seadragon.config import Settings
    from seadragon.queue.base import Chunk, Job, Started
    from seadragon.queue.rabbitmq.manager import RabbitMQQueue

    env = stack.env
    url = env.get("SEADRAGON_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    queue = RabbitMQQueue(Settings(rabbitmq_url=url, rabbitmq_namespace=stack.namespace))
    await queue.start()
    spans: dict[str, list[float]] = {"submit": [], "publish->start": [], "start->first": []}
    spans["chunk gap"] = []
    try:
        for i in range(n + 10):
            body = chat_body(True, tokens)
            job = Job(id=f"queue-{i}", kind="chat", model="bench", body=body, band="high")
            began = time.perf_counter()
            ticket = await queue.submit(job)
            stamps = {"submit": time.perf_counter()}
            chunks: list[float] = []
            async for event in ticket.events():
                if isinstance(event, Started):
                    stamps["start"] = time.perf_counter()
                elif isinstance(event, Chunk):
                    chunks.append(time.perf_counter())
            if i >= 10:
                spans["submit"].append(stamps["submit"] - began)
                spans["publish->start"].append(stamps["start"] - began)
                spans["start->first"].append(chunks[0] - stamps["start"])
                spans["chunk gap"] += [b - a for a, b in itertools.pairwise(chunks)]
    finally:
        await queue.close()
    print(f"\n[the queue alone: {n} streamed jobs of {tokens} tokens, submitted one at a time]")
    for name, values in spans.items():
        print(f"  {name:15} p50 {ms(statistics.median(values))}  p99 {ms(pct(values, 0.99))}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["memory", "rabbitmq"], default="memory")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stream-requests", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # The fake must be able to produce every token a streamed request asks for.
        upstream = ("--tokens", str(max(8, args.tokens)))
        async with start_stack(args.mode, tmp, upstream_args=upstream) as stack:
            python = sys.version.split()[0]
            cores = os.cpu_count()
            print(f"Seadragon overhead — queue={args.mode}, Python {python}, {cores} cores")
            print(f"command: python -m bench.overhead {' '.join(sys.argv[1:])}")
            await sequential(stack, args.requests)
            await streaming(stack, args.stream_requests, args.tokens)
            await fixed_rate(stack, args.rate, args.seconds)
            expected = {"seq": args.requests, "stream": args.stream_requests}
            await request_log(stack, {**expected, "rate": int(args.rate * args.seconds)})
            if args.mode == "rabbitmq":
                await queue_latency(stack, args.requests, args.tokens)
            if stack.extra_report is not None:
                await stack.extra_report()


if __name__ == "__main__":
    asyncio.run(main())
