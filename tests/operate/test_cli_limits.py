"""``seadragon limits``: set from the shell, enforced by a running gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from fakes.ollama_server import FakeOllama
from tests.integration.test_cli import Cli
from tests.operate.test_limits import assert_limited, chat, clear_of_minute_boundary


async def test_limits_set_from_the_cli_hold(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest", "other"], tokens=3) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 1}
        gateway = await gateway_factory([backend], models={"llama3"})
        cli = Cli(gateway.settings.data_dir)

        def shell(*args: str) -> Any:
            return asyncio.to_thread(cli, "limits", *args)

        done = await shell("set", "--user", "alice", "--rpm", "1", "--model", "llama3")
        assert done.exit_code == 0 and "limits set for user alice" in done.stdout
        listing = (await shell("list")).stdout
        assert "user alice" in listing and "llama3" in listing
        bad = [
            await shell("set", "--user", "alice", "--rpm", "0"),
            await shell("set", "--user", "alice", "--period", "week", "--budget", "5"),
            await shell("set", "--rpm", "5"),
            await shell("set", "--user", "alice", "--key", "1", "--rpm", "5"),
        ]
        unknown = await shell("set", "--user", "nobody", "--rpm", "5")
        await clear_of_minute_boundary()
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await chat(http, gateway, "alice")).status_code == 200
            assert_limited(await chat(http, gateway, "alice"), "requests_per_minute")
            refused = await chat(http, gateway, "alice", model="other")
            assert refused.status_code == 403
            assert (await shell("clear", "--user", "alice")).exit_code == 0
            assert (await chat(http, gateway, "alice")).status_code == 200
        again = await shell("clear", "--user", "alice")

    for result in bad:
        assert result.exit_code == 2, result.stdout
        assert "Traceback" not in result.stdout + result.stderr
    assert "requests_per_minute" in bad[0].stderr and "budget_period" in bad[1].stderr
    assert unknown.exit_code == 1 and "nobody" in unknown.stderr
    assert again.exit_code == 1 and "no limits" in again.stderr
