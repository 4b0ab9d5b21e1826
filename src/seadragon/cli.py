"""The ``seadragon`` command: run the gateway; manage users, keys, limits, the database and,
through a running gateway, models and the queue.

Every command reads the same settings as the server (``SEADRAGON_*`` variables, the
config file), so ``SEADRAGON_DATABASE_URL=postgresql+asyncpg://…`` points it at
PostgreSQL. Exit codes: 0 done, 1 the operation failed, 2 bad configuration or usage.
"""

from __future__ import annotations

from typing import Annotated

import typer

from seadragon.cli_accounts import users_app
from seadragon.cli_console import database_label, fail, out, run, settings_or_exit
from seadragon.cli_help import print_version, serve_epilog
from seadragon.cli_keys import keys_app
from seadragon.cli_limits import limits_app
from seadragon.cli_models import models_app
from seadragon.cli_queue import queue_app
from seadragon.db.engine import Database, head_revision
from seadragon.errors import ConfigError

app = typer.Typer(
    name="seadragon",
    help="Seadragon: a self-hosted LLM gateway with accounts, API keys and a priority queue.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="Inspect and migrate the database.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(limits_app, name="limits")
app.add_typer(models_app, name="models")
app.add_typer(queue_app, name="queue")


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=print_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Seadragon: a self-hosted LLM gateway with accounts, API keys and a priority queue."""


# serve ------------------------------------------------------------------------------


@app.command(epilog=serve_epilog())
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the gateway (HTTP API, web UI and, by default, the workers).

    On a database without users it prints a one-time link where the first
    administrator chooses a password.
    """
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings_or_exit(**overrides)
    from seadragon import server as gateway
    from seadragon.app import create_app
    from seadragon.auth.sessions import load_secret
    from seadragon.logs import logging_config

    try:
        load_secret(settings)  # a bad secret should stop start-up, not the first login
    except ConfigError as exc:
        raise fail(exc.message, 2) from None
    gateway.serve(
        create_app(settings),
        settings,
        log_config=logging_config(settings),
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
    )


# worker -----------------------------------------------------------------------------


@app.command()
def worker(
    url: Annotated[
        str | None, typer.Option(help="Backend URL, e.g. http://127.0.0.1:11434.")
    ] = None,
    kind: Annotated[str, typer.Option(help="Backend kind: ollama or openai.")] = "ollama",
    slots: Annotated[
        int, typer.Option(help="Requests run at once (Ollama: its OLLAMA_NUM_PARALLEL).")
    ] = 1,
    name: Annotated[str | None, typer.Option(help="Backend name (default: its host).")] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="Serve only this model (repeatable).")
    ] = None,
    local: Annotated[bool, typer.Option(help="Serve the bundled local model.")] = False,
    backend: Annotated[
        list[str] | None,
        typer.Option(help="Serve this backend of the configuration, by name (repeatable)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Port of the worker's /metrics listener (0: none; default 9464)."),
    ] = None,
) -> None:
    """Take requests from the shared RabbitMQ queue and run them on a backend.

    Either describe one backend with --url (and --kind, --slots, --name, --model), or
    pick configured ones with --backend; with neither, every configured backend.
    """
    import logging.config
    from urllib.parse import urlsplit

    from seadragon.logs import logging_config
    from seadragon.worker.main import only_backends, serve_worker

    if backend and (url is not None or local):
        raise fail("--backend picks configured backends: it cannot go with --url or --local", 2)

    overrides: dict[str, object] = {"local_model": "on" if local else "off"}
    if metrics_port is not None:
        overrides["worker_metrics_port"] = metrics_port
    if url is not None:
        host = urlsplit(url).hostname or "backend"
        overrides["backends"] = [
            {"name": name or host, "url": url, "kind": kind, "slots": slots, "models": model or []}
        ]
    elif local:
        overrides["backends"] = []
        overrides["local_model_slots"] = slots
    settings = settings_or_exit(**overrides)
    if backend:
        try:
            settings = only_backends(settings, backend)
        except ConfigError as exc:
            raise fail(exc.message, 2) from None
    logging.config.dictConfig(logging_config(settings))
    try:
        serve_worker(settings)
    except ConfigError as exc:
        raise fail(exc.message, 2) from None


# db ---------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""

    async def work(database: Database) -> tuple[str | None, str | None]:
        before = await database.current_revision()
        await database.migrate()
        return before, await database.current_revision()

    settings = settings_or_exit()
    before, after = run(settings, work, migrate=False)
    where = database_label(settings)
    change = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    out.print(f"{where}: {change} revision {after}", highlight=False)


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and whether it is the newest."""

    async def work(database: Database) -> str | None:
        return await database.current_revision()

    current = run(settings_or_exit(), work, migrate=False)
    head = head_revision()
    state = "up to date" if current == head else f"needs upgrade to {head}"
    out.print(f"revision {current or '(none)'} ({state})", highlight=False)


def main() -> None:
    app()
