"""Login throttling, counted in the database (SQLite and PostgreSQL) so that every gateway
sees the same failures: per username and client address with a sliding window, and per
account from any address, where it slows sign-in down instead of locking it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from seadragon.auth.throttle import LoginThrottle, ThrottleLimits, unlock
from seadragon.db.engine import Database
from seadragon.db.tables import LoginFailure
from seadragon.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def throttle(
    max_failures: int, window_s: float, clock: Clock, *, account: int = 1000, delay: float = 30
) -> LoginThrottle:
    limits = ThrottleLimits(max_failures, window_s, account, 3600, delay)
    return LoginThrottle(limits, clock=clock)


async def fail(database: Database, throttle: LoginThrottle, username: str, client: str) -> None:
    """One attempt that goes ahead and fails (raises ``RateLimited`` if refused)."""
    async with database.session() as session:
        await throttle.begin(session, username, client)


async def succeed(database: Database, throttle: LoginThrottle, username: str, client: str) -> None:
    async with database.session() as session:
        attempt = await throttle.begin(session, username, client)
        await throttle.succeeded(session, attempt)
        await session.commit()


async def rows(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(LoginFailure)) or 0)


async def test_locks_out_after_max_failures_until_the_window_passes(database: Database) -> None:
    clock = Clock()
    limiter = throttle(3, 60, clock)
    for _ in range(3):
        await fail(database, limiter, "alice", "10.0.0.1")
        clock.advance(1)
    with pytest.raises(RateLimited) as info:
        await fail(database, limiter, "alice", "10.0.0.1")
    assert info.value.status == 429
    assert info.value.retry_after == 57  # the oldest of the three ages out first
    clock.advance(30)
    with pytest.raises(RateLimited):
        await fail(database, limiter, "ALICE", "10.0.0.1")  # usernames ignore case
    assert await rows(database) == 3  # refused attempts are not counted
    clock.advance(28)
    await fail(database, limiter, "alice", "10.0.0.1")


async def test_counts_are_per_username_and_client(database: Database) -> None:
    limiter = throttle(2, 60, Clock())
    for _ in range(2):
        await fail(database, limiter, "alice", "10.0.0.1")
    await fail(database, limiter, "alice", "10.0.0.2")
    await fail(database, limiter, "bob", "10.0.0.1")
    with pytest.raises(RateLimited):
        await fail(database, limiter, "alice", "10.0.0.1")


async def test_success_resets_the_count(database: Database) -> None:
    limiter = throttle(2, 60, Clock())
    await fail(database, limiter, "alice", "ip")
    await succeed(database, limiter, "alice", "ip")
    assert await rows(database) == 0
    await fail(database, limiter, "alice", "ip")
    await fail(database, limiter, "alice", "ip")


async def test_gateways_sharing_a_database_share_the_count(database: Database) -> None:
    # Two gateways, each with its own throttle: an attacker alternating between them
    # gets max_failures guesses in all, not max_failures per gateway.
    clock = Clock()
    gateways = [throttle(4, 60, clock) for _ in range(2)]
    for n in range(4):
        await fail(database, gateways[n % 2], "alice", "10.0.0.1")
    for limiter in gateways:
        with pytest.raises(RateLimited):
            await fail(database, limiter, "alice", "10.0.0.1")


async def test_old_failures_are_deleted_and_nothing_names_the_user(database: Database) -> None:
    clock = Clock()
    limiter = throttle(5, 60, clock)
    for n in range(3):
        await fail(database, limiter, f"user{n}", "10.0.0.1")
    clock.advance(3601)  # past the longer, per-account window
    await fail(database, limiter, "alice", "10.0.0.1")
    async with database.session() as session:
        stored = list(await session.scalars(select(LoginFailure)))
    assert len(stored) == 1
    assert "alice" not in stored[0].key and len(stored[0].key) == 64
    assert stored[0].account and "alice" not in stored[0].account


async def test_parallel_attempts_are_counted_atomically(database: Database) -> None:
    limiter = throttle(5, 300, Clock())
    outcomes = await asyncio.gather(
        *(fail(database, limiter, "alice", "10.0.0.1") for _ in range(40)),
        return_exceptions=True,
    )
    went_ahead = [o for o in outcomes if o is None]
    assert 1 <= len(went_ahead) <= 5
    assert all(isinstance(o, RateLimited) for o in outcomes if o is not None)
    assert await rows(database) == len(went_ahead)


async def test_new_addresses_do_not_bypass_the_per_account_limit(database: Database) -> None:
    clock = Clock()
    limiter = throttle(5, 300, clock, account=10, delay=30)
    for n in range(10):
        await fail(database, limiter, "admin", f"10.0.0.{n}")
    with pytest.raises(RateLimited) as info:
        await fail(database, limiter, "admin", "10.0.1.1")  # yet another address
    assert info.value.retry_after == 30
    await fail(database, limiter, "bob", "10.0.1.1")  # other accounts are not affected

    # Slowed, not locked: one attempt per delay, from anywhere.
    clock.advance(30)
    await fail(database, limiter, "admin", "10.0.2.1")
    with pytest.raises(RateLimited):
        await fail(database, limiter, "admin", "10.0.2.2")
    clock.advance(30)
    await succeed(database, limiter, "admin", "10.0.3.1")


async def test_unlock_forgets_an_account_everywhere(database: Database) -> None:
    limiter = throttle(2, 300, Clock(), account=3, delay=600)
    for client in ("10.0.0.1", "10.0.0.1", "10.0.0.2"):
        await fail(database, limiter, "admin", client)
    await fail(database, limiter, "bob", "10.0.0.1")
    for client in ("10.0.0.1", "10.0.0.9"):
        with pytest.raises(RateLimited):
            await fail(database, limiter, "admin", client)
    async with database.session() as session:
        assert await unlock(session, "ADMIN") == 3
        await session.commit()
    await fail(database, limiter, "admin", "10.0.0.1")
    assert await rows(database) == 2  # bob's failure stays
