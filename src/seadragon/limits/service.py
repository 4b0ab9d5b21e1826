"""``Limiter``: admits or refuses a job by its user's and key's limits, and settles the
counts when its request-log row arrives.

Every limit is read from the database at start and again every ``cache_ttl_s`` (the
delay of API keys, but at least ``MIN_CACHE_S``): a change made on another gateway or
from the CLI applies within it, one made through this gateway's API at once. Checking
a request's rules is then two dictionary lookups, never a query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from seadragon.db import limits as limit_repo
from seadragon.db.engine import Database
from seadragon.db.tables import Limit
from seadragon.errors import ServiceUnavailable
from seadragon.limits.rules import Period, Rule, Subject, check_model
from seadragon.limits.store import LimitStore
from seadragon.queue.base import Job

log = logging.getLogger("seadragon.limits")

MIN_CACHE_S = 1.0


def rule_of(row: Limit) -> Rule:
    models = tuple(row.allowed_models) if row.allowed_models is not None else None
    period: Period = "month" if row.budget_period == "month" else "day"
    return Rule(
        requests_per_minute=row.requests_per_minute,
        tokens_per_minute=row.tokens_per_minute,
        concurrent_requests=row.concurrent_requests,
        allowed_models=models,
        token_budget=row.token_budget,
        budget_period=period,
    )


class Limiter:
    """One per gateway, on ``app.state.limits``."""

    def __init__(
        self,
        database: Database,
        store: LimitStore,
        cache_ttl_s: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.store = store
        self.cache_ttl_s = max(cache_ttl_s, MIN_CACHE_S)
        self._clock = clock
        # Every limit set, by user id and by key id: a small table, read whole.
        self._users: dict[int, Rule] = {}
        self._keys: dict[int, Rule] = {}
        self._held: dict[str, list[tuple[str, list[Subject]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._refresher = asyncio.create_task(self._refresh(), name="seadragon-limits")

    async def reload(self) -> None:
        """Read every limit again (at start, on a timer, and after a change here)."""
        async with self.database.session() as session:
            rows = await limit_repo.list_limits(session)
        self._users = {r.user_id: rule_of(r) for r in rows if r.user_id is not None}
        self._keys = {r.key_id: rule_of(r) for r in rows if r.key_id is not None}

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.cache_ttl_s)
            try:
                await self.reload()
            except Exception as exc:  # a loop boundary: keep the last rules, try again
                log.warning("limits: reloading failed: %s", type(exc).__name__)

    def subjects(self, user_id: int | None, key_id: int | None) -> list[Subject]:
        """The limited subjects of a caller: its user and its key, when they have limits."""
        found = []
        if user_id is not None and (user := self._users.get(user_id)) is not None:
            found.append(Subject(f"u:{user_id}", "this account", user))
        if key_id is not None and (key := self._keys.get(key_id)) is not None:
            found.append(Subject(f"k:{key_id}", "this API key", key))
        return found

    async def admit(self, job: Job) -> None:
        """Count ``job`` against its limits, or raise the one it is over (403 or 429)."""
        subjects = self.subjects(job.user_id, job.key_id)
        if not subjects:
            return
        for subject in subjects:
            check_model(subject, job.model)
        lease = uuid.uuid4().hex
        try:
            await self.store.admit(subjects, lease, self._clock())
        except (SQLAlchemyError, OSError) as exc:
            log.warning("limits could not be checked: %s", type(exc).__name__)
            raise ServiceUnavailable("limits could not be checked; retry later") from None
        self._held.setdefault(job.id, []).append((lease, subjects))

    def release(self, request_id: str) -> None:
        """The queue refused a job ``admit`` let through: it ran for nobody."""
        self._settle(request_id, 0)

    def finished(self, row: dict[str, Any]) -> None:
        """A request-log observer: settle the counts of a request that ended."""
        if row["request_id"] not in self._held or row["status"] == "rejected":
            return
        tokens = (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)
        self._settle(str(row["request_id"]), tokens)

    def _settle(self, request_id: str, tokens: int) -> None:
        held = self._held.get(request_id)
        if not held:
            return
        lease, subjects = held.pop(0)
        if not held:
            del self._held[request_id]
        task = asyncio.create_task(self._finish(subjects, lease, tokens))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(self, subjects: list[Subject], lease: str, tokens: int) -> None:
        try:
            await self.store.finish(subjects, lease, tokens, self._clock())
        except Exception as exc:  # a lease left behind expires on its own
            log.warning("limits: settling a request failed: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.close()
