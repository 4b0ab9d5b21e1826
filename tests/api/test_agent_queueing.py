"""Tool, image and Responses requests go through the queue like plain chat: bands decide
the order, a cancelled one never reaches the backend, and each leaves one log row."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.agent_helpers import KINDS, PIXEL, WEATHER, setup
from tests.api.test_request_log import rows_for

IMAGE = [
    {"type": "text", "text": "image"},
    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
]


def tag_of(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "image"


@pytest.mark.parametrize("kind", KINDS)
async def test_bands_cancellation_and_request_log(gateway_factory: Any, kind: str) -> None:
    # The first request holds the only slot long enough for the others to queue behind it;
    # the rest are quick (knobs are read per request).
    async with setup(gateway_factory, kind, slots=1, service_time=4.0) as s:
        gateway = s.gateway

        async def call(rid: str, who: str, path: str, body: dict[str, Any]) -> httpx.Response:
            headers = {**gateway.headers(who), "x-request-id": rid}
            return await http.post(f"{gateway.url}{path}", headers=headers, json=body)

        async def queued(count: int) -> None:
            async with asyncio.timeout(10):
                while True:
                    status = await http.get(
                        f"{gateway.url}/api/queue/status", headers=gateway.headers("root")
                    )
                    if len(status.json()["queued"]) >= count:
                        return
                    await asyncio.sleep(0.02)

        tools = {"model": "llama3", "tools": [WEATHER], "user": "end-user-7"}
        async with httpx.AsyncClient(timeout=30) as http:
            busy = asyncio.create_task(
                call(
                    "busy",
                    "alice",
                    "/v1/chat/completions",
                    {**tools, "messages": [{"role": "user", "content": "busy"}]},
                )
            )
            await s.fake.until(lambda: len(s.chats()) == 1)
            s.fake.config.service_time = 0.0
            low = asyncio.create_task(
                call(
                    "low-tools",
                    "carol",
                    "/v1/chat/completions",
                    {**tools, "messages": [{"role": "user", "content": "low"}]},
                )
            )
            await queued(1)
            image = asyncio.create_task(
                call(
                    "cancel-image",
                    "alice",
                    "/v1/chat/completions",
                    {"model": "llama3", "messages": [{"role": "user", "content": IMAGE}]},
                )
            )
            await queued(2)
            high = asyncio.create_task(
                call(
                    "high-responses", "alice", "/v1/responses", {"model": "llama3", "input": "high"}
                )
            )
            await queued(3)
            cancel = await http.delete(
                f"{gateway.url}/api/queue/requests/cancel-image", headers=gateway.headers()
            )
            assert cancel.status_code == 200
            assert (await image).status_code == 499
            results = await asyncio.gather(busy, low, high)
            assert [r.status_code for r in results] == [200, 200, 200]
            assert results[2].json()["output"][0]["content"][0]["text"].startswith("tok0")
        assert [tag_of(b) for b in s.chats()] == ["busy", "high", "low"]
        rows = await rows_for(gateway, 4)
    assert {rid: row.status for rid, row in rows.items()} == {
        "busy": "ok",
        "low-tools": "ok",
        "high-responses": "ok",
        "cancel-image": "cancelled",
    }
    assert rows["low-tools"].entry_band == "low" and rows["low-tools"].kind == "chat"
    assert rows["high-responses"].completion_tokens
    assert rows["cancel-image"].started_at is None
