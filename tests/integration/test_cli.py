"""The ``seadragon`` command against a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from account_helpers import build_settings, pg_database
from seadragon.auth.passwords import verify_password
from seadragon.cli import app
from seadragon.db import users as user_repo
from seadragon.db.engine import Database, head_revision

KEY = re.compile(r"sd-[A-Za-z0-9_-]{32}")
PASSWORD = "a long enough password"
HEAD = head_revision()


class Cli:
    def __init__(self, data_dir: Path, database_url: str = "") -> None:
        self.env = {
            "SEADRAGON_DATA_DIR": str(data_dir),
            "SEADRAGON_DATABASE_URL": database_url,
            "SEADRAGON_CONFIG": "",
        }
        self.data_dir = data_dir
        self.database_url = database_url

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input, env=self.env)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def password_hash(self, name: str) -> str:
        async def read() -> str:
            database = Database(build_settings(self.data_dir, database_url=self.database_url))
            await database.start(migrate=False)
            try:
                async with database.session() as session:
                    user = await user_repo.find_user(session, name)
                    assert user is not None
                    return user.password_hash
            finally:
                await database.close()

        return asyncio.run(read())


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


@pytest.fixture
def pg_cli(tmp_path: Path) -> Iterator[Cli]:
    with pg_database() as url:  # a database of its own: `db upgrade` must start empty
        yield Cli(tmp_path / "data", url)


def test_help_lists_the_commands(cli: Cli) -> None:
    result = cli.ok("--help")
    for command in ("serve", "users", "keys", "db"):
        assert command in result.stdout
    assert "Traceback" not in result.stdout


def test_db_upgrade_on_a_fresh_sqlite_file(cli: Cli) -> None:
    assert "(none)" in cli.ok("db", "current").stdout
    upgraded = cli.ok("db", "upgrade").stdout
    assert f"upgraded from empty to revision {HEAD}" in upgraded
    assert (cli.data_dir / "seadragon.db").is_file()
    assert f"already at revision {HEAD}" in cli.ok("db", "upgrade").stdout
    assert f"revision {HEAD} (up to date)" in cli.ok("db", "current").stdout


def test_db_upgrade_brings_an_older_database_forward(cli: Cli) -> None:
    async def first_revision_with_a_user() -> None:
        database = Database(build_settings(cli.data_dir))
        await database.start(migrate=False)
        try:
            await database.migrate("0001")
            async with database.session() as session:  # the tables as 0001 made them
                await session.execute(
                    text(
                        "INSERT INTO users (name, password_hash, is_admin, disabled, created_at)"
                        " VALUES ('alice', 'x', false, false, CURRENT_TIMESTAMP)"
                    )
                )
                await session.commit()
        finally:
            await database.close()

    asyncio.run(first_revision_with_a_user())
    upgraded = cli.ok("db", "upgrade").stdout
    assert f"upgraded from 0001 to revision {HEAD}" in upgraded
    assert "alice" in cli.ok("users", "list").stdout


@pytest.mark.postgres
def test_db_upgrade_and_accounts_on_postgresql(pg_cli: Cli) -> None:
    assert "(none)" in pg_cli.ok("db", "current").stdout
    assert f"upgraded from empty to revision {HEAD}" in pg_cli.ok("db", "upgrade").stdout
    assert ":***@" in pg_cli.ok("db", "upgrade").stdout or "@" not in pg_cli.database_url
    pg_cli.ok("users", "create", "alice", "--password-stdin", input=PASSWORD + "\n")
    key = pg_cli.ok("keys", "create", "--user", "alice").stdout.strip()
    assert KEY.fullmatch(key)
    assert key not in pg_cli.ok("keys", "list").stdout


def test_users_create_reads_the_password_from_stdin(cli: Cli) -> None:
    created = cli.ok("users", "create", "alice", "--admin", "--password-stdin", input=PASSWORD)
    assert "created administrator alice" in created.stdout
    assert PASSWORD not in created.stdout + created.stderr
    assert verify_password(cli.password_hash("alice"), PASSWORD)
    listed = cli.ok("users", "list").stdout
    assert "alice" in listed and "yes" in listed


def test_users_create_prompts_hidden_with_confirmation(cli: Cli) -> None:
    result = cli.ok("users", "create", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert PASSWORD not in result.stdout
    assert verify_password(cli.password_hash("bob"), PASSWORD)
    mismatch = cli("users", "create", "carol", input=f"{PASSWORD}\nsomething else\n")
    assert mismatch.exit_code != 0


def test_passwords_are_never_taken_from_arguments(cli: Cli) -> None:
    result = cli("users", "create", "alice", "--password", PASSWORD)
    assert result.exit_code == 2
    short = cli("users", "create", "alice", "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "password must be" in short.stderr


def test_duplicate_and_missing_users_fail_cleanly(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--password-stdin", input=PASSWORD)
    again = cli("users", "create", "ALICE", "--password-stdin", input=PASSWORD)
    assert again.exit_code == 1 and "already exists" in again.stderr
    missing = cli("users", "disable", "nobody")
    assert missing.exit_code == 1 and "no user named" in missing.stderr
    assert "Traceback" not in again.stderr + missing.stderr


def test_keys_create_prints_the_key_once_and_list_shows_prefix_and_last4(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--password-stdin", input=PASSWORD)
    created = cli.ok("keys", "create", "--user", "alice", "--band", "low", "--expires", "30d")
    key = created.stdout.strip()
    assert KEY.fullmatch(key), created.stdout  # the key alone on stdout
    assert key not in created.stderr and "will not be shown again" in created.stderr
    listed = cli.ok("keys", "list", "--user", "alice").stdout
    assert key not in listed
    assert f"{key[:7]}…{key[-4:]}" in listed
    assert "low" in listed and "active" in listed

    revoked = cli.ok("keys", "revoke", "1").stdout
    assert "revoked key 1" in revoked and key not in revoked
    assert "revoked" in cli.ok("keys", "list").stdout
    assert cli("keys", "revoke", "99").exit_code == 1


def test_keys_create_validates_its_options(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--password-stdin", input=PASSWORD)
    assert cli("keys", "create", "--user", "alice", "--expires", "soon").exit_code == 2
    assert cli("keys", "create", "--user", "alice", "--band", "gold").exit_code == 1
    past = cli("keys", "create", "--user", "alice", "--expires", "2001-01-01")
    assert past.exit_code == 1 and "future" in past.stderr
    assert cli("keys", "create", "--user", "nobody").exit_code == 1
    far = cli("keys", "create", "--user", "alice", "--expires", "2999-01-31")
    assert far.exit_code == 1 and "at most 3650 days" in far.stderr
    dated = cli.ok("keys", "create", "--user", "alice", "--expires", "2030-01-31")
    assert KEY.fullmatch(dated.stdout.strip())
    assert "2030-01-31" in cli.ok("keys", "list").stdout


def test_disable_enable_and_set_password(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--password-stdin", input=PASSWORD)
    cli.ok("users", "disable", "alice")
    assert "yes" in cli.ok("users", "list").stdout.split("alice", 1)[1]
    cli.ok("users", "enable", "alice")
    cli.ok("users", "set-password", "alice", "--password-stdin", input="another password\n")
    assert verify_password(cli.password_hash("alice"), "another password")


def test_serve_refuses_bad_settings_before_starting(cli: Cli) -> None:
    result = cli("serve", "--port", "99999")
    assert result.exit_code == 2 and "port" in result.stderr
    cli.env["SEADRAGON_SECRET_KEY"] = "too-short"
    weak = cli("serve")
    assert weak.exit_code == 2 and "SEADRAGON_SECRET_KEY" in weak.stderr
    assert "Traceback" not in result.stderr + weak.stderr


def test_bad_configuration_exits_2_with_the_setting_named(cli: Cli) -> None:
    cli.env["SEADRAGON_PORT"] = "not-a-port"
    result = cli("users", "list")
    assert result.exit_code == 2
    assert "SEADRAGON_PORT" in result.stderr and "Traceback" not in result.stderr
    cli.env["SEADRAGON_PORT"] = "8000"
    cli.env["SEADRAGON_DATABASE_URL"] = "postgresql+asyncpg://u:hunter2@127.0.0.1:1/db"
    unreachable = cli("users", "list")
    assert unreachable.exit_code == 1
    assert "hunter2" not in unreachable.stderr and "Traceback" not in unreachable.stderr


def test_worker_backend_must_name_a_configured_backend(cli: Cli) -> None:
    cli.env["SEADRAGON_QUEUE"] = "rabbitmq"
    cli.env["SEADRAGON_BACKENDS"] = json.dumps(
        [{"name": "gpu1", "url": "http://gpu1:11434"}, {"name": "gpu2", "url": "http://gpu2:11434"}]
    )
    unknown = cli("worker", "--backend", "gpu1", "--backend", "gpu3")
    assert unknown.exit_code == 2
    assert "'gpu3'" in unknown.stderr and "configured: gpu1, gpu2" in unknown.stderr
    mixed = cli("worker", "--backend", "gpu1", "--url", "http://gpu1:11434")
    assert mixed.exit_code == 2 and "--backend" in mixed.stderr
    assert "Traceback" not in unknown.stderr + mixed.stderr
