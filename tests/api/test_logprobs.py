"""Log probabilities from an Ollama backend reach SDK callers in OpenAI's shape."""

from __future__ import annotations

from typing import Any

from tests.api.agent_helpers import setup


async def test_logprobs_streamed_and_not(gateway_factory: Any) -> None:
    async with setup(gateway_factory, "ollama") as s:
        client = s.client()
        ask: Any = [{"role": "user", "content": "hi"}]
        answer = await client.chat.completions.create(
            model="llama3", messages=ask, logprobs=True, top_logprobs=2
        )
        logprobs = answer.choices[0].logprobs
        assert logprobs is not None and logprobs.content is not None
        assert [e.token for e in logprobs.content] == ["tok0", " tok1"]
        assert [t.token for t in logprobs.content[0].top_logprobs] == ["alt0", "alt1"]
        tokens = [
            e.token
            async for chunk in await client.chat.completions.create(
                model="llama3", messages=ask, logprobs=True, stream=True
            )
            for choice in chunk.choices
            for e in ((choice.logprobs.content or []) if choice.logprobs else [])
        ]
        assert tokens == ["tok0", " tok1"]
