"""Ollama's metadata calls: ``/api/tags``, ``/api/ps``, ``/api/show``, ``/api/version``.

None of them queues. Lists merge every backend's models (``seadragon.catalog``); admins
also see which backends serve each. A chat or generate request without a prompt only
loads a model (or, with ``keep_alive: 0``, unloads it: admins only) on the Ollama backends
serving it, as Ollama's does; it is answered here, without a slot.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from seadragon.api.deps import CallerDep, parse_body
from seadragon.api.model_check import require_model
from seadragon.api.ollama_relay import created_at
from seadragon.api.ollama_wire import ShowRequest
from seadragon.auth.caller import Caller
from seadragon.catalog import listing
from seadragon.catalog.listing import Backend, backends_of
from seadragon.errors import InvalidRequest, PermissionDenied, SeadragonError
from seadragon.queue.base import BaseQueueManager
from seadragon.wire import MODEL_NAME

router = APIRouter(tags=["ollama"])

#: The Ollama API version Seadragon's native surface follows, when no Ollama backend says.
OLLAMA_API_VERSION = "0.12.6"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def _queue(request: Request) -> BaseQueueManager:
    queue: BaseQueueManager = request.app.state.queue
    return queue


@router.get("/api/tags")
async def tags(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Every model some backend serves, once each."""
    return await listing.tags(_queue(request).workers(), admin=caller.is_admin)


@router.get("/api/ps")
async def ps(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Models loaded now, across backends."""
    return await listing.ps(_queue(request).workers(), admin=caller.is_admin)


@router.post("/api/show")
async def show(request: Request, caller: CallerDep) -> dict[str, Any]:
    """A model's details, template and parameters (from an Ollama backend serving it)."""
    body = await parse_body(request, ShowRequest)
    if not MODEL_NAME.match(body.target):
        raise InvalidRequest("model is not a valid model name", param="model")
    return await listing.show(_queue(request).workers(), body.target, admin=caller.is_admin)


async def _backend_version(backend: Backend) -> tuple[int, ...] | None:
    try:
        data = await backend.host.call("GET", "/api/version")
    except SeadragonError:
        return None
    match = _VERSION.match(str(data.get("version", ""))) if isinstance(data, dict) else None
    return tuple(int(part) for part in match.groups()) if match else None


@router.get("/api/version")
async def version(request: Request) -> dict[str, str]:
    """The oldest Ollama version among the backends (clients gate features on it)."""
    ollama = [b for b in backends_of(_queue(request).workers()) if b.kind == "ollama"]
    found = [v for v in await asyncio.gather(*map(_backend_version, ollama)) if v]
    return {"version": ".".join(map(str, min(found))) if found else OLLAMA_API_VERSION}


def _is_unload(keep_alive: Any) -> bool:
    return keep_alive in (0, 0.0, "0") or (
        isinstance(keep_alive, str)
        and re.fullmatch(r"0+(\.0+)?(ns|us|ms|s|m|h)?", keep_alive) is not None
    )


async def load_or_unload(
    request: Request,
    caller: Caller,
    model: str,
    keep_alive: Any,
    answer: Literal["chat", "generate"],
) -> Response:
    """Ollama's answer to a request with nothing to generate."""
    queue = _queue(request)
    require_model(request, model, f'model "{model}" not found, try pulling it first')
    unload = _is_unload(keep_alive)
    if unload and not caller.is_admin:
        raise PermissionDenied("unloading a model (keep_alive 0) needs an administrator")
    serving = [
        b for b in backends_of(queue.workers())
        if b.kind == "ollama" and b.reachable and model in b.models
    ]  # fmt: skip
    await unload_on(serving, model, 0 if unload else keep_alive)
    line: dict[str, Any] = {"model": model, "created_at": created_at()}
    if answer == "chat":
        line["message"] = {"role": "assistant", "content": ""}
    else:
        line["response"] = ""
    line |= {"done": True, "done_reason": "unload" if unload else "load"}
    return JSONResponse(line)


async def unload_on(backends: list[Backend], model: str, keep_alive: Any) -> None:
    """Send Ollama's load (or, with ``keep_alive`` 0, unload) request to each backend."""
    body: dict[str, Any] = {"model": model, "stream": False}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    results = await asyncio.gather(
        *(b.host.call("POST", "/api/generate", body, model=model) for b in backends),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
