"""``GET /metrics``: this gateway's Prometheus metrics, for an admin or the metrics token.

Prometheus authenticates with ``Authorization: Bearer <metrics_token>`` (set
``SEADRAGON_METRICS_TOKEN``); an admin's API key or session works too, so the figures
are never public. See ``docs/metrics.md``.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from seadragon.api.deps import get_caller
from seadragon.errors import NotFound, PermissionDenied
from seadragon.metrics import CONTENT_TYPE, Metrics
from seadragon.queue.base import BaseQueueManager

router = APIRouter(tags=["metrics"])


def metrics_token_matches(authorization: str | None, token: str) -> bool:
    """True when ``authorization`` is ``Bearer <token>`` for a configured ``token``."""
    if not token or not authorization:
        return False
    scheme, _, presented = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The Prometheus text exposition of this process."""
    state = request.app.state
    if not state.settings.metrics_enabled:
        raise NotFound("metrics are turned off (SEADRAGON_METRICS_ENABLED)")
    authorization = request.headers.get("authorization")
    if not metrics_token_matches(authorization, state.settings.metrics_token):
        caller = await get_caller(request)
        if not caller.is_admin:
            raise PermissionDenied("metrics need an administrator or the metrics token")
    registry: Metrics = state.metrics
    queue: BaseQueueManager = state.queue
    registry.observe_queue(await queue.status(), queue.models())
    return Response(registry.render(), media_type=CONTENT_TYPE)
