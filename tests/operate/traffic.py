"""Known traffic through a real gateway, for the request-log and usage tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.conftest import Gateway

BODY = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}


async def user_ids(http: httpx.AsyncClient, gateway: Gateway) -> dict[str, int]:
    response = await http.get(f"{gateway.url}/api/users", headers=gateway.headers("root"))
    body = response.json()
    users = body["data"] if isinstance(body, dict) else body
    return {user["name"]: user["id"] for user in users}


async def send(http: httpx.AsyncClient, gateway: Gateway, who: str, **extra: Any) -> int:
    response = await http.post(
        f"{gateway.url}/v1/chat/completions", headers=gateway.headers(who), json={**BODY, **extra}
    )
    return response.status_code


async def logged(http: httpx.AsyncClient, gateway: Gateway, count: int) -> list[dict[str, Any]]:
    """Every row as the admin sees it, once ``count`` were flushed (every 0.5 s)."""
    async with asyncio.timeout(15):
        while True:
            response = await http.get(
                f"{gateway.url}/api/requests",
                headers=gateway.headers("root"),
                params={"limit": 1000},
            )
            rows: list[dict[str, Any]] = response.json()["data"]
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.1)
