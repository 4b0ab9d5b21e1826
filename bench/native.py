"""What Seadragon adds on Ollama's native ``/api/chat``, beside what it adds on ``/v1``.

Starts the benchmarks' fake upstream (``bench/upstream.py``: OpenAI and Ollama APIs on
one port) on the client core and two ``seadragon serve`` processes (``memory`` queue) on
the gateway core: one in front of the fake as an ``ollama`` backend (``/api/chat`` in,
``/api/chat`` out), one as an ``openai`` backend (``/v1`` in, ``/v1`` out). Every round
sends the same chat four ways — ``/v1`` direct, ``/v1`` through Seadragon, ``/api/chat``
direct, ``/api/chat`` through Seadragon — one at a time, so machine noise hits all alike:

- non-streamed, concurrency 1: added p50 / p99 on each path, and native minus ``/v1``
  (target: within 0.2 ms);
- streamed (64 chunks): added time to first chunk, and the added gap between chunks at
  p50 / p99 (the per-chunk cost; target for NDJSON: p99 ≤ 1 ms).

Usage: ``python -m bench.native [--requests 300] [--stream-requests 40]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.harness import pct
from bench.overhead import Body, ms, post, stream_times, timed
from bench.paths import Cores, Lab, Target, start_seadragon, start_upstream

CHUNKS = 64
WARM_UP = 20


@dataclass
class ApiPath:
    """One API through Seadragon and direct, with its bodies and what it measured."""

    name: str
    direct: str
    gateway: Target
    body: dict[str, Body]  # "whole" and "stream"
    times: dict[str, list[float]] = field(default_factory=lambda: {"direct": [], "gateway": []})
    first: dict[str, list[float]] = field(default_factory=lambda: {"direct": [], "gateway": []})
    gaps: dict[str, list[float]] = field(default_factory=lambda: {"direct": [], "gateway": []})


def v1_bodies() -> dict[str, Body]:
    messages = [{"role": "user", "content": "hello"}]
    whole = {"model": "fast", "messages": messages, "max_tokens": 8, "stream": False}
    return {"whole": whole, "stream": {**whole, "max_tokens": CHUNKS, "stream": True}}


def native_bodies() -> dict[str, Body]:
    messages = [{"role": "user", "content": "hello"}]
    whole = {"model": "fast", "messages": messages, "options": {"num_predict": 8}, "stream": False}
    return {"whole": whole, "stream": {**whole, "options": {"num_predict": CHUNKS}, "stream": True}}


def is_chunk(line: str) -> bool:
    """A chunk with text: an SSE ``data:`` line, or an NDJSON line not done (Seadragon's
    queue-position line before the first chunk has no text)."""
    compact = line.replace(" ", "")
    if '"content":""' in compact or '"content"' not in compact:
        return False
    return line.startswith("data: {") or (line.startswith("{") and '"done":false' in compact)


async def whole_round(client: httpx.AsyncClient, path: ApiPath, keep: bool) -> None:
    body = path.body["whole"]
    d = await timed(lambda: post(client, path.direct, {}, body))
    g = await timed(lambda: post(client, path.gateway.url, path.gateway.headers, body))
    if keep:
        path.times["direct"].append(d)
        path.times["gateway"].append(g)


async def stream_round(client: httpx.AsyncClient, path: ApiPath, keep: bool) -> None:
    body = path.body["stream"]
    for side, url, headers in (
        ("direct", path.direct, {}),
        ("gateway", path.gateway.url, path.gateway.headers),
    ):
        first, stamps = await stream_times(client, url, headers, body, is_chunk, CHUNKS)
        if keep:
            path.first[side].append(first)
            path.gaps[side] += [b - a for a, b in itertools.pairwise(stamps)]


def added(values: dict[str, list[float]], q: float) -> float:
    if q == 0.5:
        return statistics.median(values["gateway"]) - statistics.median(values["direct"])
    return pct(values["gateway"], q) - pct(values["direct"], q)


def report(paths: list[ApiPath], n: int, streams: int) -> None:
    v1, native = paths
    print(f"\n[concurrency 1, non-streamed chat, {n} requests each way per path]")
    for path in paths:
        t = path.times
        print(
            f"  {path.name:10} direct p50 {ms(statistics.median(t['direct']))}  "
            f"gateway p50 {ms(statistics.median(t['gateway']))}  "
            f"added p50 {ms(added(t, 0.5))}  p99 {ms(added(t, 0.99))}"
        )
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        diff = added(native.times, q) - added(v1.times, q)
        verdict = "met" if diff <= 0.0002 else "missed"
        print(f"  native - /v1 added {label} {ms(diff)}   (target: <= +0.20 ms: {verdict})")
    print(f"\n[streamed chat, {CHUNKS} chunks each, {streams} requests each way per path]")
    for path in paths:
        gaps = path.gaps
        print(
            f"  {path.name:10} first chunk added p50 {ms(added(path.first, 0.5))}  "
            f"chunk gap added p50 {ms(added(gaps, 0.5))}  p99 {ms(added(gaps, 0.99))}"
        )
    gap99 = added(native.gaps, 0.99)
    verdict = "met" if gap99 <= 0.001 else "missed"
    print(f"  NDJSON chunk gap added p99 {ms(gap99)}   (target: <= 1 ms: {verdict})")


async def measure(paths: list[ApiPath], n: int, streams: int) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n + WARM_UP):
            for path in paths:  # the paths take turns request by request
                await whole_round(client, path, keep=i >= WARM_UP)
        for i in range(streams + 5):
            for path in paths:
                await stream_round(client, path, keep=i >= 5)


async def run(args: argparse.Namespace, tmp: Path) -> None:
    lab = Lab(tmp, Cores(args.gateway_core, args.client_core))
    try:
        await start_upstream(lab, service=0.05, capacity=2)
        backend = {"name": "fast", "url": lab.upstream, "slots": 8, "models": ["fast"]}
        v1 = await start_seadragon(lab, "memory", [{**backend, "kind": "openai"}], name="v1")
        native = await start_seadragon(lab, "memory", [{**backend, "kind": "ollama"}], name="na")
        native.url = f"{native.base}/api/chat"
        paths = [
            ApiPath("/v1", f"{lab.upstream}/v1/chat/completions", v1, v1_bodies()),
            ApiPath("/api/chat", f"{lab.upstream}/api/chat", native, native_bodies()),
        ]
        one, five, fifteen = os.getloadavg()
        python, cores = sys.version.split()[0], os.cpu_count()
        print(f"Seadragon native path — queue=memory, Python {python}, {cores} cores")
        print(f"load average before: {one:.2f} {five:.2f} {fifteen:.2f}")
        print(f"command: python -m bench.native {' '.join(sys.argv[1:])}")
        await measure(paths, args.requests, args.stream_requests)
        report(paths, args.requests, args.stream_requests)
        one, five, fifteen = os.getloadavg()
        print(f"\nload average after: {one:.2f} {five:.2f} {fifteen:.2f}")
    finally:
        lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stream-requests", type=int, default=40)
    parser.add_argument("--gateway-core", default="0", help="CPU for the gateways ('' none)")
    parser.add_argument("--client-core", default="1", help="CPU for the fake upstream")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
