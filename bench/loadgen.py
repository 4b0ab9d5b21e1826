"""The load generator, a process of its own (pinned to its own core by the bench command).

Reads one JSON spec on stdin, sends the load, prints one JSON result on stdout:

- ``sequential``: ``count`` requests one after the other (concurrency 1);
- ``open``: ``rate`` requests per second for ``duration`` seconds, each sent at its
  scheduled time whatever the answers do (open loop); latency counts from the scheduled
  time, so a late sender does not hide queueing;
- ``closed``: ``concurrency`` clients, each sending its next request as soon as the last
  one is answered, for ``duration`` seconds;
- ``burst``: ``count`` requests all at once.

Each request picks a ``class`` from ``mix`` (weights; extra headers and body fields, e.g.
a priority) in a fixed random order. A sample is ``[class, sent, latency, ttft, ok,
chunks, lost, duplicated, gaps, status]`` with times in seconds from the start; streamed chunks
are checked against the fake upstream's numbering (``tok<i>``).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import sys
import time
from typing import Any

import aiohttp
import orjson

TOKEN = re.compile(rb"tok(\d+)")
Sample = list[Any]


class Load:
    def __init__(self, spec: dict[str, Any], session: aiohttp.ClientSession) -> None:
        self.spec, self.session = spec, session
        self.ollama = spec.get("kind") == "ollama"
        self.stream = bool(spec.get("stream"))
        self.expect = int(spec.get("tokens", 8))
        self.mix: list[dict[str, Any]] = spec.get("mix") or [{"name": "all", "weight": 1}]
        self.random = random.Random(spec.get("seed", 1))
        self.start = 0.0
        self.samples: list[Sample] = []
        self.keep_gaps = bool(spec.get("gaps"))
        self.timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 120)))

    def pick(self) -> dict[str, Any]:
        weights = [float(m.get("weight", 1)) for m in self.mix]
        return self.random.choices(self.mix, weights)[0]

    def body(self, cls: dict[str, Any]) -> bytes:
        body: dict[str, Any] = {
            "model": self.spec["model"],
            "messages": [{"role": "user", "content": "hello"}],
            "stream": self.stream,
        }
        if self.ollama:
            body["options"] = {"num_predict": self.expect}
        else:
            body["max_tokens"] = self.expect
        body.update(self.spec.get("body") or {})
        body.update(cls.get("body") or {})
        return orjson.dumps(body)

    async def one(self, sent: float) -> None:
        cls = self.pick()
        headers = {"Content-Type": "application/json", **self.spec.get("headers", {})}
        headers.update(cls.get("headers") or {})
        ttft: float | None = None
        seen: list[int] = []
        stamps: list[float] = []
        ok, status = False, "?"
        try:
            async with self.session.post(
                self.spec["url"], data=self.body(cls), headers=headers, timeout=self.timeout
            ) as response:
                if self.stream:
                    async for line in response.content:
                        found = TOKEN.findall(line)
                        if found:
                            now = time.perf_counter() - self.start
                            ttft = now - sent if ttft is None else ttft
                            stamps.append(now)
                            seen += [int(n) for n in found]
                elif self.spec.get("usage"):  # a real model: count what it says it made
                    answer = orjson.loads(await response.read())
                    seen = list(range(int(answer["usage"]["completion_tokens"])))
                else:
                    seen = [int(n) for n in TOKEN.findall(await response.read())]
                ok, status = response.status == 200 and bool(seen), str(response.status)
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            ok, status = False, type(exc).__name__
        latency = time.perf_counter() - self.start - sent
        lost = len(set(range(self.expect)) - set(seen))
        duplicated = len(seen) - len(set(seen))
        gaps = [b - a for a, b in itertools.pairwise(stamps)] if self.keep_gaps else []
        self.samples.append(
            [cls["name"], sent, latency, ttft, ok, len(seen), lost, duplicated, gaps, status]
        )

    async def run(self) -> dict[str, Any]:
        mode = self.spec["mode"]
        self.start = time.perf_counter()
        lag = 0.0
        if mode == "sequential":
            for _ in range(int(self.spec["count"])):
                await self.one(time.perf_counter() - self.start)
        elif mode == "burst":
            await asyncio.gather(*(self.one(0.0) for _ in range(int(self.spec["count"]))))
        elif mode == "open":
            rate, tasks = float(self.spec["rate"]), []
            for i in range(int(rate * float(self.spec["duration"]))):
                at = i / rate
                delay = at - (time.perf_counter() - self.start)
                if delay > 0:
                    await asyncio.sleep(delay)
                lag = max(lag, -delay)
                tasks.append(asyncio.create_task(self.one(at)))
            await asyncio.gather(*tasks)
        elif mode == "closed":
            end = float(self.spec["duration"])

            async def client() -> None:
                while (now := time.perf_counter() - self.start) < end:
                    await self.one(now)

            await asyncio.gather(*(client() for _ in range(int(self.spec["concurrency"]))))
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return {"elapsed": time.perf_counter() - self.start, "lag": lag, "samples": self.samples}


async def main() -> None:
    spec = orjson.loads(sys.stdin.buffer.read())
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        result = await Load(spec, session).run()
    sys.stdout.buffer.write(orjson.dumps(result))


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # the default loop works, only slower
        pass
    asyncio.run(main())
