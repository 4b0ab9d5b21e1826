"""Login throttling: two limits on failed sign-ins, both counted in the database.

- **Per account and client address**: ``max_failures`` failures of one username from one
  address within ``window_s`` lock that pair out (429) until enough of them age out.
- **Per account, from any address**: once an account has ``account_max_failures``
  failures within ``account_window_s``, sign-in to it is *slowed*, not locked: one
  attempt per ``account_delay_s``, from wherever. Rotating addresses (or forging
  ``X-Forwarded-For``) buys an attacker nothing, and the owner can still get in; an
  administrator ends the slow-down at once with ``seadragon users unlock NAME``.

Failures are rows in ``login_failures``, so every gateway sharing the database counts
the same ones. Attempts on one account are counted and written one at a time (a lock
held until the attempt's row is committed), and the row is written *before* the password
is checked, so concurrent attempts see each other: of any number sent at once, at most
the limit are checked. A successful attempt deletes its pair's rows; a failed one stays
as the failure; a refused one is not counted. Rows store hashes of the username (and
address), never the names themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.db.tables import LoginFailure, utcnow
from seadragon.errors import RateLimited

TOO_MANY = "too many failed sign-in attempts; try again later"


@dataclass(frozen=True)
class ThrottleLimits:
    max_failures: int
    window_s: float
    account_max_failures: int
    account_window_s: float
    account_delay_s: float


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt under way: counted as a failure unless it succeeds."""

    row_id: int
    key: str
    account: str


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def account_key(username: str) -> str:
    return _digest("account\0" + username.strip().lower()[:256])


def pair_key(username: str, client: str) -> str:
    return _digest(f"{username.strip().lower()[:256]}\0{client}")


class LoginThrottle:
    def __init__(self, limits: ThrottleLimits, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.limits = limits
        self.window = timedelta(seconds=limits.window_s)
        self.account_window = timedelta(seconds=limits.account_window_s)
        self.account_delay = timedelta(seconds=limits.account_delay_s)
        self._clock = clock

    async def begin(self, session: AsyncSession, username: str, client: str) -> Attempt:
        """Count an attempt (committed at once); ``RateLimited`` if it may not go ahead."""
        now = self._clock()
        account = account_key(username)
        await self._serialise(session, account)
        oldest = now - max(self.window, self.account_window)
        await session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= oldest))
        key = pair_key(username, client)
        try:
            await self._check(session, key, account, now)
        except RateLimited:
            await session.commit()  # ends the transaction, and with it the lock
            raise
        row = LoginFailure(key=key, account=account, failed_at=now)
        session.add(row)
        await session.flush()
        attempt = Attempt(row.id, key, account)
        await session.commit()
        return attempt

    @staticmethod
    async def _serialise(session: AsyncSession, account: str) -> None:
        """Let one attempt per account at a time count and write, until it commits.

        PostgreSQL: a transaction-scoped advisory lock on the account. SQLite allows one
        writer at a time anyway: the DELETE that follows takes its write lock.
        """
        if session.get_bind().dialect.name == "postgresql":
            lock_id = int(account[:15], 16)  # 60 bits: fits PostgreSQL's bigint
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})

    async def _check(self, session: AsyncSession, key: str, account: str, now: datetime) -> None:
        limits = self.limits
        pair = await self._recent(
            session, LoginFailure.key == key, now - self.window, limits.max_failures
        )
        if len(pair) >= limits.max_failures:
            raise RateLimited(TOO_MANY, retry_after=_seconds(pair[-1] + self.window - now))
        counted = await self._recent(
            session,
            LoginFailure.account == account,
            now - self.account_window,
            limits.account_max_failures,
        )
        if len(counted) >= limits.account_max_failures:
            wait = counted[0] + self.account_delay - now
            if wait > timedelta(0):
                raise RateLimited(TOO_MANY, retry_after=_seconds(wait))

    @staticmethod
    async def _recent(
        session: AsyncSession, which: ColumnElement[bool], since: datetime, limit: int
    ) -> list[datetime]:
        """The newest ``limit`` attempts matching ``which`` since ``since``."""
        times = await session.scalars(
            select(LoginFailure.failed_at)
            .where(which, LoginFailure.failed_at > since)
            .order_by(LoginFailure.failed_at.desc())
            .limit(limit)
        )
        return list(times)

    async def succeeded(self, session: AsyncSession, attempt: Attempt) -> None:
        """A successful sign-in clears its username+address failures (the caller commits).

        The account's count from other addresses stays: it ages out on its own.
        """
        await session.execute(
            delete(LoginFailure).where(
                (LoginFailure.key == attempt.key) | (LoginFailure.id == attempt.row_id)
            )
        )


def _seconds(delta: timedelta) -> float:
    return max(1.0, delta.total_seconds())


async def unlock(session: AsyncSession, username: str) -> int:
    """Forget every failure of an account, from every address (the caller commits)."""
    result = await session.execute(
        delete(LoginFailure).where(LoginFailure.account == account_key(username))
    )
    return int(getattr(result, "rowcount", 0) or 0)
