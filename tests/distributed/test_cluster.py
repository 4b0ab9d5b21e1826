"""Two gateways and two workers (one slot each) sharing RabbitMQ behave as one queue:
strict priority across workers, the aging bound, cancellation and clear across processes.

One stack serves the whole module (starting it costs seconds); each test waits for the
fake to be idle and resets its record first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.distributed.clients import Clients, Tally, arrivals, clients_for, tag_record
from tests.distributed.conftest import TOKEN_DELAY_S, cluster

pytestmark = [pytest.mark.rabbitmq, pytest.mark.asyncio(loop_scope="module")]

AGING_S = 1.0
#: Long enough to hold a slot while a test queues everything it needs behind it.
BLOCKER_TOKENS = 150


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Clients]:
    tmp = tmp_path_factory.mktemp("cluster")
    failed_before = request.session.testsfailed
    async with (
        cluster(tmp, SEADRAGON_AGING_INTERVAL_S=str(AGING_S)) as stack,
        clients_for(stack) as clients,
    ):
        yield clients
        if request.session.testsfailed > failed_before:
            for name in stack.processes:
                print(f"----- {name}.log (tail) -----\n{stack.log(name)[-3000:]}")


@pytest_asyncio.fixture(loop_scope="module")
async def clients(live: Clients) -> Clients:
    await live.until(lambda s: s["in_flight"] == 0, "the fake idle before the test")
    await live.reset()
    return live


async def occupy_both_slots(clients: Clients, label: str, tokens: int) -> list[asyncio.Task]:
    """Two long requests, one per gateway, running on both workers' slots."""
    tasks = [await clients.queue(i, f"{label}-blocker{i}", tokens) for i in range(2)]
    await clients.until(
        lambda s: len(arrivals(s, f"{label}-blocker")) == 2, "both blockers running"
    )
    return tasks


async def test_strict_priority_across_workers_and_gateways(clients: Clients) -> None:
    blockers = await occupy_both_slots(clients, "prio", BLOCKER_TOKENS)
    # Queued lowest band first, alternating gateways: arrival order alone would be wrong.
    order = [(band, i) for band in ("low", "normal", "high") for i in range(3)]
    waiting = [
        await clients.queue(n % 2, f"prio-{band}{i}", 10, band=band)
        for n, (band, i) in enumerate(order)
    ]
    tally = Tally(list(await asyncio.gather(*blockers, *waiting)))
    started = arrivals(await clients.stats(), "prio-")
    print(f"\nstart order at the backend: {started}; {tally.counts()}")

    assert tally.counts()["answered_once"] == 11 and not tally.lost and not tally.duplicated
    assert all(o.ok for o in tally.outcomes)
    expected = ["prio-blocker0", "prio-blocker1"]
    expected += [f"prio-{band}{i}" for band in ("high", "normal", "low") for i in range(3)]
    assert sorted(started) == sorted(expected)
    # Each free slot took the head of the highest band. Two slots freeing at the same
    # moment take adjacent jobs whose requests may reach the backend in either order.
    for position, tag in enumerate(started):
        assert abs(position - expected.index(tag)) <= 1, started
    bands = [tag.rstrip("0123456789").removeprefix("prio-") for tag in started[2:]]
    assert bands.index("low") > max(i for i, b in enumerate(bands) if b == "high"), bands


