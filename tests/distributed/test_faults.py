"""Faults a distributed Seadragon must survive, each counting every request as answered
once (the full text, or a clean error in the OpenAI shape), lost (no terminal answer
within ``ANSWER_TIMEOUT_S``) or duplicated (a repeated token, or more text than the fake
produces):

- RabbitMQ restarted twice under load;
- a worker SIGKILLed mid-stream;
- a gateway SIGKILLed while its requests run and wait;
- a poison request that kills its worker every time.

The broker test stops the shared broker for a few seconds; it always starts it again.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from services import rabbitmqctl
from tests.distributed.clients import Tally, arrivals, clients_for, tag_record
from tests.distributed.conftest import TOKEN_DELAY_S, cluster

pytestmark = pytest.mark.rabbitmq

SERVICE_S = 0.5


async def test_broker_restarts_under_load_lose_and_repeat_nothing(tmp_path: Path) -> None:
    # Submits wait at most 2 s for the broker, so the 2.5 s outages are refused cleanly.
    settings = {"SEADRAGON_RABBITMQ_SUBMIT_TIMEOUT_S": "2"}
    async with cluster(tmp_path, **settings) as stack, clients_for(stack) as clients:
        stop = asyncio.Event()
        tally = Tally()

        async def caller(n: int) -> None:
            i = 0
            while not stop.is_set():
                outcome = await clients.chat(n % 2, f"load{n}-{i}", 30, stream=n != 3)
                tally.outcomes.append(outcome)
                i += 1

        async def back_in_service(since: float) -> float:
            """Seconds from ``since`` until both gateways serve a new request again."""
            async with asyncio.timeout(20):
                for gateway in range(2):
                    while True:
                        probe = await clients.chat(gateway, f"probe{gateway}", 3, timeout=10)
                        tally.outcomes.append(probe)  # counted like every other request
                        if probe.ok:
                            break
                        await asyncio.sleep(0.1)
            return time.monotonic() - since

        load = [asyncio.create_task(caller(n)) for n in range(4)]
        recovery = []
        try:
            await clients.until(lambda s: len(s["tags"]) >= 8, "load flowing")
            for _ in range(2):
                try:
                    await rabbitmqctl("stop_app")
                    # Callers keep sending; those that submit now wait 2 s, then get 503.
                    await asyncio.sleep(2.5)
                finally:
                    await rabbitmqctl("start_app")
                recovery.append(await back_in_service(time.monotonic()))
                await asyncio.sleep(1.0)  # steady load again before the next restart
        finally:
            stop.set()
            await asyncio.gather(*load)

        counts = tally.counts()
        refused = [o for o in tally.outcomes if o.status == 503]
        print(f"\nbroker restarts: {counts}; back in service after {recovery} s")
        assert not tally.lost, [(o.tag, o.cut) for o in tally.lost]
        assert not tally.duplicated, [(o.tag, o.text) for o in tally.duplicated]
        assert counts["answered_once"] == counts["requests"]
        assert refused and all(o.clean for o in refused)
        assert {o.error["code"] for o in refused if o.error} <= {"queue_unavailable"}
        assert all(seconds < 10 for seconds in recovery)
        assert counts["kind:ok"] > counts["requests"] // 2


async def test_a_killed_worker_s_requests_complete_elsewhere_or_fail_cleanly(
    tmp_path: Path,
) -> None:
    # The fake waits SERVICE_S before the first token of each answer (a chat stream's
    # role chunk excepted): long enough to kill a worker before a completion's output.
    service = ("--service-time", str(SERVICE_S))
    async with cluster(tmp_path, fake_args=service) as stack, clients_for(stack) as clients:
        streaming = [asyncio.Event() for _ in range(2)]
        running = [
            await clients.queue(i, f"kw-running{i}", 150, first_token=streaming[i])
            for i in range(2)
        ]
        waiting = [await clients.queue(i % 2, f"kw-waiting{i}", 10) for i in range(4)]
        async with asyncio.timeout(10):
            await asyncio.gather(*(event.wait() for event in streaming))
        stack.kill("worker0")
        killed_at = time.monotonic()

        tally = Tally(list(await asyncio.gather(*running, *waiting)))
        stats = await clients.stats()
        cut = [t["tag"] for t in stats["tags"] if t["disconnected"]]
        print(f"\nworker killed: {tally.counts()}; upstream calls cut: {cut}")
        assert not tally.lost and not tally.duplicated
        assert len(tally.answered_once) == 6
        # One stream was on the killed worker: it had sent tokens, so replaying it would
        # repeat them; its caller gets a clean error instead. Everything else completes.
        assert len(cut) == 1 and cut[0].startswith("kw-running")
        victim = next(o for o in tally.outcomes if o.tag == cut[0])
        assert victim.error is not None and victim.error["code"] == "upstream_error", victim
        assert "after the answer had started" in victim.error["message"]  # redelivered
        assert victim.ended_at is not None and victim.ended_at - killed_at < 10
        assert all(o.ok for o in tally.outcomes if o is not victim)
        assert sorted(arrivals(stats, "kw-waiting")) == [f"kw-waiting{i}" for i in range(4)]

        # Killed before any output: the other worker runs the request again, in full.
        stack.start_worker("worker0")
        await clients.worker_serving("worker0")
        await clients.reset()
        before_output = []
        for i in range(2):  # completions: the fake records them untagged
            before_output.append(await clients.queue(i, f"kw-early{i}", 20, completion=True))
            await clients.until(lambda s, n=i + 1: s["in_flight"] == n, "both workers busy")
        stack.kill("worker0")
        again = Tally(list(await asyncio.gather(*before_output)))
        runs = (await clients.stats())["tags"]
        print(f"killed before output: {again.counts()}; backend runs: {runs}")
        assert all(o.ok for o in again.outcomes) and not again.duplicated, again.counts()
        assert len(runs) == 3 and sum(run["disconnected"] for run in runs) == 1


async def test_a_non_streamed_answer_cut_by_a_worker_death_is_run_again(tmp_path: Path) -> None:
    # Its caller sees nothing before the whole answer, so the output lost with the worker
    # can be replaced by a full run elsewhere without showing anything twice.
    async with cluster(tmp_path) as stack, clients_for(stack) as clients:
        tags = [f"nw-whole{i}" for i in range(2)]
        whole = [
            asyncio.create_task(clients.chat(i, tag, 100, stream=False))
            for i, tag in enumerate(tags)
        ]
        await clients.until(
            lambda s: all(any(r["sent"] >= 5 for r in tag_record(s, tag)) for tag in tags),
            "both answers under way, one on each worker",
        )
        stack.kill("worker0")

        tally = Tally(list(await asyncio.gather(*whole)))
        stats = await clients.stats()
        cut = [t["tag"] for t in stats["tags"] if t["disconnected"]]
        print(f"\nworker killed mid-answer: {tally.counts()}; cut: {cut}")
        assert len(tally.answered_once) == 2 and all(o.ok for o in tally.outcomes), tally
        assert len(cut) == 1 and arrivals(stats).count(cut[0]) == 2  # run again, in full


async def test_a_killed_gateway_s_generations_stop_and_free_their_slots(tmp_path: Path) -> None:
    async with cluster(tmp_path) as stack, clients_for(stack) as clients:
        doomed = [await clients.queue(0, f"kg-running{i}", 190) for i in range(2)]
        await clients.until(lambda s: s["in_flight"] == 2, "both slots busy for gateway0")
        orphan = await clients.queue(0, "kg-orphan", 5)
        stack.kill("gateway0")
        killed_at = time.monotonic()

        await clients.until(
            lambda s: all(tag_record(s, f"kg-running{i}")[0]["disconnected"] for i in range(2)),
            "the workers closing the upstream calls of the dead gateway",
            timeout=3,
        )
        stopped_s = time.monotonic() - killed_at
        after = Tally(
            list(await asyncio.gather(*(clients.chat(1, f"kg-after{i}", 10) for i in range(2))))
        )
        served_s = time.monotonic() - killed_at
        cut = Tally(list(await asyncio.gather(*doomed, orphan)))
        print(
            f"\ngateway killed: upstream closed after {stopped_s:.2f} s, slots served the "
            f"other gateway after {served_s:.2f} s; {after.counts()}"
        )
        assert all(o.ok for o in after.outcomes) and not after.duplicated
        # The old streams had ~1.9 s to go: the slots were reused well before.
        assert served_s < 190 * TOKEN_DELAY_S
        assert all(o.cut is not None for o in cut.outcomes)  # their gateway is gone
        assert "kg-orphan" not in arrivals(await clients.stats())


async def test_a_poison_request_is_given_up_after_the_delivery_limit(tmp_path: Path) -> None:
    # A request that kills the worker process running it, every time, made honestly: the
    # test SIGKILLs the (only) worker whenever the poison reaches the backend, and starts
    # a fresh one, as a supervisor would. The poison is the test's only text completion
    # (the fake records no tag for a prompt), so its arrivals are the untagged ones. The
    # fake waits before its first token, so the worker dies before any output.
    limit = 3
    settings = {
        "SEADRAGON_RABBITMQ_DELIVERY_LIMIT": str(limit),
        "SEADRAGON_LOG_LEVEL": "warning",
    }
    async with (
        cluster(
            tmp_path, gateways=1, workers=1, fake_args=("--service-time", "0.5"), **settings
        ) as stack,
        clients_for(stack) as clients,
    ):
        poison = asyncio.create_task(
            clients.chat(0, "poison", 5, stream=False, completion=True, timeout=60)
        )
        await clients.until(lambda s: len(s["tags"]) == 1, "the poison reaching the backend")
        behind = await clients.queue(0, "behind-poison", 5)
        kills = 0
        async with asyncio.timeout(60):
            while not poison.done():
                runs = sum(1 for t in (await clients.stats())["tags"] if t["tag"] is None)
                if runs > kills:
                    stack.kill("worker0")
                    kills += 1
                    stack.start_worker("worker0")
                await asyncio.sleep(0.02)
        given_up = await poison
        rest = Tally([await behind, await clients.chat(0, "after-poison", 5)])
        runs = sum(1 for t in (await clients.stats())["tags"] if t["tag"] is None)
        print(f"\npoison: {runs} runs, {kills} workers killed; {given_up.error}")

        assert given_up.clean and given_up.status == 502, given_up
        assert given_up.error is not None and "3 times" in given_up.error["message"]
        assert runs == kills == limit
        assert all(o.ok for o in rest.outcomes), rest.counts()
