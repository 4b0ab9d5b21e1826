"""``seadragon worker --backend NAME``: one shared configuration, each host's worker picks
its own entry."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from tests.distributed.clients import clients_for
from tests.distributed.conftest import cluster

pytestmark = pytest.mark.rabbitmq


async def test_a_worker_serves_only_the_configured_backend_it_picks(tmp_path: Path) -> None:
    async with cluster(tmp_path, gateways=1, workers=1) as stack, clients_for(stack) as clients:
        shared_config = [
            {"name": "picked", "url": stack.upstream, "kind": "openai", "slots": 2},
            {"name": "elsewhere", "url": "http://127.0.0.1:9", "kind": "openai"},
        ]
        stack.start_worker(
            "worker1",
            env={"SEADRAGON_BACKENDS": json.dumps(shared_config)},
            args=["--backend", "picked"],
        )
        await clients.worker_serving("worker1")
        stack.kill("worker0", signal.SIGTERM)  # withdraws: only the picking worker is left

        async def workers() -> list[tuple[str, int]]:
            status = (await clients.admin(0, "GET", "/api/queue/status")).json()
            return [(w["backend"], w["slots"]) for w in status["workers"]]

        async with asyncio.timeout(10):
            while (listed := await workers()) != [("picked", 2)]:
                assert {name for name, _ in listed} <= {"picked", "fake-worker0"}, listed
                await asyncio.sleep(0.05)
        outcome = await clients.chat(0, "picked-backend", 5)
        assert outcome.ok, outcome
