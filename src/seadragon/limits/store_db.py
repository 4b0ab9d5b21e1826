"""Limit counts in the database every gateway shares (``limits_store=database``).

One transaction per admission: it first bumps the subject's ``lock`` counter, which
takes a row lock on PostgreSQL (and the write lock on SQLite), so admissions for the
same subject from any gateway run one after the other and a limit is never overshot;
then it reads the current windows and running leases, and counts the request. A lease
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

    def _upsert(self, subject: str, name: str, window: int, amount: int) -> Any:
        dialect = postgresql if self._postgres else sqlite
        statement = dialect.insert(_C).values(
            subject=subject, name=name, window=window, value=amount
        )
        return statement.on_conflict_do_update(
            index_elements=["subject", "name", "window"],
            set_={"value": _C.c.value + statement.excluded.value},
        )

    async def _usage(self, connection: AsyncConnection, subject: Subject, now: float) -> Usage:
        minute, _ = minute_window(now)
        budget, _ = budget_window(now, subject.rule.budget_period)
        wanted = or_(
            and_(_C.c.name == "requests", _C.c.window == minute),
            and_(_C.c.name == "tokens", _C.c.window == minute),
            and_(_C.c.name == "budget", _C.c.window == budget),
        )
        rows = await connection.execute(
            select(_C.c.name, _C.c.value).where(_C.c.subject == subject.id, wanted)
        )
        values = {name: int(value) for name, value in rows.all()}
        running = 0
        if subject.rule.concurrent_requests is not None:
            moment = datetime.fromtimestamp(now, UTC)
            await connection.execute(
                delete(_L).where(_L.c.subject == subject.id, _L.c.expires_at <= moment)
            )
            running = int(
                await connection.scalar(
                    select(func.count()).select_from(_L).where(_L.c.subject == subject.id)
                )
                or 0
            )
        return Usage(
            requests=values.get("requests", 0),
            tokens=values.get("tokens", 0),
            budget=values.get("budget", 0),
            running=running,
        )

    async def admit(self, subjects: Sequence[Subject], lease: str, now: float) -> None:
        ordered = sorted(subjects, key=lambda s: s.id)  # one lock order: no deadlock
        minute, _ = minute_window(now)
        expires = datetime.fromtimestamp(now, UTC) + timedelta(seconds=self.lease_s)
        async with self.database.engine.begin() as connection:
            for subject in ordered:
                await connection.execute(self._upsert(subject.id, "lock", 0, 1))
            for subject in ordered:
                refuse_if_over(subject, await self._usage(connection, subject, now), now)
            for subject in ordered:
                if subject.rule.requests_per_minute is not None:
                    await connection.execute(self._upsert(subject.id, "requests", minute, 1))
                if subject.rule.concurrent_requests is not None:
                    await connection.execute(
                        _L.insert().values(subject=subject.id, request_id=lease, expires_at=expires)
                    )
        self._purge_soon(now)

    async def finish(
        self, subjects: Sequence[Subject], lease: str, tokens: int, now: float
    ) -> None:
        minute, _ = minute_window(now)
        async with self.database.engine.begin() as connection:
            for subject in sorted(subjects, key=lambda s: s.id):
                if subject.rule.concurrent_requests is not None:
                    await connection.execute(
                        delete(_L).where(_L.c.subject == subject.id, _L.c.request_id == lease)
                    )
                if tokens and subject.rule.tokens_per_minute is not None:
                    await connection.execute(self._upsert(subject.id, "tokens", minute, tokens))
                if tokens and subject.rule.token_budget is not None:
                    budget, _ = budget_window(now, subject.rule.budget_period)
                    await connection.execute(self._upsert(subject.id, "budget", budget, tokens))

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
        try:
            async with self.database.engine.begin() as connection:
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
