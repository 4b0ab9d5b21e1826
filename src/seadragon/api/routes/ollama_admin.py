"""Model management for admins: Ollama's ``/api/pull``, ``/api/push``, ``/api/create``,
``/api/delete``, ``/api/copy`` and ``/api/blobs/*``, plus Seadragon's per-backend view.

Every route checks for an admin before reading the body, so a refused request never
reaches a backend. Actions go to the Ollama backend named by the body's ``backend`` field
or the ``X-Seadragon-Backend`` header, or to every Ollama backend (``all``, the default).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from seadragon.api.deps import AdminDep, parse_body
from seadragon.api.ollama_relay import ndjson
from seadragon.api.ollama_wire import (
    CopyRequest,
    CreateRequest,
    DeleteRequest,
    PullRequest,
    PushRequest,
    UnloadRequest,
)
from seadragon.api.routes.ollama import NdjsonResponse
from seadragon.api.routes.ollama_meta import unload_on
from seadragon.catalog import manage
from seadragon.catalog.listing import Backend, backends_of, per_backend
from seadragon.catalog.names import check_model_name
from seadragon.errors import InvalidRequest, ModelNotFound, SeadragonError

router = APIRouter(tags=["models"])
BACKEND_HEADER = "x-seadragon-backend"
DIGEST = re.compile(r"^sha256[:-][0-9a-f]{64}$")


def _backends(request: Request) -> list[Backend]:
    return backends_of(request.app.state.queue.workers())


def _wanted(request: Request, given: str | None) -> str | None:
    return given or request.headers.get(BACKEND_HEADER)


def _name(request: Request, name: str, field: str = "model") -> str:
    return check_model_name(name, request.app.state.settings.model_registries, field)


async def refresh_models(request: Request) -> None:
    """Embedded workers re-read their backends now; remote ones do at their next refresh."""
    pool = getattr(request.app.state, "workers", None)
    if pool is not None:
        await asyncio.gather(*(worker.refresh() for worker in pool.workers))


async def _streamed(
    request: Request, targets: list[Backend], path: str, body: dict[str, Any], model: str
) -> AsyncIterator[bytes]:
    try:
        async for line in manage.progress(targets, path, body, model):
            yield ndjson(line)
    except SeadragonError as error:
        yield ndjson({"error": error.message})
    await refresh_models(request)


async def _progress(
    request: Request, targets: list[Backend], path: str, body: dict[str, Any], model: str,
    stream: bool,
) -> Response:  # fmt: skip
    if stream:
        return NdjsonResponse(_streamed(request, targets, path, body, model))
    try:
        async for _ in manage.progress(targets, path, body, model):
            pass
    finally:
        await refresh_models(request)
    return JSONResponse({"status": "success"})


@router.post("/api/pull")
async def pull(request: Request, admin: AdminDep) -> Response:
    """Download a model onto the chosen Ollama backends, with Ollama's progress lines."""
    body = await parse_body(request, PullRequest)
    model = _name(request, body.target)
    targets = manage.choose(_backends(request), _wanted(request, body.backend))
    payload = {"model": model, "insecure": body.insecure}
    return await _progress(request, targets, "/api/pull", payload, model, body.stream)


@router.post("/api/push")
async def push(request: Request, admin: AdminDep) -> Response:
    """Upload a model from one Ollama backend to its registry."""
    body = await parse_body(request, PushRequest)
    model = _name(request, body.target)
    targets = manage.choose(_backends(request), _wanted(request, body.backend), model)[:1]
    payload = {"model": model, "insecure": body.insecure}
    return await _progress(request, targets, "/api/push", payload, model, body.stream)


@router.post("/api/create")
async def create(request: Request, admin: AdminDep) -> Response:
    """Create a model (from another, with a system prompt, template, …) on the backends."""
    body = await parse_body(request, CreateRequest)
    model = _name(request, body.target)
    if body.from_ is not None:
        _name(request, body.from_, "from")
    targets = manage.choose(_backends(request), _wanted(request, body.backend))
    payload = body.model_dump(by_alias=True, exclude_none=True, exclude={"backend", "name"})
    payload["model"] = model
    return await _progress(request, targets, "/api/create", payload, model, body.stream)


@router.delete("/api/delete")
async def delete(request: Request, admin: AdminDep) -> dict[str, Any]:
    """Remove a model from the backends that have it."""
    body = await parse_body(request, DeleteRequest)
    model = _name(request, body.target)
    targets = manage.choose(_backends(request), _wanted(request, body.backend), model)
    try:
        return await manage.each(targets, "DELETE", "/api/delete", {"model": model}, model)
    finally:
        await refresh_models(request)


@router.post("/api/copy")
async def copy(request: Request, admin: AdminDep) -> dict[str, Any]:
    """Copy a model under a new name on the backends that have it."""
    body = await parse_body(request, CopyRequest)
    source = _name(request, body.source, "source")
    destination = _name(request, body.destination, "destination")
    targets = manage.choose(_backends(request), _wanted(request, body.backend), source)
    payload = {"source": source, "destination": destination}
    try:
        return await manage.each(targets, "POST", "/api/copy", payload, source)
    finally:
        await refresh_models(request)


def _digest(digest: str) -> str:
    if not DIGEST.match(digest):
        raise InvalidRequest("digest must be sha256:<64 hex digits>", param="digest")
    return digest


@router.head("/api/blobs/{digest}")
async def blob_exists(digest: str, request: Request, admin: AdminDep) -> Response:
    """200 when every chosen backend has the blob, else 404."""
    targets = manage.choose(_backends(request), _wanted(request, None))
    path = f"/api/blobs/{_digest(digest)}"
    try:
        await asyncio.gather(*(b.host.call("HEAD", path) for b in targets))
    except ModelNotFound:
        return Response(status_code=404)
    return Response(status_code=200)


@router.post("/api/blobs/{digest}")
async def blob_upload(digest: str, request: Request, admin: AdminDep) -> Response:
    """Upload a blob (for ``/api/create``) to every chosen backend."""
    targets = manage.choose(_backends(request), _wanted(request, None))
    path = f"/api/blobs/{_digest(digest)}"
    data = await request.body()
    await asyncio.gather(*(b.host.call("POST", path, raw=data) for b in targets))
    return Response(status_code=201)


@router.get("/api/models")
async def models_by_backend(request: Request, admin: AdminDep) -> dict[str, Any]:
    """Every backend with what it has and what it has loaded (the admin Models tab)."""
    backends = _backends(request)
    tags, loaded = await asyncio.gather(
        per_backend(backends, "/api/tags"), per_backend(backends, "/api/ps")
    )
    out = []
    for backend, have, running in zip(backends, tags, loaded, strict=True):
        if have is None:  # an OpenAI-kind server, or an Ollama that did not answer
            have = [{"name": m, "size": None} for m in backend.models]
        out.append(
            {
                "name": backend.name,
                "kind": backend.kind,
                "reachable": backend.reachable,
                "manageable": backend.kind == "ollama",
                "models": have,
                "loaded": running or [],
            }
        )
    return {"backends": out}


@router.post("/api/models/unload")
async def unload(request: Request, admin: AdminDep) -> dict[str, Any]:
    """Free a model's memory now (Ollama's ``keep_alive: 0``)."""
    body = await parse_body(request, UnloadRequest)
    model = _name(request, body.model)
    targets = manage.choose(_backends(request), body.backend, model)
    await unload_on(targets, model, 0)
    return {"status": "success", "backends": [b.name for b in targets]}
