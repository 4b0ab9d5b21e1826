"""Memory snapshots on demand, for finding what a long-running process keeps.

With ``SEADRAGON_TRACEMALLOC_DIR`` set, ``seadragon serve`` and ``seadragon worker`` trace
allocations (``tracemalloc``, 16 frames) and write a snapshot to that directory each time
they get ``SIGUSR1``: ``<name>-<pid>-<n>.tracemalloc``. Compare two with
``tracemalloc.Snapshot.load(b).compare_to(tracemalloc.Snapshot.load(a), "traceback")``
(bench/README.md, "The soak"). Unset, it does nothing and costs nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import tracemalloc
from pathlib import Path

ENV = "SEADRAGON_TRACEMALLOC_DIR"
FRAMES = 16

log = logging.getLogger(__name__)


def memory_snapshots(loop: asyncio.AbstractEventLoop, name: str) -> bool:
    """Trace allocations and dump a snapshot on SIGUSR1, if ``ENV`` names a directory."""
    folder = os.environ.get(ENV)
    if not folder:
        return False
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(FRAMES)
    numbers = itertools.count(1)

    def dump() -> None:
        path = directory / f"{name}-{os.getpid()}-{next(numbers)}.tracemalloc"
        tracemalloc.take_snapshot().dump(str(path))
        log.warning("wrote a tracemalloc snapshot to %s", path)

    try:
        loop.add_signal_handler(signal.SIGUSR1, dump)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
        log.warning("%s is set, but signals cannot reach this event loop", ENV)
        tracemalloc.stop()
        return False
    log.warning("tracing allocations (%s): SIGUSR1 writes a snapshot", ENV)
    return True
