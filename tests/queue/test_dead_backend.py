"""A backend that refuses connections: its worker stops taking work, and nothing is lost.

Two fake OpenAI-compatible backends serve one model through real ``BackendWorker``s on
each queue implementation. One is stopped: the request it refuses goes back to the
queue and is answered by the other, the dead one's worker takes nothing more, and once
the backend listens again on its port the worker's probe finds it and it serves again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from slots import make_job, outcome, wait_until

from fakes.openai_server import FakeOpenAI
from seadragon.backends.openai import OpenAIBackend
from seadragon.config import BackendConfig, Settings
from seadragon.queue.base import BaseQueueManager, End, Started
from seadragon.worker.pool import BackendWorker


def backend(name: str, fake: FakeOpenAI) -> OpenAIBackend:
    return OpenAIBackend(BackendConfig(name=name, url=fake.url, kind="openai", slots=1), 10.0)


def chats(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r.path == "/v1/chat/completions")


@pytest.fixture
async def workers(
    queue_factory: Callable[..., Any],
) -> AsyncIterator[Callable[[BaseQueueManager, list[OpenAIBackend]], Any]]:
    async with AsyncExitStack() as stack:

        async def start(
            queue: BaseQueueManager, backends: list[OpenAIBackend]
        ) -> list[BackendWorker]:
            settings = Settings(model_refresh_s=60.0)
            started = []
            for item in backends:
                worker = BackendWorker(queue, item, settings)
                await worker.start()
                stack.push_async_callback(item.close)
                stack.push_async_callback(worker.close, 1.0)
                started.append(worker)
            return started

        yield start


async def test_a_refused_request_goes_to_the_other_backend_and_the_dead_one_comes_back(
    queue_factory: Callable[..., Any], workers: Any
) -> None:
    queue = await queue_factory()
    with FakeOpenAI(models=["m"], tokens=2, token_delay=0.05) as alive:
        doomed = FakeOpenAI(models=["m"], tokens=2).__enter__()
        _, doomed_worker = await workers(
            queue, [backend("alive", alive), backend("doomed", doomed)]
        )
        await wait_until(
            lambda: queue.models().get("m") is not None and queue.models()["m"].slots == 2
        )
        doomed.__exit__()  # refuses connections from now on

        # Enough requests that the dead backend's idle slot is offered some of them.
        tickets = [await queue.submit(make_job("high", model="m")) for _ in range(6)]
        results = await asyncio.gather(*(outcome(ticket, timeout=30) for ticket in tickets))
        for events in results:
            assert isinstance(events[-1], End), events[-1]
            started = [e for e in events if isinstance(e, Started)]
            assert started[-1].backend == "alive"
        assert chats(alive) == len(tickets)
        assert not doomed_worker.reachable
        # A refused request was offered to the dead backend at most once per slot.
        refused = sum(
            1
            for events in results
            if any(isinstance(e, Started) and e.backend == "doomed" for e in events)
        )
        assert refused <= 1
        assert "doomed" not in queue.models()["m"].backends

        # Back on its port: the probe finds it, and it takes work again.
        revived = FakeOpenAI(models=["m"], tokens=2, port=doomed.port).__enter__()
        try:
            await wait_until(lambda: doomed_worker.reachable, timeout=20)
            await wait_until(lambda: "doomed" in queue.models()["m"].backends)
            alive.config.service_time = 0.5  # keep the live one busy, so the other must serve
            more = [await queue.submit(make_job("high", model="m")) for _ in range(3)]
            done = await asyncio.gather(*(outcome(ticket, timeout=30) for ticket in more))
            assert all(isinstance(events[-1], End) for events in done)
            assert chats(revived) >= 1
        finally:
            revived.__exit__()
