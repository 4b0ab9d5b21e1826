"""What a 200 kB image and a 20-tool request add on top of plain chat, at concurrency 1.

Starts the same stack as ``bench.overhead`` (fake OpenAI-compatible upstream, gateway as a
real process) and sends three kinds of non-streamed chat request, each both directly and
through the gateway, interleaved: plain chat, chat with a 200 kB PNG as a ``data:`` URL,
and chat offering 20 tools (the fake answers it with a tool call). For each kind it prints
the gateway's added latency (gateway - direct) at p50 and p99, and how much more that is
than plain chat's: the cost of validating, translating and relaying images and tools. The
three kinds take turns request by request, so machine noise hits each alike.

Usage: ``python -m bench.agent [--mode memory|rabbitmq] [--requests 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile

import httpx

from bench.overhead import Body, ms, pct, post, timed
from bench.processes import Stack, start_stack

IMAGE_BYTES = 200 * 1024
TOOLS = 20


def plain() -> Body:
    return {"model": "bench", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def image() -> Body:
    # A PNG signature then filler: the gateway checks the data URL and its base64, not pixels.
    raw = b"\x89PNG\r\n\x1a\n" + os.urandom(IMAGE_BYTES - 8)
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return {**plain(), "messages": [{"role": "user", "content": parts}]}


def tools() -> Body:
    def tool(i: int) -> dict[str, object]:
        properties = {
            "city": {"type": "string", "description": "a city"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
        }
        schema = {"type": "object", "properties": properties, "required": ["city"]}
        function = {"name": f"tool_{i}", "description": f"tool number {i}", "parameters": schema}
        return {"type": "function", "function": function}

    return {**plain(), "tools": [tool(i) for i in range(TOOLS)]}


async def measure(
    stack: Stack, kinds: dict[str, Body], n: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Per kind, direct and gateway latencies; kinds take turns so noise hits all alike."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in kinds}
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n + 20):
            for name, body in kinds.items():
                d = await timed(lambda b=body: post(client, stack.direct_chat, {}, b))
                g = await timed(lambda b=body: post(client, stack.gateway_chat, stack.auth, b))
                if i >= 20:  # warm-up excluded
                    times[name][0].append(d)
                    times[name][1].append(g)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["memory", "rabbitmq"], default="memory")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with start_stack(args.mode, tmp, upstream_args=("--tokens", "8")) as stack:
            print(f"Seadragon agent requests — queue={args.mode}, Python {sys.version.split()[0]}")
            print(f"command: python -m bench.agent {' '.join(sys.argv[1:])}")
            print(f"[concurrency 1, non-streamed, {args.requests} requests each way per kind]")
            kinds = {"plain": plain(), "image 200kB": image(), f"{TOOLS} tools": tools()}
            times = await measure(stack, kinds, args.requests)
            baseline: float | None = None
            for name, (direct, gateway) in times.items():
                p50 = statistics.median(gateway) - statistics.median(direct)
                p99 = pct(gateway, 0.99) - pct(direct, 0.99)
                line = (
                    f"  {name:12} direct p50 {ms(statistics.median(direct))}  "
                    f"gateway p50 {ms(statistics.median(gateway))}  "
                    f"added p50 {ms(p50)}  p99 {ms(p99)}"
                )
                if baseline is None:
                    baseline = p50
                else:
                    line += f"  vs plain p50 {ms(p50 - baseline)}"
                print(line)


if __name__ == "__main__":
    asyncio.run(main())
