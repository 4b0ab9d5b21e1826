"""Limit counts in the database every gateway shares (``limits_store=database``).

One transaction per admission, of five statements whatever the number of subjects: it
first bumps each subject's ``lock`` counter, which takes a row lock on PostgreSQL (and
the write lock on SQLite), so admissions for the same subject from any gateway run one
after the other and a limit is never overshot; then it reads the current windows and
running leases, and counts the request. Ending a request is one more transaction. A lease
whose gateway died expires after the longest a request can live, so a crash never
holds a concurrency slot for good. Old windows are removed in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from seadragon.db.engine import Database
from seadragon.db.tables import LimitCounter, LimitLease
from seadragon.limits.rules import Subject, Usage, budget_window, minute_window, refuse_if_over
from seadragon.limits.store import LimitStore

log = logging.getLogger("seadragon.limits")

PURGE_EVERY_S = 600.0
_C = cast(Table, LimitCounter.__table__)
_L = cast(Table, LimitLease.__table__)


class DatabaseLimitStore(LimitStore):
    def __init__(self, database: Database, lease_s: float) -> None:
        self.database = database
        self.lease_s = lease_s
        self._postgres = database.engine.dialect.name == "postgresql"
        self._purged = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    def _upsert(self, rows: list[dict[str, Any]]) -> Any:
        """Add each row's ``value`` to its counter (created at 0 when missing), in one statement."""
        dialect = postgresql if self._postgres else sqlite
        statement = dialect.insert(_C).values(rows)
        return statement.on_conflict_do_update(
            index_elements=["subject", "name", "window"],
            set_={"value": _C.c.value + statement.excluded.value},
        )

    async def _usage(
        self, connection: AsyncConnection, subjects: Sequence[Subject], now: float
    ) -> dict[str, Usage]:
        """Every subject's counts in the current windows: two queries whatever the number."""
        minute, _ = minute_window(now)
        windows = [
            and_(_C.c.subject == s.id, _C.c.name == name, _C.c.window == window)
            for s in subjects
            for name, window in (
                ("requests", minute),
                ("tokens", minute),
                ("budget", budget_window(now, s.rule.budget_period)[0]),
            )
        ]
        counts: dict[tuple[str, str], int] = {}
        for subject, name, value in await connection.execute(
            select(_C.c.subject, _C.c.name, _C.c.value).where(or_(*windows))
        ):
            counts[subject, name] = int(value)
        running: dict[str, int] = {}
        limited = [s.id for s in subjects if s.rule.concurrent_requests is not None]
        if limited:
            moment = datetime.fromtimestamp(now, UTC)
            for subject, count in await connection.execute(
                select(_L.c.subject, func.count())
                .where(_L.c.subject.in_(limited), _L.c.expires_at > moment)
                .group_by(_L.c.subject)
            ):
                running[subject] = int(count)
        return {
            s.id: Usage(
                requests=counts.get((s.id, "requests"), 0),
                tokens=counts.get((s.id, "tokens"), 0),
                budget=counts.get((s.id, "budget"), 0),
                running=running.get(s.id, 0),
            )
            for s in subjects
        }

    async def admit(self, subjects: Sequence[Subject], lease: str, now: float) -> None:
        ordered = sorted(subjects, key=lambda s: s.id)  # one lock order: no deadlock
        minute, _ = minute_window(now)
        expires = datetime.fromtimestamp(now, UTC) + timedelta(seconds=self.lease_s)
        async with self.database.engine.begin() as connection:
            locks = [{"subject": s.id, "name": "lock", "window": 0, "value": 1} for s in ordered]
            await connection.execute(self._upsert(locks))
            usage = await self._usage(connection, ordered, now)
            for subject in ordered:
                refuse_if_over(subject, usage[subject.id], now)
            counted = [
                {"subject": s.id, "name": "requests", "window": minute, "value": 1}
                for s in ordered
                if s.rule.requests_per_minute is not None
            ]
            if counted:
                await connection.execute(self._upsert(counted))
            leases = [
                {"subject": s.id, "request_id": lease, "expires_at": expires}
                for s in ordered
                if s.rule.concurrent_requests is not None
            ]
            if leases:
                await connection.execute(_L.insert().values(leases))
        self._purge_soon(now)

    async def finish(
        self, subjects: Sequence[Subject], lease: str, tokens: int, now: float
    ) -> None:
        minute, _ = minute_window(now)
        ordered = sorted(subjects, key=lambda s: s.id)
        held = [s.id for s in ordered if s.rule.concurrent_requests is not None]
        added: list[dict[str, Any]] = []
        for s in ordered if tokens else ():
            if s.rule.tokens_per_minute is not None:
                added.append({"subject": s.id, "name": "tokens", "window": minute, "value": tokens})
            if s.rule.token_budget is not None:
                window, _ = budget_window(now, s.rule.budget_period)
                added.append({"subject": s.id, "name": "budget", "window": window, "value": tokens})
        if not held and not added:
            return
        async with self.database.engine.begin() as connection:
            if held:
                await connection.execute(
                    delete(_L).where(_L.c.subject.in_(held), _L.c.request_id == lease)
                )
            if added:
                await connection.execute(self._upsert(added))

    def _purge_soon(self, now: float) -> None:
        if now - self._purged < PURGE_EVERY_S:
            return
        self._purged = now
        task = asyncio.create_task(self._purge(now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _purge(self, now: float) -> None:
        minute, _ = minute_window(now)
        month_ago = int(now) - 32 * 86400
        moment = datetime.fromtimestamp(now, UTC)
        try:
            async with self.database.engine.begin() as connection:
                await connection.execute(delete(_L).where(_L.c.expires_at <= moment))
                await connection.execute(
                    delete(_C).where(
                        or_(
                            and_(_C.c.name.in_(("requests", "tokens")), _C.c.window < minute - 60),
                            and_(_C.c.name == "budget", _C.c.window < month_ago),
                        )
                    )
                )
        except Exception as exc:  # housekeeping only
            log.warning("limits: removing old counters failed: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
