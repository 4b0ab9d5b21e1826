"""``seadragon models …`` run as the real command against a gateway in front of fake Ollamas."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

from fakes.ollama_server import FakeOllama
from tests.api.conftest import Gateway
from tests.api.test_ollama_models import two_backends


async def seadragon(
    gateway: Gateway, *args: str, who: str = "root"
) -> subprocess.CompletedProcess[str]:
    """Run ``seadragon models ARGS`` in its own process, pointed at ``gateway``."""
    env = {
        **os.environ,
        "SEADRAGON_URL": gateway.url,
        "SEADRAGON_API_KEY": gateway.keys[who],
        "SEADRAGON_CONFIG": "",
        "COLUMNS": "200",
    }
    command = [sys.executable, "-m", "seadragon", "models", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


async def test_pull_list_ps_show_and_rm(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as one, FakeOllama(models=["llama3:latest"]) as two:
        gateway = await two_backends(gateway_factory, one, two)
        pulled = await seadragon(gateway, "pull", "phi3:mini")
        out = ok(pulled)
        assert "pulled phi3:mini on one (5.0 kB)" in out
        assert "pulled phi3:mini on two (5.0 kB)" in out
        assert "one: pulling manifest" in pulled.stderr and "two: writing manifest" in pulled.stderr
        assert "phi3:mini" in one.config.models and "phi3:mini" in two.config.models

        only = ok(await seadragon(gateway, "pull", "qwen:0.5b", "--backend", "two"))
        assert "on two" in only and "on one" not in only
        assert "qwen:0.5b" not in one.config.models

        listed = ok(await seadragon(gateway, "list"))
        rows = [line for line in listed.splitlines() if "phi3:mini" in line or "qwen" in line]
        assert len(rows) == 3 and all("Q4_0" in row for row in rows), listed

        assert "no model is loaded" in ok(await seadragon(gateway, "ps"))
        one.loaded.add("llama3:latest")
        loaded = ok(await seadragon(gateway, "ps"))
        assert "llama3:latest" in loaded and "4096" in loaded and "2099-01-01" in loaded
        listed = ok(await seadragon(gateway, "list"))
        assert [line for line in listed.splitlines() if "llama3" in line and "yes" in line]

        shown = ok(await seadragon(gateway, "show", "llama3"))
        assert "fake" in shown and "Q4_0" in shown and "4096" in shown and "tools" in shown

        removed = ok(await seadragon(gateway, "rm", "phi3:mini", "--backend", "one"))
        assert "removed phi3:mini from one" in removed
        assert "phi3:mini" not in one.config.models and "phi3:mini" in two.config.models
        assert "removed phi3:mini from two" in ok(await seadragon(gateway, "rm", "phi3:mini"))
        missing = await seadragon(gateway, "rm", "phi3:mini")
        assert missing.returncode == 1 and "not found" in missing.stderr


async def test_a_failed_pull_exits_non_zero_with_the_reason(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as one, FakeOllama(models=["llama3:latest"]) as two:
        gateway = await two_backends(gateway_factory, one, two)
        unknown = await seadragon(gateway, "pull", "missing-model")
        assert unknown.returncode == 1, unknown.stdout
        assert "file does not exist" in unknown.stderr and "Traceback" not in unknown.stderr
        assert "pulled" not in unknown.stdout

        halfway = await seadragon(gateway, "pull", "halfway-model", "--backend", "one")
        assert halfway.returncode == 1
        assert "connection reset by peer" in halfway.stderr
        assert "failed to pull halfway-model on one" in halfway.stdout
        assert not any(m.startswith(("missing", "halfway")) for m in one.config.models)

        no_such = await seadragon(gateway, "pull", "phi3", "--backend", "nope")
        assert no_such.returncode == 1 and "no backend named 'nope'" in no_such.stderr
        both = await seadragon(gateway, "pull", "phi3", "--backend", "one", "--all")
        assert both.returncode == 2

        two.__exit__(None, None, None)  # backend two is gone; one still pulls
        gone = await seadragon(gateway, "pull", "phi3")
        assert gone.returncode == 1
        assert "pulled phi3 on one" in gone.stdout
        assert "failed to pull phi3 on two" in gone.stdout
        assert "phi3:latest" in one.config.models


async def test_only_an_admin_key_manages_models(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await gateway_factory(
            [{"name": "gpu", "url": fake.url, "kind": "ollama"}], models={"llama3"}
        )
        for args in (("pull", "phi3"), ("rm", "llama3"), ("list",)):
            refused = await seadragon(gateway, *args, who="alice")
            assert refused.returncode == 1, args
            assert "403" in refused.stderr and "administrator" in refused.stderr
        assert "llama3:latest" in fake.config.models
        assert not [r for r in fake.requests if r.path in ("/api/pull", "/api/delete")]
