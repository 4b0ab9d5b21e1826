"""The OpenAPI document, for administrators only: ``GET /openapi.json``.

There is no interactive documentation page: FastAPI's loads Swagger UI's scripts from a
CDN, and a gateway's pages load scripts from their own origin only. Load the document
into any OpenAPI viewer instead (for example with an admin's API key as a bearer token).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from seadragon.api.deps import AdminDep

router = APIRouter(tags=["docs"])


@router.get("/openapi.json", include_in_schema=False)
async def openapi_document(request: Request, _: AdminDep) -> dict[str, Any]:
    """Every route of this gateway, described as OpenAPI 3."""
    document: dict[str, Any] = request.app.openapi()
    return document
