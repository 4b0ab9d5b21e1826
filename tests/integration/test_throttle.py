"""Login throttling per username and client address, with a sliding window, counted in
the database (SQLite and PostgreSQL) so that every gateway sees the same failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from seadragon.auth.throttle import LoginThrottle
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


async def fail(database: Database, throttle: LoginThrottle, username: str, client: str) -> None:
    async with database.session() as session:
        await throttle.record_failure(session, username, client)
        await session.commit()


async def check(database: Database, throttle: LoginThrottle, username: str, client: str) -> None:
    async with database.session() as session:
        await throttle.check(session, username, client)


async def test_locks_out_after_max_failures_until_the_window_passes(database: Database) -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60, clock=clock)
    for _ in range(3):
        await check(database, throttle, "alice", "10.0.0.1")
        await fail(database, throttle, "alice", "10.0.0.1")
        clock.advance(1)
    with pytest.raises(RateLimited) as info:
        await check(database, throttle, "alice", "10.0.0.1")
    assert info.value.status == 429
    assert info.value.retry_after == 57  # the oldest of the three ages out first
    clock.advance(30)
    with pytest.raises(RateLimited):
        await check(database, throttle, "ALICE", "10.0.0.1")  # usernames ignore case
    clock.advance(28)
    await check(database, throttle, "alice", "10.0.0.1")


async def test_counts_are_per_username_and_client(database: Database) -> None:
    throttle = LoginThrottle(2, 60, clock=Clock())
    for _ in range(2):
        await fail(database, throttle, "alice", "10.0.0.1")
    await check(database, throttle, "alice", "10.0.0.2")
    await check(database, throttle, "bob", "10.0.0.1")
    with pytest.raises(RateLimited):
        await check(database, throttle, "alice", "10.0.0.1")


async def test_success_resets_the_count(database: Database) -> None:
    throttle = LoginThrottle(2, 60, clock=Clock())
    await fail(database, throttle, "alice", "ip")
    async with database.session() as session:
        await throttle.reset(session, "alice", "ip")
        await session.commit()
    await fail(database, throttle, "alice", "ip")
    await check(database, throttle, "alice", "ip")


async def test_gateways_sharing_a_database_share_the_count(database: Database) -> None:
    # Two gateways, each with its own throttle: an attacker alternating between them
    # gets max_failures guesses in all, not max_failures per gateway.
    clock = Clock()
    gateways = [LoginThrottle(4, 60, clock=clock) for _ in range(2)]
    for n in range(4):
        await fail(database, gateways[n % 2], "alice", "10.0.0.1")
    for throttle in gateways:
        with pytest.raises(RateLimited):
            await check(database, throttle, "alice", "10.0.0.1")


async def test_old_failures_are_deleted_and_nothing_names_the_user(database: Database) -> None:
    clock = Clock()
    throttle = LoginThrottle(5, 60, clock=clock)
    for n in range(3):
        await fail(database, throttle, f"user{n}", "10.0.0.1")
    clock.advance(61)
    await fail(database, throttle, "alice", "10.0.0.1")
    async with database.session() as session:
        rows = list(await session.scalars(select(LoginFailure)))
        assert await session.scalar(select(func.count()).select_from(LoginFailure)) == 1
    assert "alice" not in rows[0].key and len(rows[0].key) == 64
