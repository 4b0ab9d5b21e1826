"""``seadragon keys …``: API keys from the shell.

A new API key is printed alone on stdout, once, so ``KEY=$(seadragon keys create …)``
works; listings show only its prefix and last 4 characters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from seadragon.auth import accounts
from seadragon.cli_accounts import day, user_named, when
from seadragon.cli_console import err, fail, out, run, settings_or_exit
from seadragon.db import keys as key_repo
from seadragon.db import users as user_repo
from seadragon.db.engine import Database
from seadragon.errors import NotFound

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)

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
