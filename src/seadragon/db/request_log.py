"""The request log: rows buffered in memory and batch-inserted in the background.

``RequestLogWriter.log(row)`` never waits for the database. A background task inserts
the buffer every ``FLUSH_INTERVAL_S`` or as soon as ``BATCH_ROWS`` rows are waiting; a
failed insert is logged (without row contents) and retried once, then the batch is
dropped so a broken database cannot grow the gateway's memory. ``close`` flushes.

Row keys (the ``request_log`` columns; anything else is ignored)::

    request_id        str, required       the X-Request-Id
    kind              str, required       chat | completion | embedding
    model             str, required
    entry_band        str, required       band the request entered the queue in
    status            str, required       ok | cancelled | cleared | rejected | error | timeout
    queued_at         datetime, required  when it entered the queue (or was refused)
    user_id, key_id   int | None
    backend           str | None          backend that served it
    stream            bool                default False
    dispatch_band     str | None          band it was taken from (after aging)
    error_kind        str | None          error class name, e.g. "QueueTimeout"
    http_status       int | None
    started_at, first_token_at, finished_at               datetime | None
    prompt_tokens, completion_tokens                      int | None
    route             str | None          default: the route of the HTTP request being served

``wait_ms`` (queued → started) and ``run_ms`` (started → finished) are derived here.
Timestamps are aware datetimes or integer epoch microseconds (the queue's ``now_us``).

Observers (metrics, the structured log line) see every normalised row as it is logged,
so they always agree with the request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, insert

from seadragon.db.engine import Database
from seadragon.db.tables import RequestLog

log = logging.getLogger("seadragon.db.request_log")

FLUSH_INTERVAL_S = 0.5
BATCH_ROWS = 200
MAX_BUFFERED_ROWS = 20_000
COLUMNS = tuple(c.name for c in RequestLog.__table__.columns if c.name != "id")
_DERIVED = ("wait_ms", "run_ms")
#: The ASGI scope of the HTTP request being served (set by the API's middleware): its
#: matched route names the row's ``route``.
CURRENT_SCOPE: ContextVar[MutableMapping[str, Any] | None] = ContextVar(
    "seadragon_scope", default=None
)
Observer = Callable[[dict[str, Any]], None]
_TIMESTAMPS = ("queued_at", "started_at", "first_token_at", "finished_at")
_REQUIRED = ("request_id", "kind", "model", "entry_band", "status", "queued_at")
#: Over-long strings are cut to the column width: PostgreSQL would fail the whole batch.
_WIDTHS = {
    c.name: c.type.length
    for c in RequestLog.__table__.columns
    if isinstance(c.type, String) and c.type.length
}


def normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    """Every column present, timestamps as aware datetimes; raises ValueError if unusable."""
    out = {name: row.get(name) for name in COLUMNS if name not in _DERIVED}
    if out["route"] is None:
        out["route"] = current_route()
    missing = [name for name in _REQUIRED if out[name] is None]
    if missing:
        raise ValueError(f"request log row lacks {', '.join(missing)}")
    out["stream"] = bool(out["stream"])
    for name, width in _WIDTHS.items():
        if out[name] is not None:
            out[name] = str(out[name])[:width]
    for name in _TIMESTAMPS:
        value = out[name]
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = datetime.fromtimestamp(value / 1_000_000, UTC)
        elif isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(f"request log row: {name} is a naive datetime")
    out["wait_ms"] = _ms_between(out["queued_at"], out["started_at"])
    out["run_ms"] = _ms_between(out["started_at"], out["finished_at"])
    return out


def _ms_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def current_route() -> str | None:
    scope = CURRENT_SCOPE.get()
    route = scope.get("route") if scope is not None else None
    path = getattr(route, "path", None)
    return str(path) if path else None


_INSERT = insert(RequestLog).execution_options(render_nulls=True)


class RequestLogWriter:
    """Owned by the app lifespan (``app.state.request_log``)."""

    def __init__(self, database: Database, observers: Iterable[Observer] = ()) -> None:
        self.database = database
        self.observers = list(observers)
        self._buffer: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = 0

    async def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="seadragon-request-log")

    def log(self, row: dict[str, Any]) -> None:
        """Queue one row for insertion; returns at once."""
        try:
            normalised = normalise_row(row)
        except ValueError as exc:
            log.warning("%s; row skipped", exc)
            return
        self._buffer.append(normalised)
        for observe in self.observers:
            try:
                observe(normalised)
            except Exception as exc:  # an observer must never cost a request its log row
                log.warning("request log observer failed: %s", type(exc).__name__)
        if len(self._buffer) > MAX_BUFFERED_ROWS:
            excess = len(self._buffer) - MAX_BUFFERED_ROWS
            del self._buffer[:excess]
            self.dropped += excess
        if len(self._buffer) >= BATCH_ROWS:
            self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Insert everything buffered so far (in batches of ``BATCH_ROWS``)."""
        while self._buffer:
            batch = self._buffer[:BATCH_ROWS]
            del self._buffer[:BATCH_ROWS]
            await self._insert_with_retry(batch)

    async def _insert_with_retry(self, batch: list[dict[str, Any]]) -> None:
        for attempt in (1, 2):
            try:
                # Core executemany: no ORM unit of work for rows nobody reads back.
                async with self.database.engine.begin() as connection:
                    await connection.execute(_INSERT, batch)
                return
            except Exception as exc:  # a loop boundary: report, retry once, never crash
                log.warning(
                    "request log: inserting %d rows failed (attempt %d): %s",
                    len(batch),
                    attempt,
                    type(exc).__name__,
                )
                if attempt == 1:
                    await asyncio.sleep(FLUSH_INTERVAL_S)
        self.dropped += len(batch)
        log.error("request log: dropped %d rows after a retry", len(batch))

    async def close(self) -> None:
        """Stop the background task and flush what is left."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
