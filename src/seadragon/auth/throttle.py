"""Login throttling: too many failures for one username from one client address → 429.

Failures are rows in the database (``login_failures``), so every gateway sharing it
counts the same failures: adding gateways does not multiply an attacker's guesses. The
window slides: a username+address is locked while ``max_failures`` of its failures are
younger than ``window_s``, and ``retry_after`` is when the newest-but-``max_failures``
one ages out. Rows older than the window are deleted as new failures arrive.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.db.tables import LoginFailure, utcnow
from seadragon.errors import RateLimited


class LoginThrottle:
    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)
        self._clock = clock

    @staticmethod
    def _key(username: str, client: str) -> str:
        who = f"{username.strip().lower()[:256]}\0{client}"
        return hashlib.sha256(who.encode("utf-8", "surrogatepass")).hexdigest()

    async def check(self, session: AsyncSession, username: str, client: str) -> None:
        """Raise ``RateLimited`` if this username+client is locked out right now."""
        now = self._clock()
        recent = await session.scalars(
            select(LoginFailure.failed_at)
            .where(
                LoginFailure.key == self._key(username, client),
                LoginFailure.failed_at > now - self.window,
            )
            .order_by(LoginFailure.failed_at.desc())
            .limit(self.max_failures)
        )
        times = list(recent)
        if len(times) >= self.max_failures:
            retry_after = (times[-1] + self.window - now).total_seconds()
            raise RateLimited(
                "too many failed sign-in attempts; try again later",
                retry_after=max(1.0, retry_after),
            )

    async def record_failure(self, session: AsyncSession, username: str, client: str) -> None:
        """Count a failure (the caller commits), and forget those older than the window."""
        now = self._clock()
        await session.execute(
            delete(LoginFailure).where(LoginFailure.failed_at <= now - self.window)
        )
        session.add(LoginFailure(key=self._key(username, client), failed_at=now))

    async def reset(self, session: AsyncSession, username: str, client: str) -> None:
        """A successful sign-in clears its username+client's failures (the caller commits)."""
        await session.execute(
            delete(LoginFailure).where(LoginFailure.key == self._key(username, client))
        )
