"""Request-log retention: rows older than the setting go, in the background and in batches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from seadragon.db import request_queries
from seadragon.db.engine import Database
from seadragon.db.request_log import RequestLogWriter
from seadragon.db.retention import RequestLogRetention
from seadragon.db.tables import RequestLog


def row(request_id: str, age: timedelta) -> dict[str, object]:
    return {
        "request_id": request_id,
        "kind": "chat",
        "model": "llama3",
        "entry_band": "high",
        "status": "ok",
        "queued_at": datetime.now(UTC) - age,
    }


async def request_ids(database: Database) -> set[str]:
    async with database.session() as session:
        return set((await session.scalars(select(RequestLog.request_id))).all())


async def test_old_rows_are_removed_in_the_background(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_queries, "PURGE_BATCH", 3)  # several batches
    writer = RequestLogWriter(database)
    for i in range(7):
        writer.log(row(f"old-{i}", timedelta(days=31, hours=i)))
    writer.log(row("recent", timedelta(days=29)))
    writer.log(row("now", timedelta(0)))
    await writer.flush()
    assert len(await request_ids(database)) == 9

    retention = RequestLogRetention(database, days=30, every_s=3600)
    await retention.start()  # it runs once at start, then hourly
    try:
        async with asyncio.timeout(10):
            while len(await request_ids(database)) > 2:
                await asyncio.sleep(0.05)
    finally:
        await retention.close()
    assert await request_ids(database) == {"recent", "now"}
    assert await RequestLogRetention(database, days=30).run_once() == 0


async def test_zero_days_keeps_everything(database: Database) -> None:
    writer = RequestLogWriter(database)
    writer.log(row("ancient", timedelta(days=3650)))
    await writer.flush()
    retention = RequestLogRetention(database, days=0)
    await retention.start()
    await retention.close()
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(RequestLog)) == 1
