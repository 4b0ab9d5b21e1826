"""OllamaBackend's translation of tools, images, formats, thinking and log probabilities,
against the fake Ollama over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from seadragon.backends.ollama import OllamaBackend
from seadragon.config import BackendConfig
from seadragon.errors import InvalidRequest, UpstreamError
from tests.api.agent_helpers import PIXEL, TIME, WEATHER
from tests.fakes.ollama_server import FakeOllama


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["llama3:latest", "bad-tools:latest"]) as server:
        yield server


@pytest.fixture
async def backend(fake: FakeOllama) -> AsyncIterator[OllamaBackend]:
    fake.reset()
    backend = OllamaBackend(BackendConfig(name="gpu", url=fake.url, slots=1), {}, 10.0)
    yield backend
    await backend.close()


def body(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "llama3:latest", "messages": [{"role": "user", "content": text}], **extra}


async def deltas(backend: OllamaBackend, request: dict[str, Any]) -> list[dict[str, Any]]:
    return [c["choices"][0] async for c in backend.stream_chat(request) if c.get("choices")]


async def test_native_tool_calls_become_indexed_openai_deltas(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    choices = await deltas(backend, body("get_weather and get_time", tools=[WEATHER, TIME]))
    calls = [call for c in choices for call in c["delta"].get("tool_calls", [])]
    assert [(c["index"], c["function"]["name"]) for c in calls] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in calls)
    assert len({c["id"] for c in calls}) == 2
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "tok0"}
    assert choices[-1]["finish_reason"] == "tool_calls"
    assert fake.requests[-1].body["tools"] == [WEATHER, TIME]

    one = await deltas(
        backend, body("get_weather and get_time", tools=[WEATHER, TIME], parallel_tool_calls=False)
    )
    assert [call["function"]["name"] for c in one for call in c["delta"].get("tool_calls", [])] == [
        "get_weather"
    ]


async def test_malformed_tool_call_json_is_an_upstream_error(backend: OllamaBackend) -> None:
    with pytest.raises(UpstreamError, match="malformed tool call"):
        await deltas(backend, {**body(tools=[WEATHER]), "model": "bad-tools:latest"})


OSLO = {"name": "get_weather", "arguments": '{"city": "Oslo"}'}


async def test_request_fields_in_ollama_shapes(backend: OllamaBackend, fake: FakeOllama) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    messages = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            {"type": "text", "text": "what"},
            {"type": "text", "text": "is it"},
        ]},
        {"role": "assistant", "content": None, "reasoning_content": "hmm", "tool_calls": [
            {"id": "c1", "type": "function", "function": OSLO},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "cold"},
    ]  # fmt: skip
    request = {
        **body(),
        "messages": messages,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        "reasoning_effort": "minimal",
    }
    choices = await deltas(backend, request)
    assert "".join(c["delta"].get("content") or "" for c in choices) == "tool said cold"
    assert "".join(c["delta"].get("reasoning_content") or "" for c in choices) == (
        "thinking0 thinking1 thinking2"
    )
    sent = fake.requests[-1].body
    assert sent["format"] == schema and sent["think"] == "low"
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "", "images": [PIXEL]},
        {"role": "user", "content": "what\nis it"},
        {
            "role": "assistant",
            "content": "",
            "thinking": "hmm",
            "tool_calls": [
                {"id": "c1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
            ],
        },
        {"role": "tool", "content": "cold", "tool_name": "get_weather"},
    ]


async def test_tool_choice_ollama_cannot_honour_is_refused_before_sending(
    backend: OllamaBackend, fake: FakeOllama
) -> None:
    for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        with pytest.raises(InvalidRequest) as caught:
            await deltas(backend, body(tools=[WEATHER], tool_choice=choice))
        assert caught.value.param == "tool_choice"
    assert fake.requests == []
    await deltas(backend, body(tools=[WEATHER], tool_choice="none"))
    assert "tools" not in fake.requests[-1].body


async def test_logprobs_come_back_in_openai_shape(backend: OllamaBackend, fake: FakeOllama) -> None:
    choices = await deltas(backend, body(logprobs=True, top_logprobs=2))
    entries = [e for c in choices if c.get("logprobs") for e in c["logprobs"]["content"]]
    assert [e["token"] for e in entries] == ["tok0", " tok1"]
    assert entries[0]["logprob"] == -0.25
    assert [t["token"] for t in entries[0]["top_logprobs"]] == ["alt0", "alt1"]
    sent = fake.requests[-1].body
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
