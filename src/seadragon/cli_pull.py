"""Showing a pull as it happens: one progress bar per layer and backend, then a summary.

The gateway relays Ollama's ``/api/pull`` lines with the ``backend`` each came from
(``seadragon.catalog.manage``): layer lines carry ``digest``, ``total`` and
``completed``; a backend that fails sends ``failed: …``; the stream ends with
``{"status": "success"}`` or ``{"error": "…"}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

FAILED = "failed: "


@dataclass
class PullOutcome:
    """What a pull did on each backend."""

    done: bool = False
    error: str | None = None
    backends: dict[str, str] = field(default_factory=dict)  # name -> last status
    failures: dict[str, str] = field(default_factory=dict)
    layers: dict[tuple[str, str], int] = field(default_factory=dict)  # (backend, digest) -> size

    @property
    def ok(self) -> bool:
        return self.done and self.error is None and not self.failures

    def pulled_on(self) -> list[str]:
        return sorted(name for name in self.backends if name not in self.failures)

    def size_of(self, backend: str) -> int:
        return sum(size for (name, _), size in self.layers.items() if name == backend)


def human_bytes(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns at GB


class PullView:
    """Feeds Ollama's progress lines into a rich ``Progress``; keeps the outcome."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.outcome = PullOutcome()
        self.progress = Progress(
            TextColumn("[bold]{task.fields[backend]}[/] {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def run(self, lines: Iterable[dict[str, Any]]) -> PullOutcome:
        with self.progress:
            for line in lines:
                self.take(line)
        return self.outcome

    def take(self, line: dict[str, Any]) -> None:
        if "error" in line:
            self.outcome.error = str(line["error"])
            return
        status = str(line.get("status", ""))
        backend = line.get("backend")
        if not isinstance(backend, str):
            self.outcome.done = self.outcome.done or status == "success"
            return
        if line.get("digest") and isinstance(line.get("total"), int):
            self._layer(backend, str(line["digest"]), line["total"], line.get("completed"))
        elif self.outcome.backends.get(backend) != status:
            self._status(backend, status)
        self.outcome.backends[backend] = status

    def _layer(self, backend: str, digest: str, total: int, completed: Any) -> None:
        key = (backend, digest)
        self.outcome.layers[key] = total
        task = self._tasks.get(key)
        if task is None:
            label = f"pulling {digest.removeprefix('sha256:')[:12]}"
            task = self.progress.add_task(label, total=total, backend=backend)
            self._tasks[key] = task
        done = completed if isinstance(completed, int) else 0
        self.progress.update(task, total=total, completed=done)

    def _status(self, backend: str, status: str) -> None:
        if status.startswith(FAILED):
            self.outcome.failures[backend] = status.removeprefix(FAILED)
            self.progress.console.print(f"[red]{backend}: {status}[/]", highlight=False)
        else:
            self.progress.console.print(f"{backend}: {status}", highlight=False)


def summary_lines(model: str, outcome: PullOutcome) -> list[str]:
    """What the pull did, one line per backend (plus the gateway's error, if any)."""
    lines = []
    for backend in outcome.pulled_on():
        if outcome.ok or outcome.backends.get(backend) in ("writing manifest", "success"):
            lines.append(f"pulled {model} on {backend} ({human_bytes(outcome.size_of(backend))})")
        else:
            lines.append(f"stopped pulling {model} on {backend}")
    for backend, why in sorted(outcome.failures.items()):
        lines.append(f"failed to pull {model} on {backend}: {why}")
    return lines
