"""Removing request-log rows older than ``request_log_retention_days``, in the background.

Every gateway runs it (deleting what another already deleted costs nothing); it runs at
start and then every ``RETENTION_EVERY_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from seadragon.db.engine import Database
from seadragon.db.request_queries import purge_before

log = logging.getLogger("seadragon.db.retention")

RETENTION_EVERY_S = 3600.0


class RequestLogRetention:
    """Owned by the app lifespan; does nothing when retention is 0 (keep forever)."""

    def __init__(self, database: Database, days: int, every_s: float = RETENTION_EVERY_S) -> None:
        self.database = database
        self.days = days
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.days > 0:
            self._task = asyncio.create_task(self._run(), name="seadragon-retention")

    async def run_once(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=self.days)
        removed = await purge_before(self.database, cutoff)
        if removed:
            log.info("request log: removed %d rows older than %d days", removed, self.days)
        return removed

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # a loop boundary: try again next time
                log.warning("request log retention failed: %s", type(exc).__name__)
            await asyncio.sleep(self.every_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
