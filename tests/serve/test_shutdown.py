"""SIGTERM on ``seadragon serve`` with a backlog: queued requests get a clean 503 at once,
running ones get ``shutdown_grace_s`` to finish (then a clean 503), and the process exits
within the grace however long the queue was."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from typing import Any

import httpx
from bench.processes import Stack, wait_until

from tests.serve.conftest import Serve

GRACE_S = 5.0
#: Long enough that the running request is still running when the backlog is in place
#: and SIGTERM lands (40 requests take over a second to queue on a loaded machine), and
#: short enough to finish within the grace.
SERVICE_S = 3.0
QUEUED = 40
#: The process may take this much longer than the grace to exit (a busy 2-core machine).
EXIT_SLACK_S = 6.0


def chat(tag: str) -> dict[str, Any]:
    return {"model": "bench", "messages": [{"role": "user", "content": tag}]}


async def backlog(stack: Stack, http: httpx.AsyncClient) -> tuple[asyncio.Task, list[asyncio.Task]]:
    """One request running on the only slot and ``QUEUED`` waiting behind it."""
    url = stack.gateway_chat

    async def send(tag: str) -> tuple[int, float]:
        response = await http.post(url, headers=stack.auth, json=chat(tag))
        return response.status_code, time.monotonic()

    running = asyncio.create_task(send("running"))

    async def started() -> bool:
        stats = (await http.get(f"{stack.upstream}/_fake/stats")).json()
        return bool(stats["in_flight"] == 1)

    await wait_until(started, "the first request running")
    queued = [asyncio.create_task(send(f"queued{i}")) for i in range(QUEUED)]

    async def all_queued() -> bool:
        status = await http.get(f"{stack.gateways[0]}/api/queue/status", headers=stack.auth)
        return sum(band["depth"] for band in status.json()["bands"]) == QUEUED

    await wait_until(all_queued, "the backlog queued")
    return running, queued


async def terminate(stack: Stack) -> float:
    """SIGTERM the gateway; seconds until it exited (infinite past a generous limit)."""
    process = stack.processes["gateway0"]
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(process.wait, 4 * (GRACE_S + EXIT_SLACK_S))
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.monotonic() - sent


async def test_the_backlog_is_refused_and_the_running_request_finishes(serve: Serve) -> None:
    settings = {"SEADRAGON_SHUTDOWN_GRACE_S": str(GRACE_S)}
    async with (
        serve(upstream_args=("--service-time", str(SERVICE_S)), **settings) as stack,
        httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as http,
    ):
        running, queued = await backlog(stack, http)
        signalled = time.monotonic()
        took = await terminate(stack)
        print(f"\nexited {took:.1f} s after SIGTERM with {QUEUED} queued")
        assert took < GRACE_S + EXIT_SLACK_S
        assert (await running)[0] == 200
        answers = await asyncio.gather(*queued)
    assert [status for status, _ in answers] == [503] * QUEUED
    # "At once": long before the queue could have drained (40 x 3 s).
    assert max(at for _, at in answers) - signalled < GRACE_S + EXIT_SLACK_S


async def test_a_request_longer_than_the_grace_gets_a_clean_503(serve: Serve) -> None:
    settings = {"SEADRAGON_SHUTDOWN_GRACE_S": str(GRACE_S)}
    async with (
        serve(upstream_args=("--service-time", "120"), **settings) as stack,
        httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as http,
    ):
        running, queued = await backlog(stack, http)
        took = await terminate(stack)
        print(f"\nexited {took:.1f} s after SIGTERM, a 120 s request running")
        assert took < GRACE_S + EXIT_SLACK_S
        status, _ = await running
        answers = await asyncio.gather(*queued)
    assert status == 503
    assert [status for status, _ in answers] == [503] * QUEUED
