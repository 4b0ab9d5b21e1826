"""What clients of a distributed Seadragon get, counted.

``Clients`` sends chat (or completion) requests tagged with their message content to the
stack's gateways and reads the fake's record: its ``/_fake/stats`` tags tell in which
order requests reached the backend and which lost their connection. ``Outcome`` is what
one client got; ``Tally`` sorts outcomes into answered once (the full text, or a clean
error in the OpenAI shape), lost (no terminal answer in time) and duplicated (a repeated
token, or more text than the fake produces).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from bench.processes import Stack

from tests.fakes import token

#: The longest any single client waits for its terminal answer before it counts as lost.
ANSWER_TIMEOUT_S = 30.0


def expected_text(tokens: int) -> str:
    return "".join(token(i) for i in range(tokens))


@dataclass
class Outcome:
    """What one client got back."""

    tag: str
    tokens: int
    status: int | None = None
    text: str = ""
    error: dict[str, Any] | None = None
    done: bool = False  # a terminal answer: [DONE], an error event or an error body
    queued_at: float | None = None  # when the first queue-position comment arrived
    first_token_at: float | None = None
    ended_at: float | None = None
    cut: str | None = None  # the connection failed without a terminal answer

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.done and self.error is None

    @property
    def duplicated(self) -> bool:
        pieces = self.text.split()
        return len(pieces) != len(set(pieces)) or not expected_text(self.tokens).startswith(
            self.text
        )

    @property
    def clean(self) -> bool:
        """The full text, or an error in the OpenAI shape (after a prefix of the text)."""
        if self.duplicated or not self.done:
            return False
        if self.error is None:
            return self.status == 200 and self.text == expected_text(self.tokens)
        return set(self.error) >= {"message", "type", "param", "code"}


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def answered_once(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.clean]

    @property
    def lost(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.done]

    @property
    def duplicated(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.duplicated]

    def counts(self) -> dict[str, int]:
        kinds = Counter(
            "ok" if o.ok else str((o.error or {}).get("code", "lost")) for o in self.outcomes
        )
        return {
            "requests": len(self.outcomes),
            "answered_once": len(self.answered_once),
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            **{f"kind:{k}": v for k, v in sorted(kinds.items())},
        }


class Clients:
    """Sends tagged chat requests to the stack's gateways and reads the fake's record."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http

    async def chat(
        self,
        gateway: int,
        tag: str,
        tokens: int,
        *,
        band: str | None = None,
        stream: bool = True,
        request_id: str | None = None,
        queued: asyncio.Event | None = None,
        first_token: asyncio.Event | None = None,
        timeout: float = ANSWER_TIMEOUT_S,
        completion: bool = False,
    ) -> Outcome:
        """One chat request (or, with ``completion``, a text completion of prompt ``tag``);
        ``queued`` is set once the gateway says it is in the queue, ``first_token`` once
        the first token arrived (both at the end at the latest)."""
        headers = dict(self.stack.auth)
        if band is not None:
            headers["X-Seadragon-Priority"] = band
        if request_id is not None:
            headers["X-Request-Id"] = request_id
        body: dict[str, Any] = {"model": "bench", "max_tokens": tokens, "stream": stream}
        if completion:
            body["prompt"] = tag
        else:
            body["messages"] = [{"role": "user", "content": tag}]
        outcome = Outcome(tag, tokens)
        path = "completions" if completion else "chat/completions"
        url = f"{self.stack.gateways[gateway]}/v1/{path}"
        try:
            async with asyncio.timeout(timeout):
                if stream:
                    await self._stream(url, headers, body, outcome, queued, first_token)
                else:
                    await self._whole(url, headers, body, outcome)
        except TimeoutError:
            outcome.cut = "timed out"
        except httpx.HTTPError as exc:
            outcome.cut = repr(exc)
        outcome.ended_at = time.monotonic()
        for event in (queued, first_token):
            if event is not None:
                event.set()  # never leave a caller waiting for a request that ended early
        return outcome

    async def _whole(
        self, url: str, headers: dict[str, str], body: dict[str, Any], outcome: Outcome
    ) -> None:
        response = await self.http.post(url, json=body, headers=headers)
        outcome.status = response.status_code
        data = response.json()
        if response.status_code == 200:
            choice = data["choices"][0]
            outcome.text = choice["message"]["content"] if "message" in choice else choice["text"]
        else:
            outcome.error = data["error"]
        outcome.done = True

    async def _stream(
        self,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any],
        outcome: Outcome,
        queued: asyncio.Event | None,
        first_token: asyncio.Event | None,
    ) -> None:
        async with self.http.stream("POST", url, json=body, headers=headers) as response:
            outcome.status = response.status_code
            if response.status_code != 200:
                outcome.error = json.loads(await response.aread())["error"]
                outcome.done = True
                return
            async for line in response.aiter_lines():
                if line.startswith(": queue position"):
                    if outcome.queued_at is None:
                        outcome.queued_at = time.monotonic()
                    if queued is not None:
                        queued.set()
                elif line == "data: [DONE]":
                    outcome.done = True
                    return
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if "error" in data:
                        outcome.error = data["error"]
                        outcome.done = True
                        return
                    for choice in data.get("choices") or ():
                        piece = (choice.get("delta") or {}).get("content") or choice.get("text")
                        piece = piece or ""
                        if piece and outcome.first_token_at is None:
                            outcome.first_token_at = time.monotonic()
                            if first_token is not None:
                                first_token.set()
                        outcome.text += piece

    async def queue(
        self, gateway: int, tag: str, tokens: int, **options: Any
    ) -> asyncio.Task[Outcome]:
        """Start a streamed request and return once the gateway has queued it."""
        queued = asyncio.Event()
        task = asyncio.create_task(self.chat(gateway, tag, tokens, queued=queued, **options))
        async with asyncio.timeout(10):
            await queued.wait()
        return task

    # The fake upstream --------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        response = await self.http.get(f"{self.stack.upstream}/_fake/stats")
        data: dict[str, Any] = response.json()
        return data

    async def reset(self) -> None:
        await self.http.post(f"{self.stack.upstream}/_fake/reset")

    async def until(
        self, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll the fake's stats until ``check`` holds; fail the test after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    stats = await self.stats()
                    if check(stats):
                        return stats
                    await asyncio.sleep(0.02)
        except TimeoutError:
            pytest.fail(f"not within {timeout} s: {what}; fake stats: {await self.stats()}")

    async def worker_serving(self, name: str, gateway: int = 0, timeout: float = 15.0) -> None:
        """Wait until the gateway lists process ``name`` (this run of it) as a worker."""
        marker = f":{self.stack.processes[name].pid}:"
        try:
            async with asyncio.timeout(timeout):
                while True:
                    status = (await self.admin(gateway, "GET", "/api/queue/status")).json()
                    if any(marker in w["id"] and w["reachable"] for w in status["workers"]):
                        return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pytest.fail(f"{name} not serving within {timeout} s:\n{self.stack.log(name)[-2000:]}")

    async def admin(self, gateway: int, method: str, path: str) -> httpx.Response:
        url = f"{self.stack.gateways[gateway]}{path}"
        return await self.http.request(method, url, headers=self.stack.auth)


def arrivals(stats: dict[str, Any], prefix: str = "") -> list[str]:
    """Tags that reached the fake, in arrival order (only those starting with ``prefix``)."""
    return [t["tag"] for t in stats["tags"] if str(t["tag"]).startswith(prefix)]


def tag_record(stats: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    return [t for t in stats["tags"] if t["tag"] == tag]


@asynccontextmanager
async def clients_for(stack: Stack) -> AsyncIterator[Clients]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    timeout = httpx.Timeout(60, connect=5)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        yield Clients(stack, http)
