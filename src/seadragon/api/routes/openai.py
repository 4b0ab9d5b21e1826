"""The OpenAI-compatible surface under ``/v1`` (and the original ``/api/chat/completions``).

Lifecycle (``docs/architecture.md``): authenticate → validate → resolve band → enqueue → relay.
Everything that can be refused is refused before the job is queued, with a real 4xx,
even for ``stream: true``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from seadragon.api.answer import JsonAnswer
from seadragon.api.deps import CallerDep, parse_body
from seadragon.api.disconnect import EventStreamResponse, unless_disconnected
from seadragon.api.images import chat_slots, inline_remote_images
from seadragon.api.inference_routes import inference
from seadragon.api.model_check import require_model
from seadragon.api.relay import Relay
from seadragon.api.request_ids import queue_id
from seadragon.auth.caller import Caller
from seadragon.auth.priority import resolve_band
from seadragon.db.trace import Trace
from seadragon.errors import Conflict, InvalidRequest, SeadragonError
from seadragon.queue.base import BaseQueueManager, Job, Ticket
from seadragon.wire import ChatRequest, CompletionRequest, EmbeddingRequest

router = APIRouter(tags=["openai"])


REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def request_id_of(request: Request) -> str:
    """The caller's ``X-Request-Id`` if well-formed, else a fresh one."""
    given = request.headers.get("x-request-id")
    if given is None:
        return secrets.token_hex(16)
    if not REQUEST_ID.match(given):
        raise InvalidRequest(
            "X-Request-Id must be 1-64 characters of letters, digits and . _ : -",
            param="X-Request-Id",
        )
    return given


@dataclass
class Accepted:
    """A job the queue has accepted, and what its answer's headers say."""

    job: Job
    ticket: Ticket
    headers: dict[str, str]


async def enqueue(
    request: Request,
    caller: Caller,
    kind: Literal["chat", "completion", "embedding"],
    body: ChatRequest | CompletionRequest | EmbeddingRequest,
    backend_body: dict[str, Any],
) -> Accepted:
    """Resolve the band and submit; a refusal is logged and raised."""
    state = request.app.state
    queue: BaseQueueManager = state.queue
    request_id = request_id_of(request)
    request.state.request_id = request_id
    require_model(request, body.model)
    band = resolve_band(
        caller,
        state.settings.bands,
        body.service_tier,
        request.headers.get("x-seadragon-priority"),
    )
    job = Job(
        id=queue_id(caller, request_id, chosen="x-request-id" in request.headers),
        kind=kind,
        model=body.model,
        body=backend_body,
        band=band,
        user_id=caller.user_id,
        key_id=caller.key_id,
        buffered=not body.stream,
    )
    try:
        ticket = await queue.submit(job)
    except SeadragonError as error:
        if isinstance(error, Conflict):  # the queue refuses an id already in flight
            error.param = "X-Request-Id"
        state.request_log.log(Trace(job, body.stream).row(error, error.status, rejected=True))
        raise
    return Accepted(job, ticket, {"X-Request-Id": request_id, "X-Seadragon-Band": band})


async def _run(
    request: Request,
    caller: Caller,
    kind: Literal["chat", "completion", "embedding"],
    body: ChatRequest | CompletionRequest | EmbeddingRequest,
) -> Response:
    state = request.app.state
    if isinstance(body, ChatRequest):
        await inline_remote_images(chat_slots(body), state.settings)
        body.check(state.settings.max_image_bytes)
    accepted = await enqueue(request, caller, kind, body, body.backend_body())
    include_usage = bool(
        isinstance(body, ChatRequest | CompletionRequest)
        and body.stream_options is not None
        and body.stream_options.include_usage
    )
    relay = Relay(
        state.request_log,
        accepted.job,
        accepted.ticket,
        stream=body.stream,
        include_usage=include_usage,
    )
    headers = accepted.headers
    if body.stream:
        return EventStreamResponse(relay.stream(), headers={**headers, "Cache-Control": "no-cache"})
    data = await unless_disconnected(request, relay.collect)
    return JsonAnswer(data, headers=headers)


@inference(router, "/v1/chat/completions", ChatRequest)
@inference(router, "/api/chat/completions", ChatRequest, in_schema=False)
async def chat_completions(request: Request, caller: Caller) -> Response:
    """OpenAI chat completions, streamed (SSE) or not, through the priority queue."""
    return await _run(request, caller, "chat", await parse_body(request, ChatRequest))


@inference(router, "/v1/completions", CompletionRequest)
async def completions(request: Request, caller: Caller) -> Response:
    """OpenAI legacy text completions through the priority queue."""
    return await _run(request, caller, "completion", await parse_body(request, CompletionRequest))


@inference(router, "/v1/embeddings", EmbeddingRequest)
async def embeddings(request: Request, caller: Caller) -> Response:
    """OpenAI embeddings through the priority queue."""
    return await _run(request, caller, "embedding", await parse_body(request, EmbeddingRequest))


@router.get("/v1/models")
async def list_models(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Models some live backend serves now."""
    queue: BaseQueueManager = request.app.state.queue
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "seadragon"}
            for name in sorted(queue.models())
        ],
    }


@router.get("/v1/models/{model:path}")
async def get_model(model: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    """One model, 404 ``model_not_found``, or 503 while every backend serving it is down."""
    require_model(request, model)
    return {"id": model, "object": "model", "created": 0, "owned_by": "seadragon"}
