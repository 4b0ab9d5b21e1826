"""What Seadragon's upstream client costs: sequential streamed chats against the fake
OpenAI-compatible server, three ways in one run, side by side:

- ``OpenAIBackend.stream_chat`` (what the gateway and the workers use);
- a raw ``httpx.AsyncClient`` and a raw ``aiohttp.ClientSession``, each reading the SSE
  lines and parsing every ``data:`` event with orjson, as any consumer must.

The fake (``python -m tests.fakes.openai_server``) runs as its own process; the three
clients take turns request by request, in a rotating order, so machine noise hits them
alike, and each keeps its connection alive. Printed: median and p99 per way, and what the
backend adds over the raw aiohttp client (which it is built on).

Usage: ``python -m bench.upstream_client [--requests 350] [--tokens 8] [--loop uvloop]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import orjson

from bench.processes import ROOT, free_port
from seadragon.backends.openai import OpenAIBackend
from seadragon.config import BackendConfig

WARMUP = 30
Call = Callable[[], Awaitable[int]]


def chat_body(tokens: int) -> dict[str, Any]:
    return {
        "model": "bench",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": tokens,
        "stream": True,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.3f} ms"


def backend_call(backend: OpenAIBackend, tokens: int) -> Call:
    async def call() -> int:
        count = 0
        async for _ in backend.stream_chat(chat_body(tokens)):
            count += 1
        return count

    return call


def httpx_call(client: httpx.AsyncClient, url: str, tokens: int) -> Call:
    headers = {"content-type": "application/json"}

    async def call() -> int:
        content = orjson.dumps(chat_body(tokens))
        count = 0
        async with client.stream("POST", url, content=content, headers=headers) as resp:
            resp.raise_for_status()
            async for line in resp.aiter_lines():
                if line.startswith("data:") and (event := line[5:].strip()) != "[DONE]":
                    orjson.loads(event)
                    count += 1
        return count

    return call


def aiohttp_call(session: aiohttp.ClientSession, url: str, tokens: int) -> Call:
    headers = {"content-type": "application/json"}

    async def call() -> int:
        data = orjson.dumps(chat_body(tokens))
        count = 0
        async with session.post(url, data=data, headers=headers) as resp:
            resp.raise_for_status()
            async for line in resp.content:
                if line.startswith(b"data:") and (event := line[5:].strip()) != b"[DONE]":
                    orjson.loads(event)
                    count += 1
        return count

    return call


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(trust_env=False) as client, asyncio.timeout(30):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            if proc.poll() is not None:
                raise RuntimeError(f"the fake exited with {proc.returncode}")
            await asyncio.sleep(0.1)


async def measure(upstream: str, requests: int, tokens: int) -> dict[str, list[float]]:
    url = f"{upstream}/v1/chat/completions"
    config = BackendConfig(name="fake", url=upstream, kind="openai", slots=1)
    backend = OpenAIBackend(config, 600.0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with (
        httpx.AsyncClient(timeout=600, trust_env=False) as client,
        aiohttp.ClientSession(timeout=timeout) as session,
    ):
        ways = {
            "OpenAIBackend.stream_chat": backend_call(backend, tokens),
            "raw httpx": httpx_call(client, url, tokens),
            "raw aiohttp": aiohttp_call(session, url, tokens),
        }
        names = list(ways)
        times: dict[str, list[float]] = {name: [] for name in names}
        try:
            for i in range(WARMUP + requests):
                for name in names[i % 3 :] + names[: i % 3]:
                    start = time.perf_counter()
                    count = await ways[name]()
                    elapsed = time.perf_counter() - start
                    if count < tokens:
                        raise RuntimeError(f"{name}: {count} chunks for {tokens} tokens")
                    if i >= WARMUP:
                        times[name].append(elapsed)
        finally:
            await backend.close()
    return times


async def run(args: argparse.Namespace, upstream: str, proc: subprocess.Popen[bytes]) -> None:
    await wait_ready(f"{upstream}/v1/models", proc)
    times = await measure(upstream, args.requests, args.tokens)
    python = sys.version.split()[0]
    print(
        f"Upstream client — {args.requests} sequential streamed chats ({args.tokens} tokens, "
        f"SSE) each way, Python {python}, {args.loop} loop, {os.cpu_count()} cores"
    )
    for name, values in times.items():
        print(f"  {name:26} p50 {ms(statistics.median(values))}  p99 {ms(pct(values, 0.99))}")
    ours, raw = times["OpenAIBackend.stream_chat"], times["raw aiohttp"]
    added50 = statistics.median(ours) - statistics.median(raw)
    print(f"  backend adds over raw aiohttp: p50 {ms(added50)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=350)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="uvloop, as the gateway runs under uvicorn (default), or asyncio's own",
    )
    args = parser.parse_args()
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    port = free_port()
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port)]
    command += ["--models", "bench", "--token-delay", "0", "--tokens", str(args.tokens)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(run(args, f"http://127.0.0.1:{port}", proc))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
