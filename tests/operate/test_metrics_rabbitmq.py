"""/metrics across processes: two gateways and two workers on RabbitMQ add up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from bench.processes import Stack, free_port

from tests.distributed.conftest import cluster
from tests.operate.metrics_helpers import parse, total

pytestmark = pytest.mark.rabbitmq

TOKEN = "metrics-token-for-the-tests-0123456789"


def body(tokens: int, stream: bool = False) -> dict[str, object]:
    return {
        "model": "bench",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": tokens,
        "stream": stream,
    }


async def scrape(http: httpx.AsyncClient, url: str) -> dict[str, list]:  # type: ignore[type-arg]
    response = await http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return parse(response.text)


async def restart_workers_with_metrics(stack: Stack) -> list[str]:
    """Both workers again, each with its own metrics listener on a free port."""
    stack.kill("worker0")
    urls = []
    for name in ("worker0", "worker1"):
        port = free_port()
        stack.start_worker(name, env={"SEADRAGON_WORKER_METRICS_PORT": str(port)})
        urls.append(f"http://127.0.0.1:{port}")
    return urls


async def test_metrics_add_up_across_gateways_and_workers(tmp_path: Path) -> None:
    async with (
        cluster(tmp_path, gateways=2, workers=1, SEADRAGON_METRICS_TOKEN=TOKEN) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        workers = await restart_workers_with_metrics(stack)
        async with asyncio.timeout(30):
            for url in workers:
                while True:
                    try:
                        families = await scrape(http, url)
                    except httpx.HTTPError:
                        families = {}
                    if total(families.get("seadragon_backend_up", []), "seadragon_backend_up"):
                        break
                    await asyncio.sleep(0.1)
        unauthorised = await http.get(f"{workers[0]}/metrics")
        assert unauthorised.status_code == 401

        chat = [f"{g}/v1/chat/completions" for g in stack.gateways]
        for i in range(5):
            response = await http.post(
                chat[i % 2], headers=stack.auth, json=body(3, stream=i % 2 == 1)
            )
            assert response.status_code == 200, response.text

        # Two long requests hold both slots; a third waits in gateway 0's queue share.
        held = [
            asyncio.create_task(http.post(chat[0], headers=stack.auth, json=body(150)))
            for _ in range(3)
        ]
        async with asyncio.timeout(20):
            while True:
                busy = [await scrape(http, url) for url in workers]
                slots_busy = sum(
                    total(f["seadragon_backend_slots_busy"], "seadragon_backend_slots_busy")
                    for f in busy
                )
                depth = total(
                    (await scrape(http, stack.gateways[0]))["seadragon_queue_depth"],
                    "seadragon_queue_depth",
                    model="bench",
                )
                if slots_busy == 2 and depth == 1:
                    break
                await asyncio.sleep(0.1)
        other = await scrape(http, stack.gateways[1])
        assert total(other["seadragon_queue_depth"], "seadragon_queue_depth") == 0
        for task in held:
            assert (await task).status_code == 200

        gateways = [await scrape(http, url) for url in stack.gateways]
        worker_figures = [await scrape(http, url) for url in workers]

    per_gateway = [
        total(g["seadragon_requests"], "seadragon_requests_total", outcome="ok", model="bench")
        for g in gateways
    ]
    assert per_gateway == [6, 2]  # each request counted once, by the gateway it came to
    waits = sum(
        total(g["seadragon_queue_wait_seconds"], "seadragon_queue_wait_seconds_count")
        for g in gateways
    )
    assert waits == 8
    tokens = sum(
        total(g["seadragon_completion_tokens"], "seadragon_completion_tokens_total")
        for g in gateways
    )
    assert tokens == 5 * 3 + 3 * 150
    ttft = sum(
        total(
            g["seadragon_time_to_first_token_seconds"],
            "seadragon_time_to_first_token_seconds_count",
        )
        for g in gateways
    )
    assert ttft == 8
    # Slots are exported by the process that runs them: the gateways run none.
    assert all(total(g.get("seadragon_backend_slots", []), "seadragon_backend_slots") == 0
               for g in gateways)  # fmt: skip
    backends = sorted(
        s.labels["backend"] for w in worker_figures for s in w["seadragon_backend_slots"]
    )
    assert backends == ["fake-worker0", "fake-worker1"]
    assert sum(total(w["seadragon_backend_slots"], "seadragon_backend_slots")
               for w in worker_figures) == 2  # fmt: skip
