"""The official ``ollama`` Python client, unchanged, through Seadragon to an Ollama backend."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import ollama
import orjson
import pytest

from fakes.ollama_server import FakeOllama
from tests.api.conftest import Gateway

MESSAGES = [{"role": "user", "content": "say something"}]


async def ollama_gateway(gateway_factory: Any, fake: FakeOllama, slots: int = 2) -> Gateway:
    backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": slots}
    gateway: Gateway = await gateway_factory([backend], models={"llama3"})
    return gateway


def client(gateway: Gateway, who: str = "alice") -> ollama.AsyncClient:
    return ollama.AsyncClient(host=gateway.url, headers=gateway.headers(who))


def calls(fake: FakeOllama, path: str) -> list[Any]:
    return [r for r in fake.requests if r.path == path]


async def test_list_chat_generate_embed_ps_show(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=4) as fake:
        gateway = await ollama_gateway(gateway_factory, fake)
        ol = client(gateway)

        listed = await ol.list()
        assert [m.model for m in listed.models] == ["llama3:latest"]
        assert listed.models[0].size == 1000 and listed.models[0].details.family == "fake"

        answer = await ol.chat(model="llama3", messages=MESSAGES, stream=False)
        assert answer.message.content == "tok0 tok1 tok2 tok3"
        assert answer.done and answer.done_reason == "stop"
        assert answer.eval_count == 4 and answer.prompt_eval_count == 2
        assert answer.total_duration and answer.total_duration > 0

        pieces = [
            part async for part in await ol.chat(model="llama3", messages=MESSAGES, stream=True)
        ]
        assert "".join(p.message.content or "" for p in pieces) == "tok0 tok1 tok2 tok3"
        assert [p.done for p in pieces].count(True) == 1 and pieces[-1].done
        assert pieces[-1].eval_count == 4

        generated = await ol.generate(model="llama3", prompt="once upon a time", stream=False)
        assert generated.response == "tok0 tok1 tok2 tok3" and generated.done
        streamed = [p async for p in await ol.generate(model="llama3", prompt="x", stream=True)]
        assert "".join(p.response for p in streamed) == "tok0 tok1 tok2 tok3"
        assert streamed[-1].done_reason == "stop"
        # Without raw, a prompt is templated: it reaches the backend as one user message.
        assert calls(fake, "/api/chat")[-1].body["messages"] == [{"role": "user", "content": "x"}]

        embedded = await ol.embed(model="llama3", input=["a b", "c"])
        assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) == 8
        assert embedded.prompt_eval_count == 3
        legacy = await ol.embeddings(model="llama3", prompt="a b")
        assert list(legacy.embedding) == list(embedded.embeddings[0])

        loaded = await ol.ps()
        assert [m.model for m in loaded.models] == ["llama3:latest"]
        assert loaded.models[0].size_vram == 1500 and loaded.models[0].expires_at is not None

        shown = await ol.show("llama3")
        assert shown.template == "{{ .Prompt }}" and "tools" in (shown.capabilities or [])
        assert shown.modelinfo is not None and shown.modelinfo["general.architecture"] == "fake"


async def test_options_and_ollama_only_fields_reach_ollama(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=8) as fake:
        gateway = await ollama_gateway(gateway_factory, fake)
        ol = client(gateway)
        options = {"temperature": 0.2, "num_predict": 3, "top_k": 7, "num_ctx": 1024, "seed": 5}
        answer = await ol.chat(
            model="llama3", messages=MESSAGES, options=options, keep_alive="10m", stream=False
        )
        assert answer.done_reason == "length" and answer.eval_count == 3
        sent = calls(fake, "/api/chat")[-1].body
        assert sent["keep_alive"] == "10m"
        assert sent["options"] == {
            "temperature": 0.2, "num_predict": 3, "top_k": 7, "num_ctx": 1024, "seed": 5
        }  # fmt: skip

        await ol.generate(model="llama3", prompt="def f(", raw=True, stream=False)
        assert calls(fake, "/api/generate")[-1].body["raw"] is True
        await ol.generate(
            model="llama3", prompt="hi", template="<<{{ .Prompt }}>>", system="be brief"
        )
        sent = calls(fake, "/api/generate")[-1].body
        assert (sent["raw"], sent["template"], sent["system"]) == (
            False,
            "<<{{ .Prompt }}>>",
            "be brief",
        )


async def test_ndjson_stream_shape_and_final_counts(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=5) as fake:
        gateway = await ollama_gateway(gateway_factory, fake)
        body = {"model": "llama3", "messages": [{"role": "user", "content": "one two three"}]}
        async with httpx.AsyncClient(timeout=20) as http:
            response = await http.post(
                f"{gateway.url}/api/chat", headers=gateway.headers(), json=body
            )
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["x-seadragon-band"] == "high"
        assert response.headers["x-seadragon-queue-position"] == "0"
        raw = response.text.split("\n")
        assert raw[-1] == "" and all(raw[:-1])  # one JSON object per line, no blank lines
        lines = [orjson.loads(line) for line in raw[:-1]]
        assert lines[0]["seadragon"]["request_id"] == response.headers["x-request-id"]
        assert lines[0]["message"] == {"role": "assistant", "content": ""}
        assert all(line["created_at"].endswith("Z") for line in lines)
        final = lines[-1]
        assert [line["done"] for line in lines].count(True) == 1 and final["done"]
        assert final["done_reason"] == "stop"
        assert final["prompt_eval_count"] == 3 and final["eval_count"] == 5
        for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
            assert isinstance(final[key], int) and final[key] >= 0
        assert final["total_duration"] >= final["prompt_eval_duration"] + final["eval_duration"]
        text = "".join(line["message"]["content"] for line in lines)
        assert text == "tok0 tok1 tok2 tok3 tok4"


async def test_a_mid_stream_failure_is_an_error_line(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest", "error-after-2"]) as fake:
        gateway = await ollama_gateway(gateway_factory, fake)
        await asyncio.sleep(0)
        ol = client(gateway)
        seen: list[str] = []
        with pytest.raises(ollama.ResponseError, match="failed mid-stream"):
            async for part in await ol.chat(model="error-after-2", messages=MESSAGES, stream=True):
                seen.append(part.message.content or "")
        assert "".join(seen) == "tok0 tok1"
        with pytest.raises(ollama.ResponseError) as failed:
            await ol.chat(model="error-after-2", messages=MESSAGES, stream=False)
        assert failed.value.status_code == 502


async def test_queue_position_reaches_the_real_client(gateway_factory: Any) -> None:
    """Waiting lines are empty pieces the client accepts; raw readers see the position."""
    with FakeOllama(models=["llama3:latest"], service_time=0.5, tokens=2) as fake:
        gateway = await ollama_gateway(gateway_factory, fake, slots=1)
        ol = client(gateway)
        async with httpx.AsyncClient(timeout=20) as http:
            busy = asyncio.create_task(ol.chat(model="llama3", messages=MESSAGES, stream=False))
            await fake.until(lambda: len(calls(fake, "/api/chat")) == 1)
            ahead = asyncio.create_task(ol.chat(model="llama3", messages=MESSAGES, stream=False))
            async with asyncio.timeout(10):
                while not (
                    await http.get(
                        f"{gateway.url}/api/queue/status", headers=gateway.headers("root")
                    )
                ).json()["queued"]:
                    await asyncio.sleep(0.02)
            parts = [p async for p in await ol.chat(model="llama3", messages=MESSAGES, stream=True)]
            async with http.stream(
                "POST", f"{gateway.url}/api/generate", headers=gateway.headers(),
                json={"model": "llama3", "prompt": "hi"},
            ) as raw:  # fmt: skip
                first = orjson.loads(await anext(raw.aiter_lines()))
            await busy, await ahead
        assert parts[0].message.content == "" and not parts[0].done
        assert "".join(p.message.content or "" for p in parts) == "tok0 tok1"
        assert first["response"] == "" and first["done"] is False
        assert set(first["seadragon"]) >= {"request_id", "band", "queue_position", "eta_s"}


async def test_tags_merge_backends_and_admins_see_which(gateway_factory: Any) -> None:
    with (
        FakeOllama(models=["llama3:latest", "qwen:7b"]) as one,
        FakeOllama(models=["llama3:latest", "phi:latest"]) as two,
    ):
        backends = [
            {"name": "one", "url": one.url, "kind": "ollama"},
            {"name": "two", "url": two.url, "kind": "ollama"},
        ]
        gateway = await gateway_factory(backends, models={"qwen:7b", "phi"})
        listed = await client(gateway).list()
        assert [m.model for m in listed.models] == ["llama3:latest", "phi:latest", "qwen:7b"]
        async with httpx.AsyncClient() as http:
            admin = await http.get(f"{gateway.url}/api/tags", headers=gateway.headers("root"))
            user = await http.get(f"{gateway.url}/api/tags", headers=gateway.headers())
        by_name = {m["name"]: m for m in admin.json()["models"]}
        assert by_name["llama3:latest"]["seadragon"]["backends"] == ["one", "two"]
        assert by_name["qwen:7b"]["seadragon"]["backends"] == ["one"]
        assert all("seadragon" not in m for m in user.json()["models"])
