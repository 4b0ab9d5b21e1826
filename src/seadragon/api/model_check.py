"""The one check every route that names a model makes before queueing anything."""

from __future__ import annotations

from fastapi import Request

from seadragon.errors import ModelNotFound, ModelUnavailable
from seadragon.queue.availability import ModelAvailability
from seadragon.queue.base import BaseQueueManager

#: Unreachable backends are probed every 2 s: a retry after this has a fair chance.
DOWN_RETRY_AFTER_S = 5.0


def require_model(request: Request, model: str, not_found: str | None = None) -> None:
    """404 for a model nobody serves (``not_found`` its message); 503 with ``Retry-After``
    for one whose backends are all down now."""
    queue: BaseQueueManager = request.app.state.queue
    if model in queue.models():
        return
    availability: ModelAvailability | None = getattr(request.app.state, "availability", None)
    if availability is not None and availability.is_down(model, queue.workers()):
        raise ModelUnavailable(
            f"every backend serving the model '{model}' is unreachable right now; retry later",
            param="model",
            retry_after=DOWN_RETRY_AFTER_S,
        )
    raise ModelNotFound(
        not_found or f"The model '{model}' does not exist or no backend serves it now",
        param="model",
    )
