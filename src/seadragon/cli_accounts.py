"""``seadragon users …`` and ``seadragon keys …``: account management from the shell.

Passwords come from a hidden prompt (with confirmation) or ``--password-stdin``, never
from arguments, where they would land in shell history and the process list. A new API
key is printed alone on stdout, once, so ``KEY=$(seadragon keys create …)`` works.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.auth import accounts
from seadragon.cli_console import err, fail, out, run, settings_or_exit
from seadragon.db import keys as key_repo
from seadragon.db import users as user_repo
from seadragon.db.engine import Database
from seadragon.db.tables import User
from seadragon.errors import InvalidRequest, NotFound

users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


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
) -> None:
    """Create a user (the password is prompted for, or read from stdin)."""
    settings = settings_or_exit()
    try:
        accounts.validate_user_name(name)
    except InvalidRequest as exc:
        raise fail(exc.message, 2) from None
    password = read_password(password_stdin)

    async def work(database: Database) -> User:
        async with database.session() as session:
            user = await accounts.create_user(session, name, password, is_admin=admin)
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
    table = Table("id", "name", "admin", "disabled", "created (UTC)")
    for user in run(settings_or_exit(), work):
        table.add_row(
            str(user.id),
            user.name,
            "yes" if user.is_admin else "",
            "yes" if user.disabled else "",
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


# keys -------------------------------------------------------------------------------

_RELATIVE = re.compile(r"(\d{1,5})([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(value: str, now: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``2w``, or an ISO date/time (UTC unless it names a zone)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.fullmatch(value.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now + timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"--expires: expected 30d, 12h, 2w or an ISO date, got {value!r}", 2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="Owner's login name.")],
    band: Annotated[str | None, typer.Option(help="Priority band (default: the API band).")] = None,
    expires: Annotated[
        str | None, typer.Option(help="Expiry: 30d, 12h, 2w or an ISO date.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "cli",
) -> None:
    """Create an API key and print it. It is shown this once and cannot be shown again."""
    settings = settings_or_exit()
    expires_at = parse_expiry(expires) if expires else None

    async def work(database: Database) -> str:
        async with database.session() as session:
            owner = await user_named(session, user)
            row, new = await accounts.issue_key(
                session, settings, owner, name=name, band=band, expires_at=expires_at
            )
            await session.commit()
            err.print(
                f"key {row.id} for {owner.name}, band {row.band}, expires "
                f"{when(row.expires_at)}. Store it now: it will not be shown again.",
                highlight=False,
            )
            return new.plaintext

    # Plain print: the key alone on stdout, so `KEY=$(seadragon keys create …)` works.
    print(run(settings, work))


@keys_app.command("list")
def keys_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
) -> None:
    """List API keys (only their prefix and last four characters)."""

    async def work(database: Database) -> list[tuple[Any, str]]:
        async with database.session() as session:
            owner = await user_named(session, user) if user else None
            names = {u.id: u.name for u in await user_repo.list_users(session)}
            rows = await key_repo.list_keys(session, owner.id if owner else None)
            return [(k, names.get(k.user_id, "?")) for k in rows]

    table = Table("id", "user", "name")
    # The key is what people match against; never let a narrow terminal wrap or cut it.
    table.add_column("key", no_wrap=True, min_width=13)
    for heading in ("band", "expires", "last used", "state"):
        table.add_column(heading, no_wrap=True)
    now = datetime.now(UTC)
    for key, owner in run(settings_or_exit(), work):
        state = "revoked" if key.revoked_at else "active"
        if not key.revoked_at and key.expires_at and key.expires_at <= now:
            state = "expired"
        table.add_row(
            str(key.id), owner, key.name, key.display, key.band,
            day(key.expires_at), day(key.last_used_at), state,
        )  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key (running gateways notice within key_cache_ttl_s)."""

    async def work(database: Database) -> str:
        async with database.session() as session:
            key = await key_repo.get_key(session, key_id)
            if key is None:
                raise NotFound(f"no API key with id {key_id}")
            await key_repo.revoke_key(session, key, datetime.now(UTC))
            await session.commit()
            return key.display

    display = run(settings_or_exit(), work)
    out.print(f"revoked key {key_id} ({display})", highlight=False)
