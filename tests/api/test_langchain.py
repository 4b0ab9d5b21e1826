"""LangChain's ChatOpenAI, unchanged, against the gateway in front of both backend kinds."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.api.agent_helpers import KINDS, Setup, setup

pytestmark = pytest.mark.parametrize("kind", KINDS)


class GetWeather(BaseModel):
    """The weather in a city."""

    city: str = Field(description="the city")


class Forecast(BaseModel):
    city: str
    degrees: int


def chat_model(s: Setup, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="llama3",
        base_url=f"{s.gateway.url}/v1",
        api_key=s.gateway.keys["alice"],  # type: ignore[arg-type]
        max_retries=0,
        timeout=20,
        **options,
    )


async def test_bind_tools_returns_tool_calls_and_takes_their_results(
    gateway_factory: Any, kind: str
) -> None:
    async with setup(gateway_factory, kind) as s:
        model = chat_model(s).bind_tools([GetWeather])
        question = HumanMessage("What is the weather in Paris?")
        answer = await model.ainvoke([question])
        assert [(c["name"], c["args"]) for c in answer.tool_calls] == [
            ("GetWeather", {"city": "tok0"})
        ]
        streamed: AIMessageChunk | None = None
        async for chunk in model.astream([question]):
            assert isinstance(chunk, AIMessageChunk)
            streamed = chunk if streamed is None else streamed + chunk
        assert streamed is not None
        assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [
            ("GetWeather", {"city": "tok0"})
        ]
        result = ToolMessage("21 degrees", tool_call_id=answer.tool_calls[0]["id"] or "")
        final = await model.ainvoke([question, answer, result])
        assert final.content == "tool said 21 degrees"


async def test_with_structured_output(gateway_factory: Any, kind: str) -> None:
    async with setup(gateway_factory, kind) as s:
        structured = chat_model(s).with_structured_output(Forecast)
        assert await structured.ainvoke("Forecast for Paris") == Forecast(city="tok0", degrees=1)


async def test_responses_api_mode(gateway_factory: Any, kind: str) -> None:
    async with setup(gateway_factory, kind) as s:
        model = chat_model(s, use_responses_api=True).bind_tools([GetWeather])
        answer = await model.ainvoke("What is the weather in Paris?")
        assert [(c["name"], c["args"]) for c in answer.tool_calls] == [
            ("GetWeather", {"city": "tok0"})
        ]
