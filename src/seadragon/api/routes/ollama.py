"""Ollama's native generation API: ``/api/chat``, ``/api/generate``, ``/api/embed``,
``/api/embeddings``, through the same queue, auth, bands and request log as ``/v1``.

Lifecycle as on ``/v1``: authenticate → validate (an unknown model is Ollama's 404 before
anything is queued) → resolve band → enqueue → relay as NDJSON or one object. A request
with no prompt (or no messages) only loads or unloads the model, as Ollama's does: it is
not queued (see ``ollama_meta``).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from seadragon.api import ollama_translate as translate
from seadragon.api.answer import JsonAnswer
from seadragon.api.deps import parse_body
from seadragon.api.disconnect import EventStreamResponse, unless_disconnected
from seadragon.api.inference_routes import inference
from seadragon.api.model_check import require_model
from seadragon.api.ollama_relay import NativeRelay
from seadragon.api.ollama_wire import NativeChat, NativeEmbed, NativeEmbeddings, NativeGenerate
from seadragon.api.request_ids import queue_id
from seadragon.api.routes.ollama_meta import load_or_unload
from seadragon.api.routes.openai import request_id_of
from seadragon.auth.caller import Caller
from seadragon.auth.priority import resolve_band
from seadragon.db.trace import Trace
from seadragon.errors import Conflict, InvalidRequest, SeadragonError
from seadragon.ollama_extension import extension_of, first_field
from seadragon.queue.base import BaseQueueManager, Job

router = APIRouter(tags=["ollama"])


class NdjsonResponse(EventStreamResponse):
    """Ollama's streaming body; stops (and so cancels the job) when the client leaves."""

    media_type = "application/x-ndjson"


def check_served(request: Request, model: str) -> None:
    """Ollama's 404 for a model no live backend serves (503 while its backends are down)."""
    require_model(request, model, f'model "{model}" not found, try pulling it first')


def _check_extension(queue: BaseQueueManager, mapped: translate.Mapped) -> None:
    """Ollama-only fields for a model only OpenAI-kind backends serve: refuse before queueing."""
    field = first_field(extension_of(mapped.body))
    if field is None:
        return
    model = mapped.body["model"]
    kinds = {w.kind for w in queue.workers() if w.reachable and model in w.models}
    if "ollama" not in kinds:
        raise InvalidRequest(
            f"{field} is only supported by Ollama backends, and {model!r} is served only by "
            "OpenAI-compatible ones",
            param=field,
        )


def _refuse_think(think: object) -> None:
    # Reasoning control has no OpenAI field every backend honours yet; refused, not dropped.
    if think is not None:
        raise InvalidRequest("think is not supported by this gateway yet", param="think")


async def _submit(
    request: Request, caller: Caller, mapped: translate.Mapped, stream: bool
) -> tuple[NativeRelay, dict[str, str]]:
    arrived = time.perf_counter_ns()
    state = request.app.state
    queue: BaseQueueManager = state.queue
    request_id = request_id_of(request)
    request.state.request_id = request_id
    model = mapped.body["model"]
    check_served(request, model)
    _check_extension(queue, mapped)
    band = resolve_band(
        caller, state.settings.bands, None, request.headers.get("x-seadragon-priority")
    )
    job = Job(
        id=queue_id(caller, request_id, chosen="x-request-id" in request.headers),
        kind=mapped.kind,
        model=model,
        body=mapped.body,
        band=band,
        user_id=caller.user_id,
        key_id=caller.key_id,
        buffered=not stream,
    )
    try:
        ticket = await queue.submit(job)
    except SeadragonError as error:
        if isinstance(error, Conflict):  # the queue refuses an id already in flight
            error.param = "X-Request-Id"
        state.request_log.log(Trace(job, stream).row(error, error.status, rejected=True))
        raise
    relay = NativeRelay(state.request_log, job, ticket, stream=stream)
    relay.setup("chat" if mapped.answer == "chat" else "generate", arrived)
    headers = {
        "X-Request-Id": request_id,
        "X-Seadragon-Band": band,
        "X-Seadragon-Queue-Position": str(ticket.position.ahead),
    }
    return relay, headers


async def _generation(
    request: Request, caller: Caller, mapped: translate.Mapped, stream: bool
) -> Response:
    relay, headers = await _submit(request, caller, mapped, stream)
    if stream:
        return NdjsonResponse(relay.ndjson(), headers={**headers, "Cache-Control": "no-cache"})
    data = await unless_disconnected(request, relay.whole)
    return JsonAnswer(data, headers=headers)


@inference(router, "/api/chat", NativeChat)
async def chat(request: Request, caller: Caller) -> Response:
    """Ollama's chat, streamed as NDJSON (the default) or not."""
    body = await parse_body(request, NativeChat)
    _refuse_think(body.think)
    if not body.messages:
        return await load_or_unload(request, caller, body.model, body.keep_alive, "chat")
    return await _generation(request, caller, translate.chat(body), body.stream)


@inference(router, "/api/generate", NativeGenerate)
async def generate(request: Request, caller: Caller) -> Response:
    """Ollama's generate, streamed as NDJSON (the default) or not."""
    body = await parse_body(request, NativeGenerate)
    _refuse_think(body.think)
    if not body.prompt and not body.images and body.suffix is None:
        return await load_or_unload(request, caller, body.model, body.keep_alive, "generate")
    return await _generation(request, caller, translate.generate(body), body.stream)


async def _vectors(request: Request, caller: Caller, mapped: translate.Mapped) -> Any:
    relay, headers = await _submit(request, caller, mapped, stream=False)
    vectors, tokens = await unless_disconnected(request, relay.vectors)
    return vectors, tokens, relay, headers


@inference(router, "/api/embed", NativeEmbed)
async def embed(request: Request, caller: Caller) -> Response:
    """Ollama's embeddings for one text or many."""
    body = await parse_body(request, NativeEmbed)
    vectors, tokens, relay, headers = await _vectors(request, caller, translate.embed(body))
    data = {
        "model": body.model,
        "embeddings": vectors,
        "total_duration": time.perf_counter_ns() - relay.arrived_ns,
        "load_duration": 0,
        "prompt_eval_count": tokens,
    }
    return JsonAnswer(data, headers=headers)


@inference(router, "/api/embeddings", NativeEmbeddings)
async def embeddings(request: Request, caller: Caller) -> Response:
    """Ollama's legacy embeddings: one prompt, one vector (an empty prompt, none)."""
    body = await parse_body(request, NativeEmbeddings)
    if not body.prompt:
        check_served(request, body.model)
        return JSONResponse({"embedding": []})
    vectors, _, _, headers = await _vectors(request, caller, translate.embed(body))
    return JsonAnswer({"embedding": vectors[0] if vectors else []}, headers=headers)
