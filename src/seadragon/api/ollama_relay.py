"""One native request's way back: queue events as Ollama's NDJSON lines or one object.

Whatever backend kind ran the job, the caller sees Ollama's shapes: ``message`` (chat)
or ``response`` (generate) pieces with ``created_at`` and ``done: false``, then a final
``done: true`` object with ``done_reason`` and the counts and durations in nanoseconds.
Durations are measured by the gateway: ``total_duration`` runs from the request's
arrival (queue wait included), ``prompt_eval_duration`` from dispatch to the first
token, ``eval_duration`` from there to the end; ``load_duration`` is 0 (Seadragon cannot
tell model loading apart from prompt evaluation).

While the request waits, each line is a valid empty piece carrying ``seadragon`` (request
id, band, position, ETA): Ollama's parsers read every line as a response, so SSE-style
comments are impossible. A failure after the stream began is an ``{"error": …}`` line.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from seadragon.api.relay import NO_ANSWER, Relay
from seadragon.api.request_ids import public_id
from seadragon.errors import SeadragonError, UpstreamError
from seadragon.queue.base import Chunk, End, Failed, Position, Result, Started

Shape = Literal["chat", "generate"]


def created_at() -> str:
    """Ollama's timestamp: RFC 3339 in UTC with nanosecond-style precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ndjson(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data) + b"\n"


def error_line(error: SeadragonError) -> bytes:
    return ndjson({"error": error.message})


