"""Tool calling and structured outputs through the gateway with the official OpenAI SDK,
against both backend kinds, streamed and not."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.api.agent_helpers import KINDS, TIME, WEATHER, setup

pytestmark = pytest.mark.parametrize("kind", KINDS)
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


class GetWeather(BaseModel):
    city: str


class Answer(BaseModel):
    city: str
    degrees: int
    sunny: bool


async def test_tool_call_non_streamed(gateway_factory: Any, kind: str) -> None:
    async with setup(gateway_factory, kind) as s:
        answer = await s.client().chat.completions.create(
            model="llama3", messages=ASK, tools=[WEATHER], parallel_tool_calls=True
        )
        choice = answer.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        calls = choice.message.tool_calls or []
        assert [c.function.name for c in calls] == ["get_weather"]
        assert json.loads(calls[0].function.arguments) == {"city": "tok0"}
        assert calls[0].id and calls[0].type == "function"
        sent = s.chats()[-1]
        tools = sent["tools"]
        assert tools[0]["function"]["name"] == "get_weather"


async def test_parallel_tool_calls_streamed_assemble_with_sdk_helper(
    gateway_factory: Any, kind: str
) -> None:
    async with setup(gateway_factory, kind) as s:
        ask = [{"role": "user", "content": "Use get_weather and get_time for Paris"}]
        tools = [openai.pydantic_function_tool(GetWeather, name="get_weather"), TIME]
        async with s.client().chat.completions.stream(
            model="llama3", messages=ask, tools=tools
        ) as stream:
            deltas = [e async for e in stream if e.type == "tool_calls.function.arguments.done"]
            final = await stream.get_final_completion()
        message = final.choices[0].message
        assert final.choices[0].finish_reason == "tool_calls"
        calls = message.tool_calls or []
        assert [c.function.name for c in calls] == ["get_weather", "get_time"]
        assert len({c.id for c in calls}) == 2
        assert calls[0].function.parsed_arguments == GetWeather(city="tok0")
        assert json.loads(calls[1].function.arguments) == {"zone": "tok0"}
        assert [d.name for d in deltas] == ["get_weather", "get_time"]


async def test_full_tool_round_trip(gateway_factory: Any, kind: str) -> None:
    async with setup(gateway_factory, kind) as s:
        client = s.client()
        first = await client.chat.completions.create(model="llama3", messages=ASK, tools=[WEATHER])
        call = (first.choices[0].message.tool_calls or [])[0]
        history: list[Any] = [
            *ASK,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ]
        for stream in (False, True):
            if stream:
                pieces = [
                    chunk.choices[0].delta.content or ""
                    async for chunk in await client.chat.completions.create(
                        model="llama3", messages=history, tools=[WEATHER], stream=True
                    )
                    if chunk.choices
                ]
                text = "".join(pieces)
            else:
                done = await client.chat.completions.create(
                    model="llama3", messages=history, tools=[WEATHER]
                )
                assert done.choices[0].finish_reason == "stop"
                text = done.choices[0].message.content or ""
            assert text == "tool said 18C and sunny"
        sent = s.chats()[-1]["messages"]
        assistant, result = sent[-2], sent[-1]
        assert result["role"] == "tool" and result["content"] == "18C and sunny"
        if kind == "ollama":
            assert assistant["tool_calls"][0]["function"] == {
                "name": "get_weather",
                "arguments": {"city": "tok0"},
            }
            assert result["tool_name"] == "get_weather"
        else:
            assert assistant["tool_calls"][0]["id"] == call.id
            assert result["tool_call_id"] == call.id


async def test_parse_with_a_pydantic_model(gateway_factory: Any, kind: str) -> None:
    async with setup(gateway_factory, kind) as s:
        client = s.client()
        parsed = await client.chat.completions.parse(
            model="llama3", messages=ASK, response_format=Answer
        )
        assert parsed.choices[0].message.parsed == Answer(city="tok0", degrees=1, sunny=True)
        async with client.chat.completions.stream(
            model="llama3", messages=ASK, response_format=Answer
        ) as stream:
            final = await stream.get_final_completion()
        assert final.choices[0].message.parsed == Answer(city="tok0", degrees=1, sunny=True)
        sent = s.chats()[-1]
        schema = sent["format"] if kind == "ollama" else sent["response_format"]["json_schema"]
        properties = schema["properties"] if kind == "ollama" else schema["schema"]["properties"]
        assert set(properties) == {"city", "degrees", "sunny"}
        plain = await client.chat.completions.create(
            model="llama3", messages=ASK, response_format={"type": "json_object"}
        )
        assert json.loads(plain.choices[0].message.content or "") == {"answer": "tok0"}
        if kind == "ollama":
            assert s.chats()[-1]["format"] == "json"


async def test_malformed_tool_call_from_the_backend_ends_the_request(
    gateway_factory: Any, kind: str
) -> None:
    async with setup(gateway_factory, kind) as s:
        client = s.client()
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="bad-tools", messages=ASK, tools=[WEATHER])
        assert caught.value.status_code == 502
        assert "malformed tool call" in caught.value.message
        with pytest.raises(openai.APIError) as streamed:
            async for _ in await client.chat.completions.create(
                model="bad-tools", messages=ASK, tools=[WEATHER], stream=True
            ):
                pass
        assert "malformed tool call" in streamed.value.message
