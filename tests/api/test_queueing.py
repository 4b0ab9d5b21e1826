"""Queue behaviour seen over HTTP: cancellation, clear, max wait, backpressure, bands."""

from __future__ import annotations

import asyncio
import contextlib
import re
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from fakes.ollama_server import FakeOllama
from tests.api.conftest import Gateway

MSG = [{"role": "user", "content": "hi"}]
BODY = {"model": "llama3", "messages": MSG}


async def one_slot(gateway_factory: Any, fake: FakeOllama, **settings: Any) -> Gateway:
    backend = {"name": "o", "url": fake.url, "kind": "ollama", "slots": 1}
    gateway: Gateway = await gateway_factory([backend], models={"llama3"}, **settings)
    return gateway


def chats(fake: FakeOllama) -> list[Any]:
    return [r for r in fake.requests if r.path == "/api/chat"]


async def queue_status(http: httpx.AsyncClient, gateway: Gateway) -> dict[str, Any]:
    response = await http.get(f"{gateway.url}/api/queue/status", headers=gateway.headers("root"))
    data: dict[str, Any] = response.json()
    return data


async def until_queued(http: httpx.AsyncClient, gateway: Gateway, count: int) -> None:
    async with asyncio.timeout(10):
        while len((await queue_status(http, gateway))["queued"]) < count:
            await asyncio.sleep(0.02)


async def post(
    http: httpx.AsyncClient, gateway: Gateway, who: str = "alice", **extra: Any
) -> httpx.Response:
    headers = {**gateway.headers(who), **extra.pop("headers", {})}
    return await http.post(
        f"{gateway.url}/v1/chat/completions", headers=headers, json={**BODY, **extra}
    )


def open_stream(
    http: httpx.AsyncClient, gateway: Gateway, who: str = "alice"
) -> AbstractAsyncContextManager[httpx.Response]:
    """A streamed chat request, open for reading."""
    return http.stream(
        "POST",
        f"{gateway.url}/v1/chat/completions",
        headers=gateway.headers(who),
        json={**BODY, "stream": True},
    )


async def stream_lines(http: httpx.AsyncClient, gateway: Gateway, who: str = "alice") -> list[str]:
    """Every non-empty line of a streamed chat answer."""
    async with open_stream(http, gateway, who) as response:
        return [line async for line in response.aiter_lines() if line]


async def test_disconnect_while_queued_never_reaches_the_backend(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=1.0, tokens=2) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=20) as http:
            busy = asyncio.create_task(post(http, gateway))
            await fake.until(lambda: len(chats(fake)) == 1)
            async with open_stream(http, gateway) as waiting:
                first = await anext(waiting.aiter_lines())
                assert first.startswith(": queue position=0 ")
            # The stream is closed: the request must leave the queue without running.
            async with asyncio.timeout(5):
                while (await queue_status(http, gateway))["queued"]:
                    await asyncio.sleep(0.02)
            assert (await busy).status_code == 200
            await post(http, gateway)  # the slot is free again and takes new work
        assert len(chats(fake)) == 2


async def test_disconnect_while_streaming_closes_the_upstream(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=200, token_delay=0.05) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=20) as http:
            async with open_stream(http, gateway) as response:
                seen = 0
                async for line in response.aiter_lines():
                    seen += "tok" in line
                    if seen == 3:
                        break
            loop = asyncio.get_running_loop()
            hung_up = loop.time()
            await fake.until(lambda: any(r.disconnected for r in chats(fake)), timeout=5)
            assert loop.time() - hung_up < 2.0


async def test_disconnect_of_a_non_streaming_call_closes_the_upstream(
    gateway_factory: Any,
) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=200, token_delay=0.05) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=httpx.Timeout(20, read=0.5)) as http:
            with contextlib.suppress(httpx.ReadTimeout):  # the caller gives up, hangs up
                await post(http, gateway)
        await fake.until(lambda: any(r.disconnected for r in chats(fake)), timeout=5)


