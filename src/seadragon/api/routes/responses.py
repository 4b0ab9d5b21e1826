"""``POST /v1/responses``: the OpenAI Responses API, stateless, through the same queue.

The request becomes a chat job (``seadragon.wire_responses``), so auth, bands, aging,
cancellation and the request log are the chat path's; only the answer's shape differs
(``seadragon.api.responses_events``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from seadragon.api.answer import JsonAnswer, position_comment
from seadragon.api.deps import CallerDep, parse_body
from seadragon.api.disconnect import EventStreamResponse, unless_disconnected
from seadragon.api.images import inline_remote_images, responses_slots
from seadragon.api.inference_routes import inference
from seadragon.api.relay import NO_ANSWER, Relay
from seadragon.api.request_ids import public_id
from seadragon.api.responses_events import EventStream, response_object
from seadragon.api.routes.openai import enqueue
from seadragon.auth.caller import Caller
from seadragon.errors import NotFound, UpstreamError
from seadragon.queue.base import Chunk, End, Failed, Position, Started
from seadragon.wire_responses import ResponsesRequest

router = APIRouter(tags=["openai"])


class ResponsesRelay(Relay):
    """A chat job's events as Responses API events."""

    def __init__(self, *args: Any, request: ResponsesRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.response_id = "resp_" + public_id(self.answer.job.id)

    async def stream(self) -> AsyncIterator[bytes]:
        trace, events = self.trace, EventStream(self.request, self.response_id)
        try:
            yield position_comment(self.ticket.position)
            for piece in events.start():
                yield piece
            async for event in self.ticket.events():
                if isinstance(event, Position):
                    if trace.started_at is None:
                        yield position_comment(event)
                elif isinstance(event, Started):
                    trace.started(event.backend, event.band)
                elif isinstance(event, Chunk):
                    trace.output(event.data)
                    for piece in events.chunk(event.data):
                        yield piece
                elif isinstance(event, Failed):
                    trace.finish(self.log, event.error, event.error.status)
                    yield events.failed(event.error.to_dict())
                    return
                elif isinstance(event, End):
                    trace.finish(self.log, None, 200)
                    for piece in events.finish():
                        yield piece
                    return
            trace.finish(self.log, UpstreamError(NO_ANSWER), 502)
        finally:
            if not trace.finished:
                await self.abandon()


@inference(router, "/v1/responses", ResponsesRequest)
async def create_response(request: Request, caller: Caller) -> Response:
    """A model response, streamed as Responses events or whole."""
    body = await parse_body(request, ResponsesRequest)
    settings = request.app.state.settings
    await inline_remote_images(responses_slots(body), settings)
    chat = body.chat(settings.max_image_bytes)
    accepted = await enqueue(request, caller, "chat", chat, chat.backend_body())
    state = request.app.state
    relay = ResponsesRelay(
        state.request_log,
        accepted.job,
        accepted.ticket,
        stream=body.stream,
        include_usage=True,
        request=body,
    )
    headers = accepted.headers
    if body.stream:
        return EventStreamResponse(relay.stream(), headers={**headers, "Cache-Control": "no-cache"})
    completion = await unless_disconnected(request, relay.collect)
    return JsonAnswer(response_object(body, completion, relay.response_id), headers=headers)


@router.get("/v1/responses/{response_id}")
async def get_response(response_id: str, caller: CallerDep) -> None:
    """Responses are not stored, so none can be fetched again."""
    raise NotFound(
        "this gateway stores no responses: each answer is returned only once", param="response_id"
    )
