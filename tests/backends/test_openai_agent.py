"""OpenAIBackend with tools and thinking, against the fake OpenAI server over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from seadragon.backends.openai import OpenAIBackend
from seadragon.config import BackendConfig
from seadragon.errors import UpstreamError
from tests.api.agent_helpers import WEATHER
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=["m", "bad-tools"]) as server:
        yield server


@pytest.fixture
async def backend(fake: FakeOpenAI) -> AsyncIterator[OpenAIBackend]:
    fake.reset()
    backend = OpenAIBackend(BackendConfig(name="vllm", url=fake.url, kind="openai"), 10.0)
    yield backend
    await backend.close()


def body(model: str = "m", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "weather?"}], **extra}


async def test_tool_call_deltas_pass_through_and_tools_reach_the_server(
    backend: OpenAIBackend, fake: FakeOpenAI
) -> None:
    chunks = [c async for c in backend.stream_chat(body(tools=[WEATHER], tool_choice="required"))]
    calls = [
        call
        for c in chunks
        for ch in c.get("choices", [])
        for call in ch["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"] == "call_fake0" and calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(call["function"].get("arguments", "") for call in calls)
    assert arguments == '{"city":"tok0"}'
    assert len(calls) > 2  # the arguments came in fragments
    sent = fake.requests[-1].body
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "required"


async def test_reasoning_is_renamed_reasoning_content(backend: OpenAIBackend) -> None:
    chunks = [c async for c in backend.stream_chat(body(reasoning_effort="low"))]
    deltas = [ch["delta"] for c in chunks for ch in c.get("choices", [])]
    assert (
        "".join(d.get("reasoning_content", "") for d in deltas) == "thinking0 thinking1 thinking2"
    )
    assert not any("reasoning" in d for d in deltas)


async def test_tool_arguments_that_are_not_json_end_with_an_error(backend: OpenAIBackend) -> None:
    with pytest.raises(UpstreamError, match="malformed tool call"):
        async for _ in backend.stream_chat(body("bad-tools", tools=[WEATHER])):
            pass
