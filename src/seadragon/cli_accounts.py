"""``seadragon users …``: user accounts from the shell.

Passwords come from a hidden prompt (with confirmation) or ``--password-stdin``, never
from arguments, where they would land in shell history and the process list.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.auth import accounts, throttle
from seadragon.cli_console import fail, out, run, settings_or_exit
from seadragon.db import users as user_repo
from seadragon.db.engine import Database
from seadragon.db.tables import User
from seadragon.errors import InvalidRequest, NotFound

MAX_BAND_HELP = "Highest band of the keys the user makes themselves (default: the API band)."

users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        return accounts.validate_password(password)
    except InvalidRequest as exc:
        raise fail(exc.message, 2) from None


async def user_named(session: AsyncSession, name: str) -> User:
    user = await user_repo.find_user(session, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "-"


# users ------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="Login name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make an administrator.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    max_band: Annotated[str | None, typer.Option(help=MAX_BAND_HELP)] = None,
) -> None:
    """Create a user (the password is prompted for, or read from stdin)."""
    settings = settings_or_exit()
    try:
        accounts.validate_user_name(name)
        if max_band is not None:
            accounts.check_band(settings, max_band)
    except InvalidRequest as exc:
        raise fail(exc.message, 2) from None
    password = read_password(password_stdin)

    async def work(database: Database) -> User:
        async with database.session() as session:
            user = await accounts.create_user(
                session, name, password, is_admin=admin, max_band=max_band
            )
            await session.commit()
            return user

    user = run(settings, work)
    role = "administrator" if user.is_admin else "user"
    out.print(f"created {role} {user.name} (id {user.id})", highlight=False)


@users_app.command("list")
def users_list(
    names: Annotated[bool, typer.Option("--names", help="Only names, one per line.")] = False,
) -> None:
    """List users."""

    async def work(database: Database) -> list[User]:
        async with database.session() as session:
            return list(await user_repo.list_users(session))

    if names:
        for user in run(settings_or_exit(), work):
            print(user.name)
        return
    settings = settings_or_exit()
    table = Table("id", "name", "admin", "disabled", "max band", "created (UTC)")
    for user in run(settings, work):
        table.add_row(
            str(user.id),
            user.name,
            "yes" if user.is_admin else "",
            "yes" if user.disabled else "",
            accounts.max_band_of(settings, user),
            when(user.created_at),
        )
    out.print(table)


def _set_disabled(name: str, disabled: bool) -> None:
    async def work(database: Database) -> None:
        async with database.session() as session:
            user = await user_named(session, name)
            await accounts.update_user(session, user, disabled=disabled)
            await session.commit()

    run(settings_or_exit(), work)
    out.print(f"{'disabled' if disabled else 'enabled'} {name}", highlight=False)


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user: sign-in and their API keys stop working."""
    _set_disabled(name, True)


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False)


@users_app.command("set-password")
def users_set_password(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Set a user's password (and sign them out everywhere)."""
    settings = settings_or_exit()
    password = read_password(password_stdin)

    async def work(database: Database) -> None:
        async with database.session() as session:
            user = await user_named(session, name)
            await accounts.update_user(session, user, password=password)
            await session.commit()

    run(settings, work)
    out.print(f"password changed for {name}", highlight=False)


@users_app.command("set")
def users_set(
    name: str,
    max_band: Annotated[str, typer.Option(help=MAX_BAND_HELP)],
) -> None:
    """Change a user's settings: the highest band of the keys they make themselves."""
    settings = settings_or_exit()
    try:
        accounts.check_band(settings, max_band)
    except InvalidRequest as exc:
        raise fail(exc.message, 2) from None

    async def work(database: Database) -> None:
        async with database.session() as session:
            user = await user_named(session, name)
            await accounts.update_user(session, user, max_band=max_band)
            await session.commit()

    run(settings, work)
    out.print(f"{name} may give their own keys bands up to {max_band}", highlight=False)


@users_app.command("unlock")
def users_unlock(name: str) -> None:
    """Forget a user's failed sign-ins, from every address: ends a lock-out or slow-down."""

    async def work(database: Database) -> int:
        async with database.session() as session:
            await user_named(session, name)
            forgotten = await throttle.unlock(session, name)
            await session.commit()
            return forgotten

    forgotten = run(settings_or_exit(), work)
    out.print(f"unlocked {name} ({forgotten} failed sign-ins forgotten)", highlight=False)
