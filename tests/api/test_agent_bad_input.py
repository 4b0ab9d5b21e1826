"""Bad tools, tool messages, content parts, images and schemas: a 400 naming the field,
before anything is queued, streamed or not; on /v1/chat/completions and /v1/responses."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.api.agent_helpers import PIXEL, WEATHER, setup

ASK = [{"role": "user", "content": "hi"}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "llama3", "messages": ASK, **fields}


def image(url: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]


def tool(**function: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", **function}}


BIG = base64.b64encode(b"\0" * 5000).decode()
BAD_CHAT = [
    (chat(tools=[tool(parameters={"type": "objekt"})]), "tools[0].function.parameters"),
    (chat(tools=[tool(parameters={"type": "string"})]), "tools[0].function.parameters"),
    (chat(tools=[tool(parameters="not a schema")]), "tools[0].function.parameters"),
    (chat(tools=[{"type": "function", "function": {"name": "a b"}}]), "tools[0].function.name"),
    (chat(tools=[{"type": "retrieval"}]), "tools[0].type"),
    (chat(tools=[tool(), tool()]), "tools[1].function.name"),
    (
        chat(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "x"}}),
        "tool_choice.function.name",
    ),
    (chat(tool_choice="required"), "tool_choice"),
    (chat(functions=[{"name": "f"}]), "functions"),
    (
        chat(messages=[*ASK, {"role": "tool", "content": "x", "tool_call_id": "nope"}]),
        "messages[1].tool_call_id",
    ),
    (chat(messages=[*ASK, {"role": "tool", "content": "x"}]), "messages[1].tool_call_id"),
    (
        chat(
            messages=[
                *ASK,
                {
                    "role": "assistant",
                    "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "{oops"}}],
                },
            ]
        ),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (chat(messages=[{"role": "user", "tool_calls": [CALL]}]), "messages[0].tool_calls"),
    (
        chat(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
        "messages[0].content[0].type",
    ),
    (
        chat(
            messages=[
                {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
            ]
        ),
        "messages[0].content[0].type",
    ),
    (chat(messages=image("https://example.com/cat.png")), "messages[0].content[0].image_url.url"),
    (
        chat(messages=image("data:image/png;base64,@@@notbase64")),
        "messages[0].content[0].image_url.url",
    ),
    (
        chat(messages=image("data:text/html;base64," + PIXEL)),
        "messages[0].content[0].image_url.url",
    ),
    (chat(messages=image("data:image/png;base64," + BIG)), "messages[0].content[0].image_url.url"),
    (
        chat(response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": "{}"}}),
        "response_format.json_schema.schema",
    ),
    (
        chat(response_format={"type": "json_schema", "json_schema": {"name": "a"}}),
        "response_format.json_schema.schema",
    ),
    (
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": {"type": 5}},
            }
        ),
        "response_format.json_schema.schema",
    ),
    (chat(response_format={"type": "yaml"}), "response_format.type"),
    (chat(reasoning_effort="extreme"), "reasoning_effort"),
    (chat(top_logprobs=3), "top_logprobs"),
    (chat(n=2), "n"),
    (chat(modalities=["text", "audio"]), "modalities"),
    (chat(audio={"voice": "alloy", "format": "wav"}), "audio"),
]
BAD_RESPONSES = [
    ({"input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"input": "x", "conversation": "conv_1"}, "conversation"),
    ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    (
        {"input": "x", "tools": [{"type": "function", "name": "f", "parameters": {"type": 1}}]},
        "tools[0].parameters",
    ),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    (
        {"input": [{"type": "function_call_output", "call_id": "c9", "output": "x"}]},
        "input[0].call_id",
    ),
    (
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
        "input[0].content[0].type",
    ),
    (
        {
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_image", "image_url": "http://x/y.png"}],
                }
            ]
        },
        "input[0].content[0].image_url",
    ),
    (
        {"input": "x", "text": {"format": {"type": "json_schema", "name": "a", "schema": "{}"}}},
        "text.format.schema",
    ),
    ({"input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
]


@pytest.mark.parametrize("kind", ["ollama", "openai"])
async def test_bad_agent_requests_are_refused_before_queueing(
    gateway_factory: Any, kind: str
) -> None:
    async with setup(gateway_factory, kind) as s:
        s.gateway.settings.max_image_bytes = 4096  # the live app reads the same object
        cases = [("/v1/chat/completions", body, param) for body, param in BAD_CHAT]
        cases += [("/v1/responses", {"model": "llama3", **b}, p) for b, p in BAD_RESPONSES]
        async with httpx.AsyncClient(timeout=10) as http:
            for path, body, param in cases:
                for stream in (False, True):
                    response = await http.post(
                        f"{s.gateway.url}{path}",
                        headers=s.gateway.headers(),
                        json={**body, "stream": stream},
                    )
                    assert response.status_code == 400, (path, body, response.text)
                    assert response.headers["content-type"].startswith("application/json")
                    error = response.json()["error"]
                    assert error["type"] == "invalid_request_error"
                    assert error["param"] == param, (body, error)
        assert s.chats() == []


async def test_ollama_refuses_a_tool_choice_it_cannot_honour(gateway_factory: Any) -> None:
    async with setup(gateway_factory, "ollama") as s:
        async with httpx.AsyncClient(timeout=10) as http:
            url = f"{s.gateway.url}/v1/chat/completions"
            forced = await http.post(
                url, headers=s.gateway.headers(), json=chat(tools=[WEATHER], tool_choice="required")
            )
            assert forced.status_code == 400
            assert forced.json()["error"]["param"] == "tool_choice"
            unused = await http.post(
                url, headers=s.gateway.headers(), json=chat(tools=[WEATHER], tool_choice="none")
            )
            assert unused.status_code == 200
            assert unused.json()["choices"][0]["message"]["content"].startswith("tok0")
        assert "tools" not in s.chats()[-1]  # "none" on Ollama: the tools are not sent
