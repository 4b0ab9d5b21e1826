"""``seadragon limits …``: limits per user or per key from the shell.

``set`` replaces the subject's limits whole, as the API's ``PUT`` does: a figure not
given is no limit. Values are checked like the API's (out of range: exit 2). Running
gateways apply a change within ``key_cache_ttl_s``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.cli_accounts import user_named
from seadragon.cli_console import fail, out, run, settings_or_exit
from seadragon.db import keys as key_repo
from seadragon.db import limits as limit_repo
from seadragon.db import users as user_repo
from seadragon.db.engine import Database
from seadragon.errors import NotFound
from seadragon.limits.spec import LimitSpec

limits_app = typer.Typer(help="Set limits per user or per API key.", no_args_is_help=True)

UserOpt = Annotated[str | None, typer.Option("--user", help="A user, by name.")]
KeyOpt = Annotated[int | None, typer.Option("--key", help="An API key, by id.")]


def _one_subject(user: str | None, key: int | None) -> None:
    if (user is None) == (key is None):
        raise fail("name exactly one of --user NAME or --key ID", 2)


async def _who(session: AsyncSession, user: str | None, key: int | None) -> dict[str, int]:
    if user is not None:
        return {"user_id": (await user_named(session, user)).id}
    assert key is not None
    if await key_repo.get_key(session, key) is None:
        raise NotFound(f"no API key with id {key}")
    return {"key_id": key}


@limits_app.command("set")
def limits_set(
    user: UserOpt = None,
    key: KeyOpt = None,
    rpm: Annotated[int | None, typer.Option("--rpm", help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option("--tpm", help="Tokens per minute.")] = None,
    concurrent: Annotated[
        int | None, typer.Option("--concurrent", help="Requests queued or running at once.")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="An allowed model (repeatable).")
    ] = None,
    budget: Annotated[int | None, typer.Option("--budget", help="Tokens per period.")] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="The budget's period: day or month.")
    ] = None,
) -> None:
    """Set (replace) the limits of a user or a key."""
    _one_subject(user, key)
    values: dict[str, Any] = {
        "requests_per_minute": rpm,
        "tokens_per_minute": tpm,
        "concurrent_requests": concurrent,
        "allowed_models": model,
        "token_budget": budget,
        "budget_period": period,
    }
    try:
        spec = LimitSpec.model_validate(values)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "limits"
        raise fail(f"{where}: {problem['msg']}", 2) from None

    async def work(database: Database) -> None:
        async with database.session() as session:
            who = await _who(session, user, key)
            await limit_repo.set_limit(session, spec.values(), **who)
            await session.commit()

    run(settings_or_exit(), work)
    out.print(f"limits set for {_label(user, key)}", highlight=False)


@limits_app.command("clear")
def limits_clear(user: UserOpt = None, key: KeyOpt = None) -> None:
    """Remove the limits of a user or a key."""
    _one_subject(user, key)

    async def work(database: Database) -> bool:
        async with database.session() as session:
            removed = await limit_repo.delete_limit(session, **await _who(session, user, key))
            await session.commit()
            return removed

    if not run(settings_or_exit(), work):
        raise fail(f"no limits set for {_label(user, key)}")
    out.print(f"limits removed for {_label(user, key)}", highlight=False)


@limits_app.command("list")
def limits_list() -> None:
    """List every limit set."""

    async def work(database: Database) -> list[tuple[str, Any]]:
        async with database.session() as session:
            names = {u.id: u.name for u in await user_repo.list_users(session)}
            rows = await limit_repo.list_limits(session)
            return [
                (f"user {names.get(r.user_id, r.user_id)}" if r.user_id else f"key {r.key_id}", r)
                for r in rows
            ]

    table = Table("who", "rpm", "tpm", "concurrent", "models", "budget")
    for who, row in run(settings_or_exit(), work):
        budget = f"{row.token_budget}/{row.budget_period}" if row.token_budget else "-"
        models = ", ".join(row.allowed_models) if row.allowed_models is not None else "any"
        table.add_row(
            who, _n(row.requests_per_minute), _n(row.tokens_per_minute),
            _n(row.concurrent_requests), models, budget,
        )  # fmt: skip
    out.print(table)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _label(user: str | None, key: int | None) -> str:
    return f"user {user}" if user is not None else f"key {key}"
