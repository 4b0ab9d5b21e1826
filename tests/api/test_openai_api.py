"""The official OpenAI SDK, unchanged, against the gateway in front of fake backends."""

from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest

from fakes.ollama_server import FakeOllama
from fakes.openai_server import FakeOpenAI
from tests.api.conftest import Gateway


def sdk(gateway: Gateway, who: str = "alice") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1", api_key=gateway.keys[who], max_retries=0, timeout=20
    )


async def test_sdk_chat_streaming_usage_completions_embeddings_models(gateway_factory) -> None:
    with FakeOllama(models=["llama3:latest", "nomic-embed:latest"], tokens=6) as fake:
        backend = {"name": "ollama", "url": fake.url, "kind": "ollama", "slots": 2}
        gateway = await gateway_factory([backend], models={"llama3"})
        client = sdk(gateway)
        messages = [{"role": "user", "content": "hello"}]

        answer = await client.chat.completions.create(model="llama3", messages=messages)
        assert answer.choices[0].message.content == "tok0 tok1 tok2 tok3 tok4 tok5"
        assert answer.choices[0].finish_reason == "stop"
        assert answer.usage is not None and answer.usage.completion_tokens == 6
        assert answer.model == "llama3"

        pieces = []
        usage = None
        stream = await client.chat.completions.create(
            model="llama3",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=3,
        )
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                finish = choice.finish_reason or None
        assert "".join(pieces) == "tok0 tok1 tok2"
        assert finish == "length"  # Ollama's done_reason "length" becomes finish_reason
        assert usage is not None and usage.completion_tokens == 3

        without_usage = await client.chat.completions.create(
            model="llama3", messages=messages, stream=True
        )
        assert [chunk async for chunk in without_usage if chunk.usage is not None] == []

        text = await client.completions.create(model="llama3", prompt="Once", max_tokens=2)
        assert text.choices[0].text == "tok0 tok1"

        floats = await client.embeddings.create(model="nomic-embed", input=["a", "b"])
        assert [d.index for d in floats.data] == [0, 1]
        assert len(floats.data[0].embedding) == 8

        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{gateway.url}/v1/embeddings",
                headers=gateway.headers(),
                json={"model": "nomic-embed", "input": "a", "encoding_format": "base64"},
            )
        packed = base64.b64decode(response.json()["data"][0]["embedding"])
        decoded = struct.unpack(f"<{len(packed) // 4}f", packed)
        assert decoded == pytest.approx(floats.data[0].embedding, rel=1e-6)

        models = {m.id async for m in client.models.list()}
        assert {"llama3", "llama3:latest", "nomic-embed"} <= models
        chat_bodies = [r.body for r in fake.requests if r.path == "/api/chat"]
        assert chat_bodies[1]["options"]["num_predict"] == 3


async def test_requests_go_only_to_backends_serving_their_model(gateway_factory) -> None:
    with FakeOllama(models=["alpha:latest"]) as first, FakeOpenAI(models=["beta"]) as second:
        gateway = await gateway_factory(
            [
                {"name": "one", "url": first.url, "kind": "ollama", "slots": 1},
                {"name": "two", "url": second.url, "kind": "openai", "slots": 1},
            ],
            models={"alpha", "beta"},
        )
        client = sdk(gateway)
        for model in ["alpha", "beta", "alpha", "beta", "beta"]:
            await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "x"}]
            )
        to_first = [r.body["model"] for r in first.requests if r.path == "/api/chat"]
        to_second = [r.body["model"] for r in second.requests if r.path.endswith("/completions")]
        assert to_first == ["alpha:latest", "alpha:latest"]
        assert to_second == ["beta", "beta", "beta"]


async def test_unknown_model_is_404_at_once(gateway_factory) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await gateway_factory(
            [{"name": "o", "url": fake.url, "kind": "ollama"}], models={"llama3"}
        )
        with pytest.raises(openai.NotFoundError) as caught:
            await sdk(gateway).chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "x"}], stream=True
            )
        assert caught.value.code == "model_not_found"
        assert not [r for r in fake.requests if r.path == "/api/chat"]


async def test_original_plan_path_is_the_same_handler(gateway_factory) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=2) as fake:
        gateway = await gateway_factory(
            [{"name": "o", "url": fake.url, "kind": "ollama"}], models={"llama3"}
        )
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{gateway.url}/api/chat/completions",
                headers=gateway.headers(),
                json={"model": "llama3", "messages": [{"role": "user", "content": "x"}]},
            )
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "tok0 tok1"
        assert response.headers["x-request-id"]


async def test_ollama_error_mid_stream(gateway_factory) -> None:
    with FakeOllama(models=["llama3:latest", "error-after-2"], tokens=6) as fake:
        gateway = await gateway_factory(
            [{"name": "o", "url": fake.url, "kind": "ollama"}], models={"error-after-2"}
        )
        body = {"model": "error-after-2", "messages": [{"role": "user", "content": "x"}]}
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                f"{gateway.url}/v1/chat/completions", headers=gateway.headers(), json=body
            )
            assert response.status_code == 502
            assert response.json()["error"]["code"] == "upstream_error"

            lines = []
            async with http.stream(
                "POST",
                f"{gateway.url}/v1/chat/completions",
                headers=gateway.headers(),
                json={**body, "stream": True},
            ) as stream:
                assert stream.status_code == 200
                lines = [line async for line in stream.aiter_lines() if line.startswith("data:")]
        text = "".join(
            line for line in lines if '"content":"tok' in line or '"content":" tok' in line
        )
        assert "tok1" in text and "tok2" not in text
        assert '"error"' in lines[-1] and "[DONE]" not in lines[-1]
