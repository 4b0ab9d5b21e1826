"""What the request log remembers of one request while it runs (``request_log.py`` writes it).

A ``Trace`` is filled in as the request moves through the queue and becomes one row of
``request_log`` when it ends; ``Trace.finish`` makes sure that happens once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from seadragon.api.request_ids import public_id
from seadragon.errors import QueueTimeout, RequestCancelled, RequestCleared, SeadragonError


class TracedJob(Protocol):
    """The parts of a queued job the request log keeps."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def band(self) -> str: ...
    @property
    def user_id(self) -> int | None: ...
    @property
    def key_id(self) -> int | None: ...


class RowSink(Protocol):
    def log(self, row: dict[str, Any]) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


def status_of(error: SeadragonError | None) -> str:
    """The request log's ``status`` for a request that ended with ``error`` (None: ok)."""
    if error is None:
        return "ok"
    if isinstance(error, RequestCancelled):
        return "cancelled"
    if isinstance(error, RequestCleared):
        return "cleared"
    if isinstance(error, QueueTimeout):
        return "timeout"
    return "error"


@dataclass
class Trace:
    """One request's timestamps, backend, dispatch band and token counts."""

    job: TracedJob
    stream: bool
    queued_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    first_token_at: datetime | None = None
    backend: str | None = None
    dispatch_band: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finished: bool = False

    def started(self, backend: str, band: str) -> None:
        """A backend took the request (again, after an attempt lost midway)."""
        self.started_at = _now()
        self.backend = backend
        self.dispatch_band = band

    def restarted(self) -> None:
        """A later attempt replaces one lost midway: its output counts, not the first's."""
        self.first_token_at = None
        self.completion_tokens = None

    def output(self, data: dict[str, Any]) -> None:
        """A chunk arrived: the first token's time, or the usage it reports."""
        usage = data.get("usage")
        if usage:
            self.prompt_tokens = usage.get("prompt_tokens")
            self.completion_tokens = usage.get("completion_tokens")
        elif self.first_token_at is None:
            self.first_token_at = _now()

    def row(
        self, error: SeadragonError | None, http_status: int, *, rejected: bool = False
    ) -> dict[str, Any]:
        return {
            "request_id": public_id(self.job.id),
            "user_id": self.job.user_id,
            "key_id": self.job.key_id,
            "kind": self.job.kind,
            "model": self.job.model,
            "backend": self.backend,
            "stream": self.stream,
            "entry_band": self.job.band,
            "dispatch_band": self.dispatch_band,
            "status": "rejected" if rejected else status_of(error),
            "error_kind": type(error).__name__ if error else None,
            "http_status": http_status,
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "first_token_at": self.first_token_at,
            "finished_at": _now(),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    def finish(self, sink: RowSink, error: SeadragonError | None, http_status: int) -> None:
        """Write the row once; later calls do nothing."""
        if self.finished:
            return
        self.finished = True
        sink.log(self.row(error, http_status))
