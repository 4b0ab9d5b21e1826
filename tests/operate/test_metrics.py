"""/metrics on a gateway with embedded workers (memory queue), after real traffic."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx

from fakes.ollama_server import FakeOllama
from tests.api.conftest import Gateway
from tests.operate.metrics_helpers import parse, total

BODY = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}
TOKEN = "metrics-token-for-the-tests-0123456789"


async def scrape(http: httpx.AsyncClient, gateway: Gateway, who: str = "root") -> str:
    response = await http.get(f"{gateway.url}/metrics", headers=gateway.headers(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def queued_count(http: httpx.AsyncClient, gateway: Gateway) -> int:
    response = await http.get(f"{gateway.url}/api/queue/status", headers=gateway.headers("root"))
    return len(response.json()["queued"])


async def test_metrics_after_traffic(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest", "error-after-1"], tokens=3) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory(
            [backend], models={"llama3"}, aging_interval_s=0.5, max_queue_depths={"high": 1},
            metrics_token=TOKEN,
        )  # fmt: skip
        url = f"{gateway.url}/v1/chat/completions"
        async with httpx.AsyncClient(timeout=30) as http:

            def call(who: str = "alice", **extra: Any) -> asyncio.Task[httpx.Response]:
                body = {**BODY, **extra}
                return asyncio.create_task(http.post(url, headers=gateway.headers(who), json=body))

            assert (await call()).status_code == 200
            streamed = await call(stream=True, stream_options={"include_usage": True})
            assert streamed.status_code == 200
            # A slow request holds the slot while a low one ages and the high band fills up.
            fake.config.service_time = 3.0
            blocker = call()
            await fake.until(lambda: len([r for r in fake.requests if r.path == "/api/chat"]) == 3)
            fake.config.service_time = 0.0
            low, queued_high = call("carol"), call()
            async with asyncio.timeout(10):
                while await queued_count(http, gateway) < 2:
                    await asyncio.sleep(0.02)
            during = parse(await scrape(http, gateway))
            full = await call()
            assert full.status_code == 429, full.text
            for task in (blocker, low, queued_high):
                assert (await task).status_code == 200
            assert (await call(model="error-after-1")).status_code == 502
            # Rows reach the metrics as the request log takes them: wait for the last one.
            async with asyncio.timeout(10):
                while True:
                    families = parse(await scrape(http, gateway))
                    if total(families["seadragon_requests"], "seadragon_requests_total") >= 7:
                        break
                    await asyncio.sleep(0.05)
            by_token = await http.get(
                f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            denied = await http.get(f"{gateway.url}/metrics", headers=gateway.headers("alice"))
            anonymous = await http.get(f"{gateway.url}/metrics")

    assert by_token.status_code == 200 and "seadragon_requests_total" in by_token.text
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    assert anonymous.status_code == 401

    assert total(during["seadragon_queue_depth"], "seadragon_queue_depth", model="llama3") == 2
    oldest = during["seadragon_queue_oldest_wait_seconds"]
    assert total(oldest, "seadragon_queue_oldest_wait_seconds", model="llama3") > 0

    requests = families["seadragon_requests"]
    route = "/v1/chat/completions"
    ok = total(requests, "seadragon_requests_total", route=route, model="llama3", outcome="ok")
    assert ok == 5
    assert total(requests, "seadragon_requests_total", band="low", outcome="ok") == 1
    rejected = total(
        requests, "seadragon_requests_total", outcome="rejected", reason="queue_full", band="high"
    )
    assert rejected == 1
    assert total(requests, "seadragon_requests_total", outcome="error", reason="upstream_error")
    for sample in requests:
        assert set(sample.labels) == {"route", "model", "band", "outcome", "reason"}

    waits = families["seadragon_queue_wait_seconds"]
    assert total(waits, "seadragon_queue_wait_seconds_count", entry_band="high") == 5
    aged = [s for s in waits if s.labels.get("entry_band") == "low" and s.name.endswith("_count")]
    assert aged and all(s.labels["dispatch_band"] != "low" for s in aged)
    promotions = families["seadragon_queue_promotions"]
    assert total(promotions, "seadragon_queue_promotions_total", from_band="low") == 1
    assert total(promotions, "seadragon_queue_promotions_total", from_band="normal") == 1
    ttft = families["seadragon_time_to_first_token_seconds"]
    assert total(ttft, "seadragon_time_to_first_token_seconds_count", model="llama3") == 5
    generation = families["seadragon_generation_seconds"]
    assert total(generation, "seadragon_generation_seconds_count", model="llama3") == 5
    assert total(families["seadragon_completion_tokens"], "seadragon_completion_tokens_total") >= 15
    assert total(families["seadragon_prompt_tokens"], "seadragon_prompt_tokens_total") >= 5
    limited = families["seadragon_rate_limited"]
    assert total(limited, "seadragon_rate_limited_total", code="queue_full") == 1
    retry = families["seadragon_retry_after_seconds"]
    assert total(retry, "seadragon_retry_after_seconds_count", code="queue_full") == 1
    assert total(families["seadragon_backend_slots"], "seadragon_backend_slots", backend="gpu") == 1
    assert total(families["seadragon_backend_up"], "seadragon_backend_up", backend="gpu") == 1
    assert "seadragon_backend_slots_busy" in families
    # Bounded labels: never a user, a key or a request id.
    text = by_token.text
    for secret in ("alice", "carol", gateway.keys["alice"]):
        assert secret not in text


def test_the_grafana_dashboard_reads_only_metrics_seadragon_exports() -> None:
    from pathlib import Path

    from seadragon.metrics import Metrics

    registry = Metrics(["high", "normal", "low"])
    registry.watch_workers(list)
    exported = {family.name for family in registry.registry.collect()}
    dashboard = json.loads(
        (Path(__file__).parents[2] / "docs" / "grafana-seadragon.json").read_text()
    )
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"seadragon_[a-z_]+", target["expr"])
    }
    assert len(used) >= 10 and used <= exported, used - exported
