"""The tracemalloc hook behind ``bench.soak --tracemalloc`` (bench/README.md, "The soak")."""

from __future__ import annotations

import asyncio
import os
import signal
import tracemalloc
from pathlib import Path

import pytest

from seadragon.diagnostics import ENV, memory_snapshots


async def test_unset_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert memory_snapshots(asyncio.get_running_loop(), "gateway") is False
    assert not tracemalloc.is_tracing()


async def test_set_a_sigusr1_writes_a_snapshot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "snaps"))
    loop = asyncio.get_running_loop()
    try:
        assert memory_snapshots(loop, "worker") is True
        kept = [bytearray(1000) for _ in range(100)]
        os.kill(os.getpid(), signal.SIGUSR1)
        async with asyncio.timeout(10):
            while not list((tmp_path / "snaps").glob("worker-*-1.tracemalloc")):
                await asyncio.sleep(0.01)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        tracemalloc.stop()
    (path,) = (tmp_path / "snaps").glob("worker-*-1.tracemalloc")
    snapshot = tracemalloc.Snapshot.load(str(path))
    here = [s for s in snapshot.statistics("filename") if s.traceback[0].filename == __file__]
    assert here and here[0].size >= 100 * 1000
    del kept
