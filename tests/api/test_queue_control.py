"""Queue control over HTTP and from the ``seadragon queue`` command, with its audit log;
per-model ETAs against two fake Ollama servers of different service times."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import httpx

from fakes.ollama_server import FakeOllama
from seadragon.db import queue_audit
from seadragon.db.engine import Database
from seadragon.queue.control_state import Switch
from seadragon.queue.memory import MemoryQueue
from tests.api.conftest import Gateway

MSG = [{"role": "user", "content": "hi"}]


def one_backend(fake: FakeOllama, name: str = "o", slots: int = 1) -> dict[str, Any]:
    return {"name": name, "url": fake.url, "kind": "ollama", "slots": slots}


async def admin(
    http: httpx.AsyncClient, gateway: Gateway, path: str, who: str = "root", **body: Any
) -> httpx.Response:
    return await http.post(
        f"{gateway.url}/api/queue/{path}", headers=gateway.headers(who), json=body
    )


async def get(http: httpx.AsyncClient, gateway: Gateway, path: str) -> dict[str, Any]:
    response = await http.get(f"{gateway.url}{path}", headers=gateway.headers("root"))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def chat(http: httpx.AsyncClient, gateway: Gateway, model: str, rid: str) -> Any:
    return http.post(
        f"{gateway.url}/v1/chat/completions",
        headers={**gateway.headers(), "X-Request-Id": rid},
        json={"model": model, "messages": MSG},
    )


async def request_state(http: httpx.AsyncClient, gateway: Gateway, rid: str) -> dict[str, Any]:
    response = await http.get(f"{gateway.url}/api/queue/requests/{rid}", headers=gateway.headers())
    data: dict[str, Any] = response.json() if response.status_code == 200 else {}
    return data


async def until_state(
    http: httpx.AsyncClient, gateway: Gateway, rid: str, state: str
) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while (info := await request_state(http, gateway, rid)).get("state") != state:
            await asyncio.sleep(0.02)
    return info


async def test_pause_and_resume_over_http_are_audited(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=2) as fake:
        gateway = await gateway_factory([one_backend(fake)], models={"llama3"})
        async with httpx.AsyncClient(timeout=20) as http:
            denied = await admin(http, gateway, "pause", who="alice", band="high")
            assert denied.status_code == 403
            bad = await admin(http, gateway, "pause", band="urgent")
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "band"
            missing = await admin(http, gateway, "resume", band="high")
            assert missing.status_code == 404

            paused = await admin(http, gateway, "pause", band="high")
            assert paused.status_code == 200, paused.text
            assert paused.json()["paused"][0]["band"] == "high"

            async with http.stream(
                "POST",
                f"{gateway.url}/v1/chat/completions",
                headers={**gateway.headers(), "X-Request-Id": "held-1"},
                json={"model": "llama3", "messages": MSG, "stream": True},
            ) as stream:
                lines = stream.aiter_lines()
                first = await anext(lines)
                assert first.startswith(": queue position=0 ") and first.endswith("state=paused")
                info = await until_state(http, gateway, "held-1", "paused")
                assert info["paused"] is True
                status = await get(http, gateway, "/api/queue/status")
                assert [p["band"] for p in status["paused"]] == ["high"]

                assert (await admin(http, gateway, "resume", band="high")).status_code == 200
                rest = [line async for line in lines if line]
            assert rest[-1] == "data: [DONE]"

            audit = await get(http, gateway, "/api/queue/audit")
            rows = audit["data"]
            assert [r["action"] for r in rows] == ["resume", "pause"]
            assert {(r["user_name"], r["band"], r["via"]) for r in rows} == {
                ("root", "high", "api_key")
            }
            denied_audit = await http.get(
                f"{gateway.url}/api/queue/audit", headers=gateway.headers("alice")
            )
            assert denied_audit.status_code == 403


async def test_drain_a_backend_then_undrain_and_clear_is_audited(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=2) as fake:
        gateway = await gateway_factory([one_backend(fake)], models={"llama3"})
        async with httpx.AsyncClient(timeout=20) as http:
            assert (await admin(http, gateway, "drain", who="bob", target="o")).status_code == 403
            unknown = await admin(http, gateway, "drain", target="nope")
            assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "target"
            assert (await admin(http, gateway, "drain", target="o")).status_code == 200
            workers = (await get(http, gateway, "/api/queue/status"))["workers"]
            assert [w["draining"] for w in workers] == [True]

            waiting = asyncio.create_task(chat(http, gateway, "llama3", "drained-1"))
            assert (await until_state(http, gateway, "drained-1", "queued"))["position"] == 0
            assert not fake.requests or all(r.path != "/api/chat" for r in fake.requests)
            assert (await admin(http, gateway, "undrain", target="o")).status_code == 200
            assert (await waiting).status_code == 200

            cleared = await admin(http, gateway, "clear", band="low")
            assert cleared.json()["cleared"] == 0
            actions = [r["action"] for r in (await get(http, gateway, "/api/queue/audit"))["data"]]
            assert actions == ["clear", "undrain", "drain"]

        # What a gateway replays at start gives the same switches, to the microsecond.
        database = Database(gateway.settings)
        await database.start()
        try:
            async with database.session() as session:
                marks = dict(await queue_audit.switch_marks(session))
        finally:
            await database.close()
        assert marks == dict(gateway.app.state.queue.control.marks())
        fresh = MemoryQueue(gateway.settings)
        await fresh.restore_control(list(marks.items()))
        assert fresh.control.is_on(Switch.drain("o")) is False
        assert Switch.drain("o") in dict(fresh.control.marks())


def run_cli(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SEADRAGON_API_KEY": gateway.keys["root"],
        "SEADRAGON_URL": gateway.url,
        "SEADRAGON_CONFIG": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "seadragon", "queue", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_queue_command_pauses_drains_and_reads_the_audit(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=2) as fake:
        gateway = await gateway_factory([one_backend(fake)], models={"llama3"})
        steps = [
            ("pause", "--band", "low", "--model", "llama3"),
            ("drain", "o"),
            ("status",),
            ("undrain", "o"),
            ("resume", "--band", "low", "--model", "llama3"),
            ("clear", "--band", "normal"),
            ("audit",),
        ]
        outputs = []
        for step in steps:
            done = await asyncio.to_thread(run_cli, gateway, *step)
            assert done.returncode == 0, (step, done.stdout, done.stderr)
            outputs.append(done.stdout)
        assert "paused: low of llama3" in outputs[0]
        assert "draining: o" in outputs[1]
        assert "draining" in outputs[2] and "paused: low of llama3" in outputs[2]
        assert "nothing paused or draining" in outputs[4]
        assert "cleared 0 request(s) from normal" in outputs[5]
        for action in ("pause", "drain", "undrain", "resume", "clear"):
            assert action in outputs[6]

        refused = await asyncio.to_thread(run_cli, gateway, "resume", "--band", "high")
        assert refused.returncode == 1 and "not paused" in refused.stderr
        gateway.keys["root"] = gateway.keys["alice"]
        denied = await asyncio.to_thread(run_cli, gateway, "pause")
        assert denied.returncode == 1 and "403" in denied.stderr


async def test_eta_behind_a_slow_model_reflects_that_model(gateway_factory: Any) -> None:
    with (
        FakeOllama(models=["slow:latest"], service_time=1.2, tokens=1) as slow,
        FakeOllama(models=["fast:latest"], service_time=0.0, tokens=1) as fast,
    ):
        backends = [one_backend(slow, "s"), one_backend(fast, "f")]
        gateway = await gateway_factory(backends, models={"slow", "fast"})
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await chat(http, gateway, "slow", "warm-slow")).status_code == 200
            for i in range(6):
                assert (await chat(http, gateway, "fast", f"warm-fast-{i}")).status_code == 200
            by_model = (await get(http, gateway, "/api/queue/status"))["service_s_by_model"]
            assert by_model["slow"] >= 1.2 > by_model["fast"]

            running = asyncio.create_task(chat(http, gateway, "slow", "running-slow"))
            await until_state(http, gateway, "running-slow", "running")
            head = asyncio.create_task(chat(http, gateway, "slow", "head-slow"))
            info = await until_state(http, gateway, "head-slow", "queued")
            # The head of a full queue: the slot frees when the running slow job ends.
            assert info["position"] == 0 and 0 < info["eta_s"] <= by_model["slow"] + 0.1
            behind = asyncio.create_task(chat(http, gateway, "slow", "behind-slow"))
            info = await until_state(http, gateway, "behind-slow", "queued")
            # One slow job ahead and one running: well over one slow mean, not the mixed mean.
            assert info["position"] == 1 and info["eta_s"] >= 0.9 * by_model["slow"]
            for task in (running, head, behind):
                assert (await task).status_code == 200