class NativeRelay(Relay):
    """Relays one ticket as Ollama answers; logs it once, cancels it if the caller goes."""

    shape: Shape = "chat"
    arrived_ns: int = 0

    def setup(self, shape: Shape, arrived_ns: int) -> NativeRelay:
        self.shape, self.arrived_ns = shape, arrived_ns
        self._thinking: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._started_ns = self._first_ns = 0
        return self

    # Pieces ---------------------------------------------------------------------------

    def _piece(self, text: str, thinking: str = "") -> dict[str, Any]:
        line: dict[str, Any] = {"model": self.trace.job.model, "created_at": created_at()}
        if self.shape == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if thinking:
                message["thinking"] = thinking
            line["message"] = message
        else:
            line["response"] = text
            if thinking:
                line["thinking"] = thinking
        line["done"] = False
        return line

    def _position(self, position: Position) -> dict[str, Any]:
        line = self._piece("")
        line["seadragon"] = {
            "request_id": public_id(self.trace.job.id),
            "band": self.trace.job.band,
            "queue_position": position.ahead,
            "eta_s": round(position.eta_s, 1),
            "estimated": position.estimated,
            "paused": position.paused,
        }
        return line

    def _take(self, data: dict[str, Any]) -> tuple[str, str, str | None]:
        """(text, thinking, finish reason) of one chunk; tool calls are kept for the end."""
        text = thinking = ""
        finish: str | None = None
        now = time.perf_counter_ns()
        for choice in data.get("choices") or ():
            delta = choice.get("delta")
            if isinstance(delta, dict):
                text += str(delta.get("content") or "")
                thinking += str(delta.get("reasoning_content") or "")
                for call in delta.get("tool_calls") or ():
                    self._add_call(call)
            else:
                text += str(choice.get("text") or "")
            finish = choice.get("finish_reason") or finish
        if (text or thinking) and not self._first_ns:
            self._first_ns = now
        return text, thinking, finish

    def _add_call(self, call: dict[str, Any]) -> None:
        slot = self._calls.setdefault(int(call.get("index") or 0), {"name": "", "arguments": ""})
        function = call.get("function") or {}
        slot["name"] += function.get("name") or ""
        slot["arguments"] += function.get("arguments") or ""

    def _tool_calls(self) -> list[dict[str, Any]]:
        calls = []
        for _, slot in sorted(self._calls.items()):
            try:
                arguments = orjson.loads(slot["arguments"] or "{}")
            except orjson.JSONDecodeError:
                raise UpstreamError(
                    "the backend sent tool call arguments that are not JSON"
                ) from None
            calls.append({"function": {"name": slot["name"], "arguments": arguments}})
        return calls

    def _final(self, finish: str | None, text: str = "", thinking: str = "") -> dict[str, Any]:
        end = time.perf_counter_ns()
        started = self._started_ns or end
        first = self._first_ns or end
        line = self._piece(text, thinking)
        if self._calls and self.shape == "chat":
            line["message"]["tool_calls"] = self._tool_calls()
        reason = finish if finish in ("stop", "length") else "stop"
        line |= {
            "done": True,
            "done_reason": reason,
            "total_duration": end - self.arrived_ns,
            "load_duration": 0,
            "prompt_eval_count": self.trace.prompt_tokens or 0,
            "prompt_eval_duration": max(0, first - started),
            "eval_count": self.trace.completion_tokens or 0,
            "eval_duration": max(0, end - first),
        }
        return line

    def _begin(self, event: Started) -> None:
        self.trace.started(event.backend, event.band)
        self._started_ns = time.perf_counter_ns()
        self._first_ns = 0

    # Streaming ------------------------------------------------------------------------

    async def ndjson(self) -> AsyncIterator[bytes]:
        """Position lines while queued, pieces, then the final object (or an error line)."""
        finish: str | None = None
        try:
            yield ndjson(self._position(self.ticket.position))
            async for event in self.ticket.events():
                if isinstance(event, Position):
                    if self.trace.started_at is None:
                        yield ndjson(self._position(event))
                elif isinstance(event, Started):
                    self._begin(event)
                elif isinstance(event, Chunk):
                    self.trace.output(event.data)
                    text, thinking, reason = self._take(event.data)
                    finish = reason or finish
                    if text or thinking:
                        yield ndjson(self._piece(text, thinking))
                elif isinstance(event, Failed):
                    self.trace.finish(self.log, event.error, event.error.status)
                    yield error_line(event.error)
                    return
                elif isinstance(event, End):
                    try:
                        final = self._final(finish)
                    except UpstreamError as bad:
                        self.trace.finish(self.log, bad, bad.status)
                        yield error_line(bad)
                        return
                    self.trace.finish(self.log, None, 200)
                    yield ndjson(final)
                    return
            error = UpstreamError(NO_ANSWER)
            self.trace.finish(self.log, error, error.status)
            yield error_line(error)
        finally:
            if not self.trace.finished:
                await self.abandon()

    # Whole answers --------------------------------------------------------------------

    async def whole(self) -> dict[str, Any]:
        """Wait for the whole answer; raise its error if it failed."""
        parts: list[str] = []
        finish: str | None = None
        try:
            async for event in self.ticket.events():
                if isinstance(event, Started):
                    # A later attempt replaces one lost midway (a buffered job): start over.
                    parts, finish, self._calls, self._thinking = [], None, {}, []
                    self.trace.restarted()
                    self._begin(event)
                elif isinstance(event, Chunk):
                    self.trace.output(event.data)
                    text, thinking, reason = self._take(event.data)
                    parts.append(text)
                    self._thinking.append(thinking)
                    finish = reason or finish
                elif isinstance(event, Failed):
                    self.trace.finish(self.log, event.error, event.error.status)
                    raise event.error
                elif isinstance(event, End):
                    final = self._final(finish, "".join(parts), "".join(self._thinking))
                    self.trace.finish(self.log, None, 200)
                    return final
            error = UpstreamError(NO_ANSWER)
            self.trace.finish(self.log, error, error.status)
            raise error
        finally:
            if not self.trace.finished:
                await self.abandon()

    async def vectors(self) -> tuple[list[list[float]], int]:
        """An embedding job's vectors and prompt token count."""
        vectors: list[Any] = []
        try:
            async for event in self.ticket.events():
                if isinstance(event, Started):
                    self._begin(event)
                elif isinstance(event, Result):
                    data = event.data
                    usage = data.get("usage") or {}
                    self.trace.prompt_tokens = usage.get("prompt_tokens")
                    items = sorted(data.get("data") or [], key=lambda d: d.get("index", 0))
                    vectors = [item.get("embedding") for item in items]
                elif isinstance(event, Failed):
                    self.trace.finish(self.log, event.error, event.error.status)
                    raise event.error
                elif isinstance(event, End):
                    self.trace.finish(self.log, None, 200)
                    return vectors, self.trace.prompt_tokens or 0
            error = UpstreamError(NO_ANSWER)
            self.trace.finish(self.log, error, error.status)
            raise error
        finally:
            if not self.trace.finished:
                await self.abandon()
