"""What a RabbitMQ worker process knows about empty band queues (``worker/known.py``),
and the doorbell's rings that end it (``doorbell.py``); on a clock of our own."""

from __future__ import annotations

from typing import Any, cast

import pytest

from seadragon.config import Settings
from seadragon.queue.rabbitmq.broker.messages import Ring
from seadragon.queue.rabbitmq.doorbell import Doorbell
from seadragon.queue.rabbitmq.worker.known import KNOWN_FOR_S, RING_SLACK_S, Known

TTL = 15.0


def name(model: str, band: str, shard: int) -> str:
    return f"ns.job.{model}.{band}.{shard}"


@pytest.fixture
def bell() -> Doorbell:
    return Doorbell(cast(Any, None), cast(Any, None))


@pytest.fixture
def known(bell: Doorbell) -> Known:
    made = Known(Settings(aging_interval_s=TTL), bell, name)
    bell.on_ring = lambda queue: made.rung(queue, now)
    return made


now = 100.0


def look_all_empty(known: Known, bell: Doorbell, at: float, shard: int = 0) -> None:
    """A full scan that found every band of ``shard`` empty, top band first."""
    for band in ("high", "normal", "low"):
        known.looked("m", band, shard, (bell.generation, at), 0, at)


def test_a_queue_found_empty_is_known_empty_until_a_ring_names_it(
    known: Known, bell: Doorbell
) -> None:
    look_all_empty(known, bell, now)
    look_all_empty(known, bell, now)
    assert all(known.empty("m", band, 0, now) for band in ("high", "normal", "low"))
    bell.wake(name("m", "high", 1))  # another shard's queue got a job
    assert known.empty("m", "high", 0, now)
    bell.wake(name("m", "high", 0))
    assert not known.empty("m", "high", 0, now)
    assert known.empty("m", "normal", 0, now)


def test_a_ring_that_names_no_queue_ends_all_knowledge(known: Known, bell: Doorbell) -> None:
    look_all_empty(known, bell, now)
    look_all_empty(known, bell, now)
    bell.wake()
    assert not any(known.empty("m", band, 0, now) for band in ("high", "normal", "low"))


def test_a_ring_during_the_get_counts(known: Known, bell: Doorbell) -> None:
    before = bell.generation
    bell.wake(name("m", "low", 0))  # the publish landed while the get was on its way
    known.looked("m", "low", 0, (before, now), 0, now)
    assert not known.empty("m", "low", 0, now)


def test_knowledge_lasts_as_long_as_the_fallback_poll(known: Known, bell: Doorbell) -> None:
    known.looked("m", "low", 0, (bell.generation, now), 0, now)
    assert known.empty("m", "low", 0, now + KNOWN_FOR_S / 2)
    assert not known.empty("m", "low", 0, now + KNOWN_FOR_S)


def test_a_band_is_not_known_empty_while_the_band_below_may_age_a_job_into_it(
    known: Known, bell: Doorbell
) -> None:
    look_all_empty(known, bell, now)
    # The first scan cannot vouch for the bands above: what was below was not known.
    assert not known.empty("m", "high", 0, now)
    assert not known.empty("m", "normal", 0, now)
    look_all_empty(known, bell, now)
    assert known.empty("m", "normal", 0, now)
    # A job queued in low expires into normal no earlier than its ring plus low's TTL.
    bell.wake(name("m", "low", 0))
    soon = now + 0.5
    assert known.empty("m", "normal", 0, soon)
    later = now + TTL - RING_SLACK_S
    known.looked("m", "normal", 0, (bell.generation, later - 0.5), 0, later - 0.5)
    assert known.empty("m", "normal", 0, later - 0.1)
    assert not known.empty("m", "normal", 0, later)


def test_a_queue_seen_with_jobs_left_may_age_them_at_once(known: Known, bell: Doorbell) -> None:
    look_all_empty(known, bell, now)
    look_all_empty(known, bell, now)
    bell.wake()  # nothing known about where the jobs are any more
    look_all_empty(known, bell, now)
    known.looked("m", "low", 0, (bell.generation, now), 3, now)  # took one, three left
    known.looked("m", "normal", 0, (bell.generation, now), 0, now)
    assert not known.empty("m", "normal", 0, now)
    assert not known.empty("m", "low", 0, now)


def test_an_empty_queue_whose_job_may_have_expired_drops_the_band_above(
    known: Known, bell: Doorbell
) -> None:
    look_all_empty(known, bell, now)
    look_all_empty(known, bell, now)
    bell.wake(name("m", "low", 0))
    late = now + TTL  # the job may have expired into normal; low is found empty
    known.looked("m", "normal", 0, (bell.generation, late - 0.9), 0, late - 0.9)
    known.looked("m", "low", 0, (bell.generation, late), 0, late)
    assert not known.empty("m", "normal", 0, late)


def test_a_handed_back_job_ends_the_knowledge(known: Known, bell: Doorbell) -> None:
    known.looked("m", "low", 0, (bell.generation, now), 0, now)
    known.returned("m", "low", 0)
    assert not known.empty("m", "low", 0, now)


async def test_a_ring_after_dropped_rings_counts_for_every_queue(
    known: Known, bell: Doorbell
) -> None:
    look_all_empty(known, bell, now)
    # The first ring heard from a process: its earlier rings are not known.
    await bell._heard(Ring(queue=name("m", "low", 1), sender="g1", seq=5))
    assert not known.empty("m", "low", 0, now)
    look_all_empty(known, bell, now)
    await bell._heard(Ring(queue=name("m", "low", 1), sender="g1", seq=6))
    assert known.empty("m", "low", 0, now)
    await bell._heard(Ring(queue=name("m", "low", 1), sender="g1", seq=8))  # 7 was dropped
    assert not known.empty("m", "low", 0, now)
    look_all_empty(known, bell, now)
    await bell._heard(Ring())  # an older gateway's ring
    assert not known.empty("m", "low", 0, now)
