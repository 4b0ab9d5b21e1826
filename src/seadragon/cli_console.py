"""Shared plumbing for the ``seadragon`` commands: settings, the database, clean failures.

A command never shows a traceback: bad configuration exits 2 with the message naming the
setting, a failed operation exits 1 with its message, and a database that cannot be
reached is named with its password hidden.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from seadragon.config import Settings, load_settings
from seadragon.db.engine import Database
from seadragon.errors import ConfigError, SeadragonError

T = TypeVar("T")

# soft_wrap: messages stay on one line, so scripts can grep them; tables still fit the width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise fail(exc.message, 2) from None


def run(settings: Settings, work: Callable[[Database], Awaitable[T]], migrate: bool = True) -> T:
    """Run ``work`` against the configured database, turning failures into clean exits."""

    async def main() -> T:
        async with open_database(settings, migrate=migrate) as database:
            return await work(database)

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        raise fail(exc.message, 2) from None
    except SeadragonError as exc:
        raise fail(exc.message) from None
    except (OSError, SQLAlchemyError) as exc:
        raise fail(f"database {database_label(settings)}: {type(exc).__name__}") from None


@asynccontextmanager
async def open_database(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Database]:
    database = Database(settings)
    try:
        await database.start(migrate=migrate)
        yield database
    finally:
        await database.close()


def database_label(settings: Settings) -> str:
    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)