async def test_clear_ends_every_waiting_caller_at_once(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=2.0, tokens=2) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=20) as http:
            running = asyncio.create_task(post(http, gateway))
            await fake.until(lambda: len(chats(fake)) == 1)
            waiting = [asyncio.create_task(post(http, gateway, "carol")) for _ in range(3)]

            async def streamed() -> list[str]:
                return await stream_lines(http, gateway)

            stream = asyncio.create_task(streamed())
            await until_queued(http, gateway, 4)
            denied = await http.post(f"{gateway.url}/api/queue/clear", headers=gateway.headers())
            assert denied.status_code == 403
            loop = asyncio.get_running_loop()
            cleared_at = loop.time()
            response = await http.post(
                f"{gateway.url}/api/queue/clear", headers=gateway.headers("root")
            )
            assert response.json()["cleared"] == 4
            answers = await asyncio.gather(*waiting)
            lines = await stream
            assert loop.time() - cleared_at < 2.0
            assert all(a.status_code == 503 for a in answers)
            assert {a.json()["error"]["code"] for a in answers} == {"queue_cleared"}
            assert '"queue_cleared"' in lines[-1]
            assert (await running).status_code == 200  # running requests finish
        assert len(chats(fake)) == 1


async def test_clear_one_band(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=1.0, tokens=1) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=20) as http:
            running = asyncio.create_task(post(http, gateway))
            await fake.until(lambda: len(chats(fake)) == 1)
            low = asyncio.create_task(post(http, gateway, "carol"))
            high = asyncio.create_task(post(http, gateway, "bob"))
            await until_queued(http, gateway, 2)
            response = await http.post(
                f"{gateway.url}/api/queue/clear?band=low", headers=gateway.headers("root")
            )
            assert response.json()["cleared"] == 1
            assert (await low).status_code == 503
            assert (await high).status_code == 200
            assert (await running).status_code == 200


async def test_max_queue_wait_gives_503(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=2.0, tokens=1) as fake:
        gateway = await one_slot(gateway_factory, fake, max_queue_wait_s=0.5)
        async with httpx.AsyncClient(timeout=20) as http:
            running = asyncio.create_task(post(http, gateway))
            await fake.until(lambda: len(chats(fake)) == 1)
            late = await post(http, gateway)
            assert late.status_code == 503
            assert late.json()["error"]["code"] == "queue_timeout"
            assert (await running).status_code == 200
        assert len(chats(fake)) == 1


async def test_full_band_is_429_with_retry_after(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=1.0, tokens=1) as fake:
        gateway = await one_slot(gateway_factory, fake, max_queue_depth=1)
        async with httpx.AsyncClient(timeout=20) as http:
            running = asyncio.create_task(post(http, gateway))
            await fake.until(lambda: len(chats(fake)) == 1)
            queued = asyncio.create_task(post(http, gateway))
            await until_queued(http, gateway, 1)
            refused = await post(http, gateway)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["error"]["type"] == "rate_limit_error"
            assert (await queued).status_code == 200
            assert (await running).status_code == 200


async def test_positions_eta_and_cancel_by_id(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=1.0, tokens=1) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=20) as http:
            running = asyncio.create_task(post(http, gateway))
            await fake.until(lambda: len(chats(fake)) == 1)
            waiting = []
            for i in range(3):  # one at a time, so the queue order is known
                headers = {"x-request-id": f"req-{i}"}
                waiting.append(asyncio.create_task(post(http, gateway, headers=headers)))
                await until_queued(http, gateway, i + 1)
            url = f"{gateway.url}/api/queue/requests"
            info = (await http.get(f"{url}/req-2", headers=gateway.headers())).json()
            assert info["state"] == "queued" and info["position"] == 2 and info["eta_s"] > 0
            hidden = await http.get(f"{url}/req-2", headers=gateway.headers("bob"))
            assert hidden.status_code == 404  # someone else's request looks unknown
            assert (
                await http.delete(f"{url}/req-1", headers=gateway.headers("bob"))
            ).status_code == 404
            cancelled = await http.delete(f"{url}/req-1", headers=gateway.headers())
            assert cancelled.json()["cancelled"] is True
            answers = await asyncio.gather(*waiting)
            assert [a.status_code for a in answers] == [200, 499, 200]
            assert answers[1].json()["error"]["code"] == "cancelled"
            assert (await running).status_code == 200


