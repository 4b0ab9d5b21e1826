"""Bad input gets a clear 4xx naming the parameter, before anything is queued."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fakes.ollama_server import FakeOllama
from fakes.openai_server import FakeOpenAI
from tests.api.conftest import Gateway

MSG = [{"role": "user", "content": "hi"}]


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "llama3", "messages": MSG, **fields}


BAD = [
    ({"model": "llama3"}, 400, "messages"),
    (chat(messages=[]), 400, "messages"),
    (chat(messages=[{"role": "robot", "content": "x"}]), 400, "messages[0].role"),
    (chat(messages="hello"), 400, "messages"),
    (chat(max_tokens=0), 400, "max_tokens"),
    (chat(max_tokens=-5), 400, "max_tokens"),
    (chat(max_tokens=10**12), 400, "max_tokens"),
    (chat(n=3), 400, "n"),
    (chat(temperature=2.5), 400, "temperature"),
    (chat(temperature="warm"), 400, "temperature"),
    (chat(top_p=[1]), 400, "top_p"),
    (chat(stream="true"), 400, "stream"),
    (chat(messages=[{"role": "user", "content": "a\u0000b"}]), 400, "messages[0].content"),
    (chat(model="../x"), 400, "model"),
    (chat(model="host/ns/m"), 400, "model"),
    (chat(model="http://127.0.0.1:1/x"), 400, "model"),
    (chat(model=""), 400, "model"),
    (chat(model="unknown-model"), 404, "model"),
]


async def fake_gateway(gateway_factory: Any, fake: FakeOllama) -> Gateway:
    backend = {"name": "o", "url": fake.url, "kind": "ollama", "slots": 1}
    gateway: Gateway = await gateway_factory([backend], models={"llama3"})
    return gateway


def generated(fake: FakeOllama) -> list[Any]:
    return [r for r in fake.requests if r.path in ("/api/chat", "/api/generate", "/api/embed")]


async def test_bad_requests_are_refused_before_queueing(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await fake_gateway(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=10) as http:
            for body, status, param in BAD:
                for stream in (False, True):
                    sent = {**body, "stream": stream} if "stream" not in body else body
                    response = await http.post(
                        f"{gateway.url}/v1/chat/completions", headers=gateway.headers(), json=sent
                    )
                    assert response.status_code == status, (body, response.text)
                    # A refused stream is a real JSON error, not an event stream.
                    assert response.headers["content-type"].startswith("application/json")
                    error = response.json()["error"]
                    assert set(error) == {"message", "type", "param", "code"}
                    assert error["param"] is not None and error["param"].startswith(param), error
            status = await http.get(f"{gateway.url}/api/queue/status", headers=gateway.headers())
        assert generated(fake) == []
        assert all(band["depth"] == 0 for band in status.json()["bands"])


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b'{"model": "llama3", "messages": ' + b"[" * 100 + b"]" * 100 + b"}", {}, 400),
        (b"x" * (9 * 1024 * 1024), {}, 413),
        (b"[1, 2, 3]", {"content-type": "application/json"}, 400),
    ],
)
async def test_malformed_bodies(
    gateway_factory: Any, content: bytes, headers: dict[str, str], status: int
) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await fake_gateway(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                f"{gateway.url}/v1/chat/completions",
                headers={"content-type": "application/json", **gateway.headers(), **headers},
                content=content,
            )
        assert response.status_code == status
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert generated(fake) == []


async def test_url_fields_are_never_followed(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake, FakeOpenAI(models=["llama3"]) as trap:
        gateway = await fake_gateway(gateway_factory, fake)
        body = chat(api_base=trap.url, base_url=f"{trap.url}/v1", api_url=trap.url)
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                f"{gateway.url}/v1/chat/completions", headers=gateway.headers(), json=body
            )
        assert response.status_code == 200
        assert trap.requests == []
        sent = generated(fake)[0].body
        assert not {"api_base", "base_url", "api_url"} & set(sent)


async def test_request_ids_are_validated_and_unique_in_flight(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=1.0) as fake:
        gateway = await fake_gateway(gateway_factory, fake)
        url = f"{gateway.url}/v1/chat/completions"
        async with httpx.AsyncClient(timeout=10) as http:
            bad = await http.post(
                url, headers={**gateway.headers(), "x-request-id": "../../etc"}, json=chat()
            )
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "X-Request-Id"
            async with http.stream(
                "POST",
                url,
                headers={**gateway.headers(), "x-request-id": "mine-1"},
                json=chat(stream=True),
            ) as first:
                assert first.headers["x-request-id"] == "mine-1"
                again = await http.post(
                    url, headers={**gateway.headers(), "x-request-id": "mine-1"}, json=chat()
                )
                assert again.status_code == 409
                assert again.json()["error"]["param"] == "X-Request-Id"
                assert again.headers["x-request-id"] == "mine-1"
                await first.aread()


async def test_queue_clear_refuses_a_bad_body_cleanly(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await fake_gateway(gateway_factory, fake)
        headers = {**gateway.headers("root"), "Content-Type": "application/json"}
        url = f"{gateway.url}/api/queue/clear"
        async with httpx.AsyncClient(timeout=10) as http:
            for body, param in [
                (b"{bad", None),
                (b"\xff\xfe", None),
                (b'{"band": 3}', "band"),
                (b'{"band": "low", "extra": 1}', "extra"),
                (b'{"band": "urgent"}', "band"),
            ]:
                response = await http.post(url, content=body, headers=headers)
                assert response.status_code == 400, (body, response.text)
                error = response.json()["error"]
                assert error["type"] == "invalid_request_error" and error["param"] == param
            for body in (b"", b"{}", b'{"band": "low"}'):
                response = await http.post(url, content=body, headers=headers)
                assert response.status_code == 200, (body, response.text)
