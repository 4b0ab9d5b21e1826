"""Health in the original plan's shape, plus liveness and readiness probes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from seadragon.queue.base import BaseQueueManager

router = APIRouter(tags=["health"])
log = logging.getLogger("seadragon.health")


async def _database_ok(request: Request) -> bool:
    try:
        async with asyncio.timeout(2), request.app.state.database.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; say which kind in the log
        log.warning("database check failed: %s", type(exc).__name__)
        return False
    return True


@router.get("/api/health")
async def health(request: Request) -> dict[str, Any]:
    """``healthy`` when the queue is up and at least one backend answers; else ``degraded``."""
    queue: BaseQueueManager = request.app.state.queue
    workers = queue.workers()
    backends = [
        {
            "name": w.backend,
            "kind": w.kind,
            "reachable": w.reachable,
            "slots": w.slots,
            "busy": w.busy,
            "models": w.models,
            "error": w.error,
        }
        for w in workers
    ]
    ollama_connected = any(w.reachable for w in workers if w.kind == "ollama")
    rabbitmq_connected = queue.name == "rabbitmq" and queue.connected
    any_backend = any(w.reachable for w in workers)
    healthy = queue.connected and any_backend
    return {
        "status": "healthy" if healthy else "degraded",
        "ollama_connected": ollama_connected,
        "rabbitmq_connected": rabbitmq_connected,
        "queue": queue.name,
        "queue_connected": queue.connected,
        "backends": backends,
    }


@router.get("/livez", include_in_schema=False)
async def livez() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """Ready to accept requests: database answers and the queue is connected."""
    queue: BaseQueueManager = request.app.state.queue
    checks = {"database": await _database_ok(request), "queue": queue.connected}
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
