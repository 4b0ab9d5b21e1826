"""Structured outputs and the Responses API with the real bundled model through the gateway."""

from __future__ import annotations

import openai
import pytest
from pydantic import BaseModel

from seadragon.backends.local import MODEL_NAME
from tests.api.test_local_model import client  # noqa: F401  (the fixture)

pytestmark = pytest.mark.local_model


class City(BaseModel):
    city: str


async def test_parse_and_responses_with_the_local_model(client: openai.AsyncOpenAI) -> None:  # noqa: F811
    ask = [{"role": "user", "content": "Which city is the capital of France?"}]
    parsed = await client.chat.completions.parse(
        model=MODEL_NAME, messages=ask, response_format=City, max_tokens=30
    )
    answer = parsed.choices[0].message.parsed
    assert isinstance(answer, City) and answer.city

    response = await client.responses.create(
        model=MODEL_NAME, input="Say hello.", instructions="Answer in English.", max_output_tokens=8
    )
    assert response.output_text
    assert response.usage is not None and response.usage.output_tokens > 0
    async with client.responses.stream(
        model=MODEL_NAME, input="Say hello.", max_output_tokens=8
    ) as stream:
        events = [event async for event in stream]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    last = events[-1]
    # 8 tokens seldom end an answer: OpenAI then reports the response as incomplete.
    assert last.type in ("response.completed", "response.incomplete")
    assert "".join(deltas) == last.response.output_text != ""
