"""One accepted request's way back to its caller: events in, SSE or a JSON body out.

A ``Relay`` owns a submitted ticket until its terminal event, and makes sure of two
things whatever happens (client gone, queue cleared, backend failure): the ticket is
cancelled if the caller stops listening, and exactly one request-log row is written.
The answer's shape is ``answer.py``'s; what the log keeps is ``db/trace.py``'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

from seadragon.api.answer import Answer, position_comment, sse, started_comment
from seadragon.db.trace import RowSink, Trace
from seadragon.errors import RequestCancelled, UpstreamError
from seadragon.queue.base import Chunk, End, Failed, Job, Position, Result, Started, Ticket

NO_ANSWER = "the queue ended the request without an answer"


class Relay:
    """Relays one ticket's events to its caller, then logs it once."""

    def __init__(
        self,
        log: RowSink,
        job: Job,
        ticket: Ticket,
        *,
        stream: bool,
        include_usage: bool = False,
    ) -> None:
        self.log = log
        self.ticket = ticket
        self.include_usage = include_usage
        self.trace = Trace(job, stream)
        self.answer = Answer(job)

    async def abandon(self) -> None:
        """The caller is gone: stop the job wherever it is, and log it as cancelled."""
        if self.trace.finished:
            return
        with anyio.CancelScope(shield=True):
            await self.ticket.cancel()
            self.trace.finish(self.log, RequestCancelled("client disconnected"), 499)

    async def stream(self) -> AsyncIterator[bytes]:
        """SSE: queue position comments, chunks, then ``[DONE]`` (or an error event)."""
        trace = self.trace
        try:
            yield position_comment(self.ticket.position)
            async for event in self.ticket.events():
                if isinstance(event, Position):
                    if trace.started_at is None:
                        yield position_comment(event)
                elif isinstance(event, Started):
                    trace.started(event.backend, event.band)
                    yield started_comment(event)
                elif isinstance(event, Chunk):
                    trace.output(event.data)
                    usage_only = event.data.get("usage") and not event.data.get("choices")
                    if usage_only and not self.include_usage:
                        continue
                    yield sse(self.answer.rewrite(event.data))
                elif isinstance(event, Failed):
                    trace.finish(self.log, event.error, event.error.status)
                    yield sse(event.error.to_dict())
                    return
                elif isinstance(event, End):
                    trace.finish(self.log, None, 200)
                    yield b"data: [DONE]\n\n"
                    return
            trace.finish(self.log, UpstreamError(NO_ANSWER), 502)
        finally:
            if not trace.finished:
                await self.abandon()

    async def collect(self) -> dict[str, Any]:
        """Wait for the whole answer and assemble the OpenAI response body."""
        trace, answer = self.trace, self.answer
        try:
            async for event in self.ticket.events():
                if isinstance(event, Started):
                    # A later attempt replaces one lost midway (a buffered job): start over.
                    answer.restart()
                    trace.restarted()
                    trace.started(event.backend, event.band)
                elif isinstance(event, Chunk):
                    trace.output(event.data)
                    answer.add(event.data)
                elif isinstance(event, Result):
                    answer.result = event.data
                    trace.prompt_tokens = (event.data.get("usage") or {}).get("prompt_tokens")
                elif isinstance(event, Failed):
                    trace.finish(self.log, event.error, event.error.status)
                    raise event.error
                elif isinstance(event, End):
                    trace.finish(self.log, None, 200)
                    break
            else:
                error = UpstreamError(NO_ANSWER)
                trace.finish(self.log, error, error.status)
                raise error
        finally:
            if not trace.finished:
                await self.abandon()
        return answer.body(trace.prompt_tokens, trace.completion_tokens)
