"""Login throttling per username and client address, with a sliding window."""

from __future__ import annotations

import pytest

from seadragon.auth.throttle import LoginThrottle
from seadragon.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_locks_out_after_max_failures_until_the_window_passes() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60, clock=clock)
    for _ in range(3):
        throttle.check("alice", "10.0.0.1")
        throttle.record_failure("alice", "10.0.0.1")
    with pytest.raises(RateLimited) as info:
        throttle.check("alice", "10.0.0.1")
    assert info.value.status == 429
    assert info.value.retry_after is not None and 59 <= info.value.retry_after <= 60
    clock.now += 30
    with pytest.raises(RateLimited):
        throttle.check("ALICE", "10.0.0.1")  # usernames are counted case-insensitively
    clock.now += 31
    throttle.check("alice", "10.0.0.1")


def test_counts_are_per_username_and_client() -> None:
    throttle = LoginThrottle(2, 60, clock=Clock())
    for _ in range(2):
        throttle.record_failure("alice", "10.0.0.1")
    throttle.check("alice", "10.0.0.2")
    throttle.check("bob", "10.0.0.1")


def test_success_resets_the_count() -> None:
    throttle = LoginThrottle(2, 60, clock=Clock())
    throttle.record_failure("alice", "ip")
    throttle.reset("alice", "ip")
    throttle.record_failure("alice", "ip")
    throttle.check("alice", "ip")


def test_memory_is_bounded_by_forgetting_the_oldest_entries() -> None:
    throttle = LoginThrottle(2, 60, clock=Clock(), max_entries=10)
    throttle.record_failure("victim", "ip")
    throttle.record_failure("victim", "ip")
    with pytest.raises(RateLimited):
        throttle.check("victim", "ip")
    for n in range(10):
        throttle.record_failure(f"user{n}", "ip")
    throttle.check("victim", "ip")  # evicted, not kept forever
