"""Remote image URLs: refused by default, fetched and inlined only for listed hosts."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from fakes.image_server import PNG, FakeImages
from fakes.ollama_server import FakeOllama


def asking(url: str) -> dict[str, Any]:
    part = {"type": "image_url", "image_url": {"url": url}}
    return {"model": "llama3", "messages": [{"role": "user", "content": [part]}]}


async def test_remote_images_are_fetched_only_from_listed_hosts(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake, FakeImages() as images:
        backend = {"name": "o", "url": fake.url, "kind": "ollama", "slots": 1}
        closed = await gateway_factory([backend], models={"llama3"})
        allowing = await gateway_factory(
            [backend],
            models={"llama3"},
            image_fetch_hosts=["127.0.0.1"],
            image_fetch_timeout_s=1.0,
            max_image_bytes=100_000,
        )
        param = "messages[0].content[0].image_url.url"
        async with httpx.AsyncClient(timeout=20) as http:

            async def post(gateway: Any, url: str, path: str = "/v1/chat/completions") -> Any:
                body = asking(url)
                if path == "/v1/responses":
                    part = {"type": "input_image", "image_url": url}
                    body = {"model": "llama3", "input": [{"role": "user", "content": [part]}]}
                return await http.post(f"{gateway.url}{path}", headers=gateway.headers(), json=body)

            refused = await post(closed, f"{images.url}/cat.png")
            assert refused.status_code == 400 and refused.json()["error"]["param"] == param
            assert images.requests == []  # the default gateway never connected

            fetched = await post(allowing, f"{images.url}/cat.png")
            assert fetched.status_code == 200, fetched.text
            sent = [r.body for r in fake.requests if r.path == "/api/chat"][-1]
            assert sent["messages"][0]["images"] == [base64.b64encode(PNG).decode()]
            via_responses = await post(allowing, f"{images.url}/cat.png", "/v1/responses")
            assert via_responses.status_code == 200, via_responses.text

            for path in ("/big.png", "/page.html", "/moved", "/slow.png"):
                response = await post(allowing, f"{images.url}{path}")
                assert response.status_code == 400, (path, response.text)
                assert response.json()["error"]["param"] == param
            other_host = await post(allowing, f"http://localhost:{images.port}/cat.png")
            assert other_host.status_code == 400
        assert sum(r.path == "/moved" for r in images.requests) == 1
        # Two fetches of cat.png: no redirect followed, no unlisted host ("localhost") fetched.
        assert sum(r.path == "/cat.png" for r in images.requests) == 2
