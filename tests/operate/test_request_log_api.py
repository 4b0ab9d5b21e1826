"""The request log over HTTP: filters, paging, CSV, and nobody sees another's rows."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from account_helpers import assert_openai_error
from fakes.ollama_server import FakeOllama
from tests.operate.traffic import logged, send, user_ids


async def test_request_log_filters_pages_and_exports(gateway_factory: Any, db_url: str) -> None:
    with FakeOllama(models=["llama3:latest", "error-after-1"], tokens=3) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory([backend], models={"llama3"}, database_url=db_url)
        url = f"{gateway.url}/api/requests"
        async with httpx.AsyncClient(timeout=30) as http:
            for who in ("alice", "alice", "alice", "bob", "carol"):
                assert await send(http, gateway, who) == 200
            assert await send(http, gateway, "alice", model="error-after-1") == 502
            rows = await logged(http, gateway, 6)
            ids = await user_ids(http, gateway)
            admin = gateway.headers("root")

            async def page(who: str = "root", **params: Any) -> httpx.Response:
                return await http.get(url, headers=gateway.headers(who), params=params)

            alice = (await page(user_id=ids["alice"])).json()["data"]
            errors = (await page(status="error")).json()["data"]
            low = (await page(band="low")).json()["data"]
            model = (await page(model="error-after-1")).json()["data"]
            newest = rows[0]["queued_at"]
            after = (await page(since=newest)).json()["data"]
            before = (await page(until=newest)).json()["data"]
            first = (await page(limit=4)).json()
            second = (await page(limit=4, before=first["next_before"])).json()
            own = (await page("alice")).json()["data"]
            others = await page("alice", user_id=ids["bob"])
            csv_text = (await http.get(f"{url}.csv", headers=admin, params={"status": "ok"})).text
            bad = {
                "since": await page(since="yesterday"),
                "until": await page(until="2026-13-45"),
                "band": await page(band="urgent"),
                "status": await page(status="fine"),
                "limit": await page(limit=0),
                "user_id": await page(user_id="alice"),
            }
            backwards = await page(since="2026-02-01T00:00:00Z", until="2026-01-01T00:00:00Z")

    assert len(rows) == 6 and [r["id"] for r in rows] == sorted(
        (r["id"] for r in rows), reverse=True
    )
    assert len(alice) == 4 and {r["user_id"] for r in alice} == {ids["alice"]}
    assert len(errors) == 1 and errors[0]["error_kind"] == "UpstreamError"
    assert [r["user_id"] for r in low] == [ids["carol"]] and low[0]["entry_band"] == "low"
    assert len(model) == 1 and model[0]["http_status"] == 502
    assert len(after) == 1 and len(before) == 5
    ok = rows[1]
    assert ok["route"] == "/v1/chat/completions" and ok["backend"] == "gpu"
    assert ok["wait_ms"] >= 0 and ok["run_ms"] >= 0 and ok["ttft_ms"] >= 0
    assert ok["prompt_tokens"] == 1 and ok["completion_tokens"] == 3
    assert len(first["data"]) == 4 and len(second["data"]) == 2 and second["next_before"] is None
    assert {r["id"] for r in first["data"]} | {r["id"] for r in second["data"]} == {
        r["id"] for r in rows
    }
    assert len(own) == 4 and {r["user_id"] for r in own} == {ids["alice"]}
    assert assert_openai_error(others, 403, "permission_error")["param"] == "user_id"
    parsed = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(parsed) == 5 and {r["status"] for r in parsed} == {"ok"}
    assert {r["model"] for r in parsed} == {"llama3"} and parsed[0]["completion_tokens"] == "3"
    for param, response in bad.items():
        assert assert_openai_error(response, 400, "invalid_request_error")["param"] == param
    assert assert_openai_error(backwards, 400, "invalid_request_error")["param"] == "since"
