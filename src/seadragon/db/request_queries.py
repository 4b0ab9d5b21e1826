"""Reading the request log: filtered pages, newest first, and removal of old rows.

Pages use the row id as a cursor (``before_id``), so a page costs the same however far
back it is and rows logged meanwhile never shift it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.db.engine import Database
from seadragon.db.tables import RequestLog

MAX_PAGE = 1000
#: Rows deleted per statement, so removal never holds a long lock on a busy log.
PURGE_BATCH = 5000


@dataclass(frozen=True)
class RequestFilter:
    """Which rows to show; ``None`` means any."""

    user_id: int | None = None
    key_id: int | None = None
    model: str | None = None
    band: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        c = RequestLog
        wanted: list[ColumnElement[bool]] = []
        for column, value in (
            (c.user_id, self.user_id),
            (c.key_id, self.key_id),
            (c.model, self.model),
            (c.entry_band, self.band),
            (c.status, self.status),
            (c.request_id, self.request_id),
        ):
            if value is not None:
                wanted.append(column == value)
        if self.since is not None:
            wanted.append(c.queued_at >= self.since)
        if self.until is not None:
            wanted.append(c.queued_at < self.until)
        return wanted


async def list_requests(
    session: AsyncSession,
    where: RequestFilter | None = None,
    *,
    limit: int = 100,
    before_id: int | None = None,
    user_id: int | None = None,
    request_id: str | None = None,
) -> Sequence[RequestLog]:
    """Newest first; ``before_id`` pages backwards."""
    where = where or RequestFilter(user_id=user_id, request_id=request_id)
    query = select(RequestLog).order_by(RequestLog.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
    for condition in where.conditions():
        query = query.where(condition)
    if before_id is not None:
        query = query.where(RequestLog.id < before_id)
    result = await session.execute(query)
    return result.scalars().all()


def row_dict(row: RequestLog) -> dict[str, Any]:
    """One row as the API shows it."""
    ttft_ms = None
    if row.started_at is not None and row.first_token_at is not None:
        ttft_ms = max(0, round((row.first_token_at - row.started_at).total_seconds() * 1000))
    data: dict[str, Any] = {
        name: getattr(row, name)
        for name in (
            "id", "request_id", "user_id", "key_id", "route", "kind", "model", "backend",
            "stream", "entry_band", "dispatch_band", "status", "error_kind", "http_status",
            "queued_at", "started_at", "first_token_at", "finished_at", "wait_ms", "run_ms",
            "prompt_tokens", "completion_tokens",
        )
    }  # fmt: skip
    data["ttft_ms"] = ttft_ms
    return data


async def purge_before(database: Database, cutoff: datetime) -> int:
    """Delete rows queued before ``cutoff``, a batch at a time; how many went."""
    removed = 0
    while True:
        async with database.engine.begin() as connection:
            ids = select(RequestLog.id).where(RequestLog.queued_at < cutoff).limit(PURGE_BATCH)
            result = await connection.execute(
                delete(RequestLog).where(RequestLog.id.in_(ids.scalar_subquery()))
            )
        count = int(result.rowcount or 0)
        removed += count
        if count < PURGE_BATCH:
            return removed
