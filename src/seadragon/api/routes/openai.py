"""The OpenAI-compatible surface under ``/v1`` (and the original ``/api/chat/completions``).

Lifecycle (``docs/architecture.md``): authenticate → validate → resolve band → enqueue → relay.
Everything that can be refused is refused before the job is queued, with a real 4xx,
even for ``stream: true``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from seadragon.api.deps import CallerDep, parse_body
from seadragon.api.disconnect import EventStreamResponse, unless_disconnected
from seadragon.api.relay import Relay
from seadragon.auth.caller import Caller
from seadragon.auth.priority import resolve_band
from seadragon.db.trace import Trace
from seadragon.errors import Conflict, InvalidRequest, ModelNotFound, SeadragonError
from seadragon.queue.base import BaseQueueManager, Job
from seadragon.wire import ChatRequest, CompletionRequest, EmbeddingRequest

router = APIRouter(tags=["openai"])


REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def request_id_of(request: Request) -> str:
    """The caller's ``X-Request-Id`` if well-formed, else a fresh one."""
    given = request.headers.get("x-request-id")
    if given is None:
        return uuid.uuid4().hex
    if not REQUEST_ID.match(given):
        raise InvalidRequest(
            "X-Request-Id must be 1-64 characters of letters, digits and . _ : -",
            param="X-Request-Id",
        )
    return given


def _check_model(queue: BaseQueueManager, model: str) -> None:
    if model not in queue.models():
        raise ModelNotFound(
            f"The model '{model}' does not exist or no backend serves it now", param="model"
        )


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (definitions inlined: none is recursive)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    content = {"application/json": {"schema": inline(schema)}}
    return {"requestBody": {"required": True, "content": content}}


async def _run(
    request: Request,
    caller: Caller,
    kind: Literal["chat", "completion", "embedding"],
    body: ChatRequest | CompletionRequest | EmbeddingRequest,
) -> Response:
    state = request.app.state
    queue: BaseQueueManager = state.queue
    request_id = request_id_of(request)
    request.state.request_id = request_id
    _check_model(queue, body.model)
    band = resolve_band(
        caller,
        state.settings.bands,
        body.service_tier,
        request.headers.get("x-seadragon-priority"),
    )
    job = Job(
        id=request_id,
        kind=kind,
        model=body.model,
        body=body.backend_body(),
        band=band,
        user_id=caller.user_id,
        key_id=caller.key_id,
        buffered=not body.stream,
    )
    stream = body.stream
    try:
        ticket = await queue.submit(job)
    except SeadragonError as error:
        if isinstance(error, Conflict):  # the queue refuses an id already in flight
            error.param = "X-Request-Id"
        state.request_log.log(Trace(job, stream).row(error, error.status, rejected=True))
        raise
    include_usage = bool(
        isinstance(body, ChatRequest | CompletionRequest)
        and body.stream_options is not None
        and body.stream_options.include_usage
    )
    relay = Relay(state.request_log, job, ticket, stream=stream, include_usage=include_usage)
    headers = {"X-Request-Id": request_id, "X-Seadragon-Band": band}
    if stream:
        return EventStreamResponse(relay.stream(), headers={**headers, "Cache-Control": "no-cache"})
    data = await unless_disconnected(request, relay.collect)
    return JSONResponse(data, headers=headers)


@router.post("/v1/chat/completions", openapi_extra=body_schema(ChatRequest))
@router.post("/api/chat/completions", include_in_schema=False)
async def chat_completions(request: Request, caller: CallerDep) -> Response:
    """OpenAI chat completions, streamed (SSE) or not, through the priority queue."""
    return await _run(request, caller, "chat", await parse_body(request, ChatRequest))


@router.post("/v1/completions", openapi_extra=body_schema(CompletionRequest))
async def completions(request: Request, caller: CallerDep) -> Response:
    """OpenAI legacy text completions through the priority queue."""
    return await _run(request, caller, "completion", await parse_body(request, CompletionRequest))


@router.post("/v1/embeddings", openapi_extra=body_schema(EmbeddingRequest))
async def embeddings(request: Request, caller: CallerDep) -> Response:
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
    """One model, or 404 ``model_not_found``."""
    _check_model(request.app.state.queue, model)
    return {"id": model, "object": "model", "created": 0, "owned_by": "seadragon"}
