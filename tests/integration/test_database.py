"""The database layer on SQLite and PostgreSQL: migrations match the models, SQLite
pragmas, aware timestamps, and the batched request log."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from seadragon.auth.sessions import load_secret
from seadragon.config import Settings
from seadragon.db.engine import Database, head_revision
from seadragon.db.request_log import BATCH_ROWS, RequestLogWriter
from seadragon.db.request_queries import list_requests
from seadragon.db.tables import Base, RequestLog, User


def row(request_id: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "request_id": request_id,
        "user_id": 1,
        "key_id": 2,
        "kind": "chat",
        "model": "smollm2",
        "entry_band": "high",
        "status": "ok",
        "queued_at": datetime.now(UTC),
        "stream": True,
        "prompt_tokens": 3,
        "completion_tokens": 5,
    }
    values.update(overrides)
    return values


async def count_rows(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(select(func.count(RequestLog.id)))).scalar_one())


async def test_migrations_create_exactly_the_models(database: Database) -> None:
    assert await database.current_revision() == head_revision()
    async with database.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    assert diff == []
    await database.migrate()  # idempotent


async def test_timestamps_come_back_aware_utc(database: Database) -> None:
    async with database.session() as session:
        session.add(User(name="alice", password_hash="x"))
        await session.commit()
    async with database.session() as session:
        user = (await session.execute(select(User))).scalars().one()
    assert user.created_at.tzinfo is not None
    assert abs(user.created_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    database = Database(settings)
    await database.start()  # also creates the data directory
    try:
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await database.close()
    with sqlite3.connect(settings.data_dir / "seadragon.db") as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_request_log_batches_in_the_background_and_flushes_on_close(
    database: Database,
) -> None:
    writer = RequestLogWriter(database)
    await writer.start()
    writer.log(row("r1", started_at=1_700_000_000_000_000, model="m" * 400))
    async with asyncio.timeout(5):
        while await count_rows(database) < 1:
            await asyncio.sleep(0.02)
    for n in range(BATCH_ROWS + 5):
        writer.log(row(f"bulk{n}"))
    writer.log(row("last", status="cancelled", error_kind="RequestCancelled", http_status=499))
    await writer.close()
    assert await count_rows(database) == BATCH_ROWS + 7

    async with database.session() as session:
        first = (await list_requests(session, request_id="r1"))[0]
        newest = (await list_requests(session, limit=1))[0]
    assert first.started_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert len(first.model) == 255 and first.stream is True and first.prompt_tokens == 3
    assert newest.request_id == "last" and newest.status == "cancelled"


async def test_request_log_never_raises_and_keeps_row_contents_out_of_logs(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(make_settings())
    await database.start(migrate=False)  # no tables: every insert fails
    writer = RequestLogWriter(database)
    await writer.start()
    writer.log({"request_id": "incomplete"})  # skipped, not raised
    writer.log(row("secret-request-id", model="secret-model-name"))
    await writer.close()
    await database.close()
    assert writer.dropped == 1
    attempts = [r.getMessage() for r in caplog.records if "inserting 1 rows failed" in r.message]
    assert len(attempts) == 2  # the first try and one retry
    assert "secret-request-id" not in caplog.text and "secret-model-name" not in caplog.text


async def test_the_data_dir_and_sqlite_files_are_private(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    old_umask = os.umask(0o022)  # the usual umask would make both world-readable
    try:
        database = Database(settings)
        await database.start()
        async with database.session() as session:
            session.add(User(name="alice", password_hash="x"))
            await session.commit()
        load_secret(settings)
        files = sorted(settings.data_dir.iterdir())
        assert {f.name for f in files} >= {"seadragon.db", "seadragon.db-wal", "secret_key"}
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}  # the WAL goes at close
        await database.close()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
    assert modes == dict.fromkeys(modes, 0o600)


async def test_an_existing_world_readable_database_file_is_made_private(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    database = Database(settings)
    await database.start()
    await database.close()
    path = settings.data_dir / "seadragon.db"
    path.chmod(0o644)
    database = Database(settings)
    await database.start()
    await database.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
