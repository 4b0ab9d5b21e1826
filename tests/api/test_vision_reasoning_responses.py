"""Images, reasoning and the Responses API through the gateway with the official OpenAI SDK,
against both backend kinds, streamed and not."""

from __future__ import annotations

import json
import logging
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.api.agent_helpers import KINDS, PIXEL, WEATHER, setup

pytestmark = pytest.mark.parametrize("kind", KINDS)
DATA_URL = f"data:image/png;base64,{PIXEL}"


class Answer(BaseModel):
    city: str
    degrees: int


async def test_image_data_url_reaches_the_backend_in_order(
    gateway_factory: Any, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with setup(gateway_factory, kind) as s:
        content = [
            {"type": "text", "text": "first"},
            {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "low"}},
            {"type": "text", "text": "then this"},
        ]
        messages: Any = [{"role": "user", "content": content}]
        client = s.client()
        answer = await client.chat.completions.create(model="llama3", messages=messages)
        assert answer.choices[0].message.content
        chunks = await client.chat.completions.create(
            model="llama3", messages=messages, stream=True
        )
        assert "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
        for sent in s.chats():
            if kind == "ollama":
                assert sent["messages"] == [
                    {"role": "user", "content": "first"},
                    {"role": "user", "content": "", "images": [PIXEL]},
                    {"role": "user", "content": "then this"},
                ]
            else:
                parts = sent["messages"][0]["content"]
                assert [p["type"] for p in parts] == ["text", "image_url", "text"]
                assert parts[1]["image_url"]["url"] == DATA_URL
    assert PIXEL not in caplog.text  # image bytes are never logged


async def test_reasoning_effort_comes_back_as_reasoning_content(
    gateway_factory: Any, kind: str
) -> None:
    async with setup(gateway_factory, kind) as s:
        client = s.client()
        answer = await client.chat.completions.create(
            model="llama3", messages=[{"role": "user", "content": "hi"}], reasoning_effort="high"
        )
        message = answer.choices[0].message
        assert message.content == "tok0 tok1"
        assert (message.model_extra or {})["reasoning_content"] == "thinking0 thinking1 thinking2"
        thinking, text = [], []
        async for chunk in await client.chat.completions.create(
            model="llama3",
            messages=[{"role": "user", "content": "hi"}],
            reasoning_effort="low",
            stream=True,
        ):
            for choice in chunk.choices:
                thinking.append((choice.delta.model_extra or {}).get("reasoning_content") or "")
                text.append(choice.delta.content or "")
        assert "".join(thinking) == "thinking0 thinking1 thinking2"
        assert "".join(text) == "tok0 tok1"
        if kind == "ollama":
            assert [b["think"] for b in s.chats()] == ["high", "low"]
        else:
            assert [b["reasoning_effort"] for b in s.chats()] == ["high", "low"]


async def test_responses_create(gateway_factory: Any, kind: str) -> None:
    async with setup(gateway_factory, kind) as s:
        client = s.client()
        text = await client.responses.create(
            model="llama3", input="hello", instructions="be brief", max_output_tokens=50
        )
        assert text.status == "completed"
        assert text.output_text == "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7"
        assert text.usage is not None and text.usage.output_tokens > 0
        cut = await client.responses.create(model="llama3", input="hello", max_output_tokens=3)
        assert cut.status == "incomplete" and cut.output_text == "tok0 tok1 tok2"
        assert cut.incomplete_details is not None
        assert cut.incomplete_details.reason == "max_output_tokens"
        first = s.chats()[0]["messages"]
        assert first[0] == {"role": "system", "content": "be brief"}
        tool = {k: v for k, v in WEATHER["function"].items()} | {"type": "function"}
        called = await client.responses.create(
            model="llama3", input=[{"role": "user", "content": "weather?"}], tools=[tool]
        )
        calls = [item for item in called.output if item.type == "function_call"]
        assert [c.name for c in calls] == ["get_weather"]
        assert json.loads(calls[0].arguments) == {"city": "tok0"}
        follow = await client.responses.create(
            model="llama3",
            tools=[tool],
            input=[
                {"role": "user", "content": "weather?"},
                {
                    "type": "function_call",
                    "call_id": calls[0].call_id,
                    "name": "get_weather",
                    "arguments": calls[0].arguments,
                },
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "rain"},
            ],
        )
        assert follow.output_text == "tool said rain"
        parsed = await client.responses.parse(model="llama3", input="json", text_format=Answer)
        assert parsed.output_parsed == Answer(city="tok0", degrees=1)
        thought = await client.responses.create(
            model="llama3", input="think", reasoning={"effort": "medium"}
        )
        assert [item.type for item in thought.output] == ["reasoning", "message"]
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(model="llama3", input="x", previous_response_id="r1")
        assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]


async def test_responses_stream(gateway_factory: Any, kind: str) -> None:
    async with setup(gateway_factory, kind) as s:
        client = s.client()
        async with client.responses.stream(model="llama3", input="hello") as stream:
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            final = await stream.get_final_response()
        assert "".join(deltas) == final.output_text == "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7"
        tool = {k: v for k, v in WEATHER["function"].items()} | {"type": "function"}
        async with client.responses.stream(
            model="llama3", input="weather?", tools=[tool], reasoning={"effort": "high"}
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert kinds[-1] == "response.completed"
        assert "response.function_call_arguments.delta" in kinds
        assert [item.type for item in final.output] == ["reasoning", "function_call"]
        call = final.output[1]
        assert call.type == "function_call" and json.loads(call.arguments) == {"city": "tok0"}
        async with client.responses.stream(
            model="llama3", input="json", text_format=Answer
        ) as stream:
            parsed = await stream.get_final_response()
        assert parsed.output_parsed == Answer(city="tok0", degrees=1)