async def test_aging_bounds_the_wait_of_a_low_request(clients: Clients) -> None:
    # Six callers keep high requests queued back to back: without aging a low request
    # would wait for all of them. With aging it climbs one band per AGING_S.
    stop = asyncio.Event()
    served = Tally()
    high_tokens = 20

    async def high_traffic(n: int) -> None:
        i = 0
        while not stop.is_set():
            served.outcomes.append(await clients.chat(n % 2, f"age-high{n}-{i}", high_tokens))
            i += 1

    load = [asyncio.create_task(high_traffic(n)) for n in range(6)]
    try:
        await clients.until(lambda s: len(arrivals(s, "age-high")) >= 6, "high traffic flowing")
        low = await clients.chat(1, "age-low", 5, band="low", timeout=15)
    finally:
        stop.set()
        await asyncio.gather(*load)

    assert low.ok and low.queued_at is not None and low.first_token_at is not None, low
    waited = low.first_token_at - low.queued_at
    chain_s = 2 * AGING_S  # low -> normal -> high
    # Promotion lands at the tail of the top band: at most six highs are ahead then.
    backlog_s = 6 * high_tokens * TOKEN_DELAY_S / 2
    print(f"\nlow request waited {waited:.2f} s (chain {chain_s} s + backlog <= {backlog_s} s)")
    assert waited <= chain_s + backlog_s + 1.0
    assert waited >= AGING_S, "the high traffic did not keep the low request waiting"
    stats = await clients.stats()
    tags = arrivals(stats)
    assert any(t.startswith("age-high") for t in tags[tags.index("age-low") + 1 :]), (
        "the low request only ran once the high traffic was over"
    )
    assert (
        not served.lost
        and not served.duplicated
        and len(served.answered_once) == len(served.outcomes)
    )


async def test_cancellation_reaches_the_worker_of_another_process(clients: Clients) -> None:
    # A running stream whose client hangs up: its worker closes the upstream call.
    hung_up = await clients.queue(0, "cancel-hangup", 190)
    await clients.until(lambda s: "cancel-hangup" in arrivals(s), "the stream running")
    hung_up.cancel()
    began = time.monotonic()
    await clients.until(
        lambda s: tag_record(s, "cancel-hangup")[0]["disconnected"],
        "the worker closing the upstream call of a client that hung up",
        timeout=3,
    )
    hangup_s = time.monotonic() - began

    # An owner (here an admin) cancels a running request by id on its gateway.
    by_id = await clients.queue(1, "cancel-byid", 190, request_id="cancel-byid-1")
    await clients.until(lambda s: "cancel-byid" in arrivals(s), "the second stream running")
    response = await clients.admin(1, "DELETE", "/api/queue/requests/cancel-byid-1")
    assert response.status_code == 200 and response.json()["cancelled"] is True
    cancelled = await by_id
    await clients.until(
        lambda s: tag_record(s, "cancel-byid")[0]["disconnected"],
        "the worker closing the upstream call of a cancelled request",
        timeout=3,
    )

    # A queued request whose client hangs up never reaches a backend.
    blockers = await occupy_both_slots(clients, "cancel", 60)
    gone = await clients.queue(0, "cancel-queued", 5)
    gone.cancel()
    after = await clients.queue(1, "cancel-after", 5)
    tally = Tally(list(await asyncio.gather(*blockers, after)))
    print(f"\nupstream closed {hangup_s:.2f} s after the hang-up; {tally.counts()}")

    assert cancelled.done and cancelled.error is not None
    assert cancelled.error["code"] == "cancelled" and cancelled.clean
    assert all(o.ok for o in tally.outcomes) and len(tally.answered_once) == 3
    assert "cancel-queued" not in arrivals(await clients.stats())


async def test_clear_ends_queued_requests_of_every_gateway(clients: Clients) -> None:
    blockers = await occupy_both_slots(clients, "clear", 100)
    lows = [await clients.queue(i, f"clear-low{i}", 5, band="low") for i in range(2)]
    highs = [await clients.queue(i, f"clear-high{i}", 5) for i in range(2)]

    response = await clients.admin(1, "POST", "/api/queue/clear?band=low")
    cleared_at = time.monotonic()
    assert response.status_code == 200, response.text
    assert response.json()["cleared"] == 2
    low_outcomes = await asyncio.gather(*lows)
    rest = Tally(list(await asyncio.gather(*blockers, *highs)))
    late = [o.ended_at - cleared_at for o in low_outcomes if o.ended_at is not None]
    print(f"\ncleared callers answered within {max(late):.3f} s; {rest.counts()}")

    for outcome in low_outcomes:
        assert outcome.clean and outcome.error is not None, outcome
        assert outcome.error["code"] == "queue_cleared"
    assert max(late) < 2.0
    assert all(o.ok for o in rest.outcomes), rest.counts()  # running ones and other bands go on
    started = arrivals(await clients.stats(), "clear-")
    assert not [t for t in started if t.startswith("clear-low")], started
