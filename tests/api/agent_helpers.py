"""A gateway in front of either backend kind, for the agent-surface tests."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import openai

from fakes import FakeServer
from fakes.ollama_server import FakeOllama
from fakes.openai_server import FakeOpenAI
from tests.api.conftest import Gateway

KINDS = ["ollama", "openai"]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
#: A 1x1 PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4f20000000049454e44ae426082"
    )
).decode()


@dataclass
class Setup:
    kind: str
    gateway: Gateway
    fake: FakeServer

    def client(self, who: str = "alice") -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.gateway.url}/v1",
            api_key=self.gateway.keys[who],
            max_retries=0,
            timeout=20,
        )

    def chats(self) -> list[dict[str, Any]]:
        """Bodies of the chat requests the backend received."""
        path = "/api/chat" if self.kind == "ollama" else "/v1/chat/completions"
        return [r.body for r in self.fake.requests if r.path == path]


@asynccontextmanager
async def setup(gateway_factory: Any, kind: str, **knobs: Any) -> AsyncIterator[Setup]:
    """A fake of ``kind`` serving ``llama3`` and ``bad-tools``, and a gateway in front."""
    slots = knobs.pop("slots", 2)
    if kind == "ollama":
        fake: FakeServer = FakeOllama(models=["llama3:latest", "bad-tools:latest"], **knobs)
    else:
        fake = FakeOpenAI(models=["llama3", "bad-tools"], **knobs)
    with fake:
        backend = {"name": kind, "url": fake.url, "kind": kind, "slots": slots}
        gateway = await gateway_factory([backend], models={"llama3", "bad-tools"})
        yield Setup(kind, gateway, fake)
