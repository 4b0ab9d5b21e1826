"""One accepted request's way back to its caller: events in, SSE or a JSON body out.

A ``Relay`` owns a submitted ticket until its terminal event, and makes sure of two
things whatever happens (client gone, queue cleared, backend failure): the job is
cancelled if the caller stops listening, and exactly one request-log row is written.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson

from seadragon.db.request_log import RequestLogWriter
from seadragon.errors import (
    QueueTimeout,
    RequestCancelled,
    RequestCleared,
    SeadragonError,
    UpstreamError,
)
from seadragon.queue.base import (
    BaseQueueManager,
    Chunk,
    End,
    Failed,
    Job,
    Position,
    Result,
    Started,
    Ticket,
)


def _now() -> datetime:
    return datetime.now(UTC)


def status_of(error: SeadragonError | None) -> str:
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
    """What the request log remembers of one request."""

    job: Job
    stream: bool
    queued_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    first_token_at: datetime | None = None
    backend: str | None = None
    dispatch_band: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def row(
        self, error: SeadragonError | None, http_status: int, *, rejected: bool = False
    ) -> dict[str, Any]:
        return {
            "request_id": self.job.id,
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


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def position_comment(position: Position) -> bytes:
    return f": queue position={position.ahead} eta_s={position.eta_s:.1f}\n\n".encode()


def started_comment(started: Started) -> bytes:
    """Which band the request was taken from (after aging); the web chat shows it."""
    return f": started band={started.band}\n\n".encode()


class Relay:
    """Relays one ticket's events to its caller, then logs it once."""

    def __init__(
        self,
        queue: BaseQueueManager,
        log: RequestLogWriter,
        job: Job,
        ticket: Ticket,
        *,
        stream: bool,
        include_usage: bool = False,
    ) -> None:
        self.queue = queue
        self.log = log
        self.job = job
        self.ticket = ticket
        self.include_usage = include_usage
        self.trace = Trace(job, stream)
        self.created = int(time.time())
        prefix = {"chat": "chatcmpl-", "completion": "cmpl-"}.get(job.kind, "")
        self.completion_id = prefix + job.id
        self._ended = False

    # Events -------------------------------------------------------------------------

    def _note(self, event: Started | Chunk) -> None:
        if isinstance(event, Started):
            self.trace.started_at = _now()
            self.trace.backend = event.backend
            self.trace.dispatch_band = event.band
            return
        usage = event.data.get("usage")
        if usage:
            self.trace.prompt_tokens = usage.get("prompt_tokens")
            self.trace.completion_tokens = usage.get("completion_tokens")
        elif self.trace.first_token_at is None:
            self.trace.first_token_at = _now()

    def _rewrite(self, data: dict[str, Any]) -> dict[str, Any]:
        data["id"] = self.completion_id
        data["model"] = self.job.model
        data["created"] = self.created
        return data

    def _finish(self, error: SeadragonError | None, http_status: int) -> None:
        if self._ended:
            return
        self._ended = True
        self.log.log(self.trace.row(error, http_status))

    async def abandon(self) -> None:
        """The caller is gone: stop the job wherever it is, and log it as cancelled."""
        if self._ended:
            return
        with anyio.CancelScope(shield=True):
            await self.queue.cancel(self.job.id)
            self._finish(RequestCancelled("client disconnected"), 499)

    # Streaming ----------------------------------------------------------------------

    async def stream(self) -> AsyncIterator[bytes]:
        """SSE: queue position comments, chunks, then ``[DONE]`` (or an error event)."""
        try:
            yield position_comment(self.ticket.position)
            async for event in self.ticket.events():
                if isinstance(event, Position):
                    if self.trace.started_at is None:
                        yield position_comment(event)
                elif isinstance(event, Started):
                    self._note(event)
                    yield started_comment(event)
                elif isinstance(event, Chunk):
                    self._note(event)
                    usage_only = event.data.get("usage") and not event.data.get("choices")
                    if usage_only and not self.include_usage:
                        continue
                    yield sse(self._rewrite(event.data))
                elif isinstance(event, Failed):
                    self._finish(event.error, event.error.status)
                    yield sse(event.error.to_dict())
                    return
                elif isinstance(event, End):
                    self._finish(None, 200)
                    yield b"data: [DONE]\n\n"
                    return
            self._finish(UpstreamError("the queue ended the request without an answer"), 502)
        finally:
            if not self._ended:
                await self.abandon()

    # Whole answers ------------------------------------------------------------------

    async def collect(self) -> dict[str, Any]:
        """Wait for the whole answer and assemble the OpenAI response body."""
        parts: list[str] = []
        finish_reason: str | None = None
        result: dict[str, Any] | None = None
        try:
            async for event in self.ticket.events():
                if isinstance(event, Started):
                    # A later attempt replaces one lost midway (a buffered job): start over.
                    parts, finish_reason, result = [], None, None
                    self.trace.first_token_at = self.trace.completion_tokens = None
                    self._note(event)
                elif isinstance(event, Chunk):
                    self._note(event)
                    for choice in event.data.get("choices") or ():
                        parts.append(_piece(choice))
                        finish_reason = choice.get("finish_reason") or finish_reason
                elif isinstance(event, Result):
                    result = event.data
                    usage = result.get("usage") or {}
                    self.trace.prompt_tokens = usage.get("prompt_tokens")
                elif isinstance(event, Failed):
                    self._finish(event.error, event.error.status)
                    raise event.error
                elif isinstance(event, End):
                    self._finish(None, 200)
                    break
            else:
                error = UpstreamError("the queue ended the request without an answer")
                self._finish(error, error.status)
                raise error
        finally:
            if not self._ended:
                await self.abandon()
        if result is not None:
            result["model"] = self.job.model
            return result
        return self._assemble("".join(parts), finish_reason or "stop")

    def _assemble(self, text: str, finish_reason: str) -> dict[str, Any]:
        prompt = self.trace.prompt_tokens or 0
        completion = self.trace.completion_tokens or 0
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if self.job.kind == "chat":
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
            obj = "text_completion"
        return {
            "id": self.completion_id,
            "object": obj,
            "created": self.created,
            "model": self.job.model,
            "choices": [choice],
            "usage": usage,
        }


def _piece(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return str(delta.get("content") or "")
    return str(choice.get("text") or "")
