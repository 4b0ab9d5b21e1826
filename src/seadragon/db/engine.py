"""The database handle: one async engine, sessions, and in-process Alembic migrations.

SQLite (the embedded default) runs in WAL mode with foreign keys on; PostgreSQL via
asyncpg. ``start`` brings the schema to the newest revision, so a fresh file just works;
on PostgreSQL an advisory lock keeps several gateways starting at once from racing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from seadragon.config import Settings
from seadragon.errors import ConfigError
from seadragon.files import private_dir, private_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Arbitrary but fixed: the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK_ID = 0x5EAD_0001


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations; no alembic.ini involved."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Writers from the request log and the API share the file; wait instead of failing.
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


class Database:
    """Owns the engine; ``session()`` hands out short-lived ``AsyncSession``s."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Database.start() has not been called")
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.url).get_backend_name() == "sqlite"

    async def start(self, *, migrate: bool = True) -> None:
        """Create the engine (and the SQLite directory); then migrate unless told not to."""
        try:
            url = make_url(self.url)
        except Exception:  # the URL is user input; do not echo it (it may hold a password)
            raise ConfigError("database_url (SEADRAGON_DATABASE_URL): not a valid URL") from None
        if url.get_backend_name() == "sqlite":
            private_dir(self.settings.data_dir)
            if url.database and url.database != ":memory:":
                # SQLite gives its -wal and -shm files the database file's mode.
                path = Path(url.database)
                private_dir(path.parent)
                for existing in (
                    path.with_name(path.name + "-wal"),
                    path.with_name(path.name + "-shm"),
                ):
                    if existing.exists():
                        private_file(existing)
                private_file(path)
        # hide_parameters: a database error's message must never carry bound values
        # (password hashes, key digests) into a log.
        engine = create_async_engine(url, pool_pre_ping=not self.is_sqlite, hide_parameters=True)
        if url.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
            # aiosqlite logs every statement with its bound values at DEBUG.
            chatty = logging.getLogger("aiosqlite")
            chatty.setLevel(max(logging.INFO, chatty.level))
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        if migrate:
            await self.migrate()

    async def migrate(self, revision: str = "head") -> None:
        """Run ``alembic upgrade`` to ``revision`` on this engine."""
        async with self.engine.begin() as connection:
            await self._lock_for_migration(connection)
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))

    async def current_revision(self) -> str | None:
        """The schema revision the database is at (None: never migrated)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def _lock_for_migration(self, connection: AsyncConnection) -> None:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
            )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for one unit of work; callers commit what they change."""
        if self._sessions is None:
            raise RuntimeError("Database.start() has not been called")
        async with self._sessions() as session:
            yield session

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._sessions = None
