"""Values a backend cannot take are refused at the gateway: 400 naming the field, not a 502."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fakes.ollama_server import FakeOllama
from tests.api.test_bad_input import fake_gateway, generated

MSG = [{"role": "user", "content": "hi"}]

REFUSED = [
    ("/v1/chat/completions", {"model": "llama3", "messages": MSG, "seed": 2**70}, "seed"),
    ("/v1/chat/completions", {"model": "llama3", "messages": MSG, "seed": -(2**64)}, "seed"),
    ("/v1/completions", {"model": "llama3", "prompt": "hi", "seed": 2**63}, "seed"),
    (
        "/v1/chat/completions",
        {"model": "llama3", "messages": [{"role": "user", "content": "hi", "name": "a\u0000b"}]},
        "messages[0].name",
    ),
    ("/v1/embeddings", {"model": "llama3", "input": ""}, "input"),
    ("/v1/embeddings", {"model": "llama3", "input": ["fine", ""]}, "input"),
]


@pytest.mark.parametrize(("path", "body", "param"), REFUSED)
async def test_values_a_backend_cannot_take_are_400(
    gateway_factory: Any, path: str, body: dict[str, Any], param: str
) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await fake_gateway(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(f"{gateway.url}{path}", headers=gateway.headers(), json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["param"] is not None and error["param"].startswith(param), error
        assert generated(fake) == []


async def test_the_largest_seed_still_reaches_the_backend(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await fake_gateway(gateway_factory, fake)
        body = {"model": "llama3", "messages": MSG, "seed": 2**63 - 1}
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                f"{gateway.url}/v1/chat/completions", headers=gateway.headers(), json=body
            )
        assert response.status_code == 200, response.text
        assert generated(fake)[0].body["options"]["seed"] == 2**63 - 1
