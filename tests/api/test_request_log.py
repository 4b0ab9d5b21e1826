"""One request-log row per request, with what an operator needs to know about it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from fakes.ollama_server import FakeOllama
from seadragon.db.engine import Database
from seadragon.db.tables import RequestLog
from tests.api.conftest import Gateway

BODY = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}


async def rows_for(gateway: Gateway, count: int) -> dict[str, RequestLog]:
    """Wait until ``count`` rows were flushed (the writer batches every 0.5 s)."""
    database = Database(gateway.settings)
    await database.start(migrate=False)
    try:
        async with asyncio.timeout(10):
            while True:
                async with database.session() as session:
                    rows = list((await session.scalars(select(RequestLog))).all())
                if len(rows) >= count:
                    return {row.request_id: row for row in rows}
                await asyncio.sleep(0.1)
    finally:
        await database.close()


async def test_every_outcome_is_logged_once(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest", "error-after-1"], service_time=0.6, tokens=3) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory(
            [backend], models={"llama3"}, aging_interval_s=0.3, max_queue_depth=3
        )
        url = f"{gateway.url}/v1/chat/completions"

        async def call(rid: str, who: str = "alice", **extra: Any) -> httpx.Response:
            headers = {**gateway.headers(who), "x-request-id": rid}
            return await http.post(url, headers=headers, json={**BODY, **extra})

        async with httpx.AsyncClient(timeout=30) as http:
            assert (await call("ok-1")).status_code == 200
            first = asyncio.create_task(call("ok-2"))
            await fake.until(lambda: len([r for r in fake.requests if r.path == "/api/chat"]) == 2)
            aged = asyncio.create_task(call("aged-1", "carol"))  # a low-band key
            cancelled = asyncio.create_task(call("cancel-1"))
            async with asyncio.timeout(5):
                while (
                    await http.get(
                        f"{gateway.url}/api/queue/requests/cancel-1", headers=gateway.headers()
                    )
                ).status_code != 200:
                    await asyncio.sleep(0.02)
            await http.delete(
                f"{gateway.url}/api/queue/requests/cancel-1", headers=gateway.headers()
            )
            assert (await cancelled).status_code == 499
            assert (await first).status_code == 200
            assert (await aged).status_code == 200
            failed = await call("error-1", model="error-after-1")
            assert failed.status_code == 502
            bad = await call("missing-1", model="nope")
            assert bad.status_code == 404

        rows = await rows_for(gateway, 5)
    assert set(rows) == {"ok-1", "ok-2", "aged-1", "cancel-1", "error-1"}  # 404: never queued
    ok = rows["ok-1"]
    assert (ok.status, ok.http_status, ok.backend, ok.kind) == ("ok", 200, "gpu", "chat")
    assert (ok.entry_band, ok.dispatch_band) == ("high", "high")
    assert ok.prompt_tokens == 1 and ok.completion_tokens == 3
    assert ok.queued_at <= ok.started_at <= ok.first_token_at <= ok.finished_at
    assert ok.user_id is not None and ok.key_id is not None
    aged_row = rows["aged-1"]
    assert aged_row.entry_band == "low" and aged_row.dispatch_band != "low"  # it was promoted
    assert (rows["cancel-1"].status, rows["cancel-1"].started_at) == ("cancelled", None)
    error = rows["error-1"]
    assert (error.status, error.error_kind, error.http_status) == ("error", "UpstreamError", 502)
