"""A streamed answer names the band it ran in (``: started band=…``), so a caller sees
whether its request aged up; the ``openai`` SDK reads such a stream unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from openai import AsyncOpenAI

from fakes.ollama_server import FakeOllama
from tests.api.test_queueing import BODY, chats, one_slot


async def started_band(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[str]:
    body = {**BODY, "stream": True}
    async with http.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        entry = r.headers["X-Seadragon-Band"]
        lines = [line async for line in r.aiter_lines() if line]
    started = [line.removeprefix(": started band=") for line in lines if "started" in line]
    assert lines[-1] == "data: [DONE]"
    return [entry, *started]


async def test_the_stream_names_the_band_it_was_taken_from(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=3) as fake:
        gateway = await one_slot(gateway_factory, fake, aging_interval_s=0.2)
        async with httpx.AsyncClient(timeout=30) as http:
            assert await started_band(http, gateway.url, gateway.headers()) == ["high", "high"]

            # Hold the only slot; a low request waits long enough to age up to the top.
            fake.config.tokens, fake.config.token_delay = 3, 0.5
            low = {**gateway.headers(), "X-Seadragon-Priority": "low"}
            holder = asyncio.create_task(http.post(
                f"{gateway.url}/v1/chat/completions", json=BODY, headers=gateway.headers()
            ))  # fmt: skip
            await fake.until(lambda: fake.in_flight == 1)
            assert await started_band(http, gateway.url, low) == ["low", "high"]
            assert (await holder).status_code == 200
            fake.config.token_delay = 0.0

        client = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.keys["alice"])
        stream = await client.chat.completions.create(
            model="llama3", messages=BODY["messages"], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text.split() == ["tok0", "tok1", "tok2"]
        await client.close()
        assert len(chats(fake)) == 4
