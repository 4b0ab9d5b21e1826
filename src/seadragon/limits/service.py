"""``Limiter``: admits or refuses a job by its user's and key's limits, and settles the
counts when its request-log row arrives.

Rules are read from the database and cached per subject for ``cache_ttl_s`` (the same
delay as API keys: a change made on another gateway applies within it; one made
through this gateway at once). A caller without limits costs one dictionary lookup.
"""

from __future__ import annotations

import asyncio
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

_MAX_CACHED = 10_000


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
        self.cache_ttl_s = cache_ttl_s
        self._clock = clock
        self._rules: dict[tuple[int | None, int | None], tuple[list[Subject], float]] = {}
        self._held: dict[str, list[tuple[str, list[Subject]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def subjects(self, user_id: int | None, key_id: int | None) -> list[Subject]:
        """The limited subjects of a caller: its user and its key, when they have limits."""
        if user_id is None and key_id is None:
            return []
        mono = time.monotonic()
        cached = self._rules.get((user_id, key_id))
        if cached is not None and cached[1] > mono:
            return cached[0]
        async with self.database.session() as session:
            user, key = await limit_repo.limits_for(session, user_id, key_id)
        found = []
        if user is not None:
            found.append(Subject(f"u:{user_id}", "this account", rule_of(user)))
        if key is not None:
            found.append(Subject(f"k:{key_id}", "this API key", rule_of(key)))
        if len(self._rules) >= _MAX_CACHED:
            self._rules.clear()
        if self.cache_ttl_s > 0:
            self._rules[user_id, key_id] = (found, mono + self.cache_ttl_s)
        return found

    def forget(self) -> None:
        """Limits changed through this gateway: read them again."""
        self._rules.clear()

    async def admit(self, job: Job) -> None:
        """Count ``job`` against its limits, or raise the one it is over (403 or 429)."""
        try:
            subjects = await self.subjects(job.user_id, job.key_id)
            if not subjects:
                return
            for subject in subjects:
                check_model(subject, job.model)
            lease = uuid.uuid4().hex
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
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.close()
