"""The bundled model's server lives and dies with the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from services import require_local_model

pytestmark = pytest.mark.local_model

STARTER = """
import asyncio, sys
from seadragon.backends.local import LocalModel

async def main():
    local = LocalModel()
    await local.start(0)  # any free port
    print(local._proc.pid, local.config.url, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is as good as gone
        return stat.read().split()[2] != "Z"


def test_a_killed_gateway_leaves_no_model_server_behind() -> None:
    require_local_model()
    parent = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid_text, url = parent.stdout.readline().split()
        child = int(pid_text)
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert alive(child)
        parent.send_signal(signal.SIGKILL)  # no chance to clean up
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
