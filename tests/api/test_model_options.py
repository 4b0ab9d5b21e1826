"""Per-model default options (``model_options``) reach Ollama under the request's own, on
the native API and on ``/v1`` alike; hardware placement stays the operator's."""

from __future__ import annotations

from typing import Any

import ollama
from openai import AsyncOpenAI

from fakes.ollama_server import FakeOllama

DEFAULTS = {"num_gpu": 99, "num_thread": 8, "num_ctx": 8192, "keep_alive": "30m"}


async def test_defaults_are_merged_under_the_requests_own_options(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await gateway_factory(
            [{"name": "gpu", "url": fake.url, "kind": "ollama"}],
            models={"llama3"},
            model_options={"llama3:latest": DEFAULTS},
        )
        native = ollama.AsyncClient(host=gateway.url, headers=gateway.headers())
        await native.chat(
            model="llama3",
            messages=[{"role": "user", "content": "hi"}],
            options={"num_ctx": 4096, "temperature": 0.2},
            keep_alive="5m",
        )
        openai = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.keys["alice"])
        await openai.chat.completions.create(
            model="llama3", messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
        await native.generate(model="llama3", prompt="hi", options={"top_k": 5})
    sent = [r.body for r in fake.requests if r.path in ("/api/chat", "/api/generate")]
    assert len(sent) == 3
    hardware = {"num_gpu": 99, "num_thread": 8}
    assert sent[0]["options"] == {**hardware, "num_ctx": 4096, "temperature": 0.2}
    assert sent[0]["keep_alive"] == "5m"  # the request's own wins
    assert sent[1]["options"] == {**hardware, "num_ctx": 8192, "num_predict": 3}
    assert sent[1]["keep_alive"] == "30m"
    assert sent[2]["options"] == {**hardware, "num_ctx": 8192, "top_k": 5}
