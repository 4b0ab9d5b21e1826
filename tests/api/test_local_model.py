"""End to end with the real bundled model: OpenAI SDK → gateway → queue → llama.cpp.

This is what a newcomer without Ollama gets from the quick start.
"""

from __future__ import annotations

import socket
from typing import Any

import openai
import pytest

from seadragon.backends.local import MODEL_NAME
from services import require_local_model

pytestmark = pytest.mark.local_model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def client(gateway_factory: Any) -> openai.AsyncOpenAI:
    require_local_model()
    gateway = await gateway_factory(
        [], models={MODEL_NAME}, local_model="on", local_model_port=free_port()
    )
    return openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1", api_key=gateway.keys["alice"], max_retries=0, timeout=120
    )


async def test_the_local_model_answers_through_the_gateway(client: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "What is the capital of France? One word."}]

    answer = await client.chat.completions.create(
        model=MODEL_NAME, messages=messages, max_tokens=16, temperature=0
    )
    text = answer.choices[0].message.content or ""
    assert text.strip()
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    assert answer.usage.prompt_tokens > 0

    pieces: list[str] = []
    usage = None
    stream = await client.chat.completions.create(
        model=MODEL_NAME,
        messages=messages,
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        usage = chunk.usage or usage
        pieces.extend(choice.delta.content or "" for choice in chunk.choices)
    assert len([p for p in pieces if p]) > 1  # tokens arrived one by one
    assert "".join(pieces).strip() == text.strip()  # temperature 0: the same answer
    assert usage is not None and usage.completion_tokens > 0

    completion = await client.completions.create(
        model=MODEL_NAME, prompt="The sky is", max_tokens=8, temperature=0
    )
    assert completion.choices[0].text.strip()

    models = [m.id async for m in client.models.list()]
    assert MODEL_NAME in models

    embedded = await client.embeddings.create(model=MODEL_NAME, input=["hello", "world"])
    assert len(embedded.data) == 2
    assert len(embedded.data[0].embedding) == len(embedded.data[1].embedding) > 0