async def test_streamed_positions_count_down(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=0.3, tokens=1) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=20) as http:
            ahead = [asyncio.create_task(post(http, gateway)) for _ in range(3)]
            await fake.until(lambda: len(chats(fake)) == 1)
            await until_queued(http, gateway, 2)
            lines = await stream_lines(http, gateway)
            await asyncio.gather(*ahead)
        positions = [
            int(m.group(1)) for m in map(re.compile(r": queue position=(\d+)").match, lines) if m
        ]
        assert positions[0] == 2 and positions[-1] == 0
        assert positions == sorted(positions, reverse=True)
        assert lines[-1] == "data: [DONE]"


async def test_bands_high_before_low_and_asking_for_lower(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=0.3, tokens=1) as fake:
        gateway = await one_slot(gateway_factory, fake, aging_interval_s=60)
        async with httpx.AsyncClient(timeout=20) as http:
            running = asyncio.create_task(post(http, gateway))
            await fake.until(lambda: len(chats(fake)) == 1)
            order = []

            async def call(who: str, tag: str, **extra: Any) -> None:
                response = await post(http, gateway, who, user=tag, **extra)
                assert response.status_code == 200
                order.append(tag)

            calls = [asyncio.create_task(call("carol", "low-key"))]
            await until_queued(http, gateway, 1)
            calls.append(asyncio.create_task(call("bob", "flex", service_tier="flex")))
            await until_queued(http, gateway, 2)
            calls.append(
                asyncio.create_task(
                    call("alice", "header-low", headers={"x-seadragon-priority": "low"})
                )
            )
            await until_queued(http, gateway, 3)
            calls.append(asyncio.create_task(call("alice", "high")))
            await asyncio.gather(running, *calls)
        assert order == ["high", "flex", "low-key", "header-low"]


async def test_every_accepted_request_is_answered_once(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=5, token_delay=0.01) as fake:
        backend = {"name": "o", "url": fake.url, "kind": "ollama", "slots": 2}
        gateway = await gateway_factory([backend], models={"llama3"})
        async with httpx.AsyncClient(timeout=30) as http:

            async def streamed(i: int) -> str:
                lines = await stream_lines(http, gateway, ["alice", "bob", "carol"][i % 3])
                return "".join(
                    line.split('"content":"')[1].split('"')[0]
                    for line in lines
                    if '"content":"' in line
                )

            texts = await asyncio.gather(*(streamed(i) for i in range(24)))
        assert texts == ["tok0 tok1 tok2 tok3 tok4"] * 24
        assert len(chats(fake)) == 24 and fake.max_in_flight <= 2


async def test_status_shows_busy_slots_live(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], service_time=1.0, tokens=1) as fake:
        gateway = await one_slot(gateway_factory, fake)
        async with httpx.AsyncClient(timeout=20) as http:

            async def busy() -> int:
                workers = (await queue_status(http, gateway))["workers"]
                return int(workers[0]["busy"])

            running = asyncio.create_task(post(http, gateway))
            await fake.until(lambda: len(chats(fake)) == 1)
            async with asyncio.timeout(1.5):  # under the 2 s periodic advertisement
                while await busy() != 1:
                    await asyncio.sleep(0.01)
            assert (await running).status_code == 200
            async with asyncio.timeout(1.5):
                while await busy() != 0:
                    await asyncio.sleep(0.01)
