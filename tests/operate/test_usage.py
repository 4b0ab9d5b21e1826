"""``GET /api/usage`` figures match the requests a test sent (SQLite and PostgreSQL)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from account_helpers import assert_openai_error
from fakes.ollama_server import FakeOllama
from tests.operate.traffic import logged, send, user_ids


def p95(values: list[int]) -> float:
    """PostgreSQL's percentile_cont(0.95), written out."""
    ordered = sorted(values)
    rank = 0.95 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def test_usage_matches_what_was_sent(gateway_factory: Any, db_url: str) -> None:
    with FakeOllama(models=["llama3:latest", "error-after-1"], tokens=3) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory([backend], models={"llama3"}, database_url=db_url)
        url = f"{gateway.url}/api/usage"
        async with httpx.AsyncClient(timeout=30) as http:
            for who, extra in (("alice", {}), ("alice", {"stream": True}), ("alice", {}),
                               ("bob", {}), ("carol", {})):  # fmt: skip
                assert await send(http, gateway, who, **extra) == 200
            assert await send(http, gateway, "alice", model="error-after-1") == 502
            rows = await logged(http, gateway, 6)
            ids = await user_ids(http, gateway)

            async def get(who: str = "root", **params: Any) -> httpx.Response:
                return await http.get(url, headers=gateway.headers(who), params=params)

            by_user = (await get(group_by="user")).json()
            by_model_day = (await get(group_by="model,day")).json()["data"]
            by_band_hour = (await get(group_by="band,hour")).json()["data"]
            by_key = (await get(group_by="key,model", user_id=ids["alice"])).json()["data"]
            mine = (await get("alice", group_by="user,model")).json()["data"]
            others = await get("bob", user_id=ids["alice"])
            now = datetime.now(UTC)
            pages, params = (
                [],
                {
                    "group_by": "user",
                    "since": (now - timedelta(days=90)).isoformat(),
                    "until": (now + timedelta(hours=1)).isoformat(),
                    "limit": 1,
                },
            )
            while params is not None:
                page = (await get(**params)).json()
                pages.append(page)
                params = page["next"]
            bad = {
                "group_by": [await get(group_by="user,colour"), await get(group_by="day,hour")],
                "since": [await get(since="last tuesday")],
                "limit": [await get(limit=5000)],
            }

    users = {row["user"]: row for row in by_user["data"]}
    alice = users[ids["alice"]]
    assert (alice["requests"], alice["errors"], alice["rejected"]) == (4, 1, 0)
    assert (alice["prompt_tokens"], alice["completion_tokens"]) == (3, 9)  # the error: none
    waits = [
        r["wait_ms"] for r in rows if r["user_id"] == ids["alice"] and r["wait_ms"] is not None
    ]
    assert alice["wait_p50_ms"] == round(statistics.median(waits), 1)
    assert alice["wait_p95_ms"] == round(p95(waits), 1)
    assert users[ids["bob"]]["requests"] == 1 and users[ids["carol"]]["requests"] == 1
    today = now.strftime("%Y-%m-%d")
    models = {(r["model"], r["day"]): r["requests"] for r in by_model_day}
    assert models == {("error-after-1", today): 1, ("llama3", today): 5}
    bands = {r["band"]: r for r in by_band_hour}
    assert bands["low"]["requests"] == 1 and bands["high"]["requests"] == 5
    assert all(r["hour"] == now.strftime("%Y-%m-%dT%H:00") for r in by_band_hour)
    assert {(r["key"], r["model"]) for r in by_key} == {
        (rows[-1]["key_id"], "llama3"),
        (rows[-1]["key_id"], "error-after-1"),
    }
    assert [(r["user"], r["model"], r["requests"]) for r in mine] == [
        (ids["alice"], "error-after-1", 1),
        (ids["alice"], "llama3", 3),
    ]
    assert assert_openai_error(others, 403, "permission_error")["param"] == "user_id"
    # 90 days: three windows of at most 31 days; the last one's groups one per page.
    found = [row for page in pages for row in page["data"]]
    assert sum(row["requests"] for row in found) == 6 and len(found) == 3
    assert len(pages) >= 5 and pages[-1]["next"] is None
    for param, responses in bad.items():
        for response in responses:
            assert assert_openai_error(response, 400, "invalid_request_error")["param"] == param
