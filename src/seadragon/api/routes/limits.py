"""Limits per user and per key, set by administrators: ``/api/limits``.

``PUT`` replaces a subject's limits whole (a figure left out is no limit); ``DELETE``
removes them. A change applies on this gateway at once and on others within
``key_cache_ttl_s``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from seadragon.api.deps import AdminDep, DbSession, parse_body
from seadragon.db import keys as key_repo
from seadragon.db import limits as limit_repo
from seadragon.db import users as user_repo
from seadragon.db.tables import Limit
from seadragon.errors import NotFound
from seadragon.limits.service import Limiter
from seadragon.limits.spec import LimitSpec

router = APIRouter(prefix="/api/limits", tags=["limits"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def limit_out(row: Limit) -> dict[str, Any]:
    data: dict[str, Any] = {
        "scope": "user" if row.user_id is not None else "key",
        "user_id": row.user_id,
        "key_id": row.key_id,
    }
    data.update({name: getattr(row, name) for name in limit_repo.FIELDS})
    updated: datetime = row.updated_at
    data["updated_at"] = updated.isoformat()
    return data


def _limiter(request: Request) -> Limiter:
    limiter: Limiter = request.app.state.limits
    return limiter


@router.get("")
async def list_limits(admin: AdminDep, db: DbSession) -> dict[str, Any]:
    """Every limit set, on users and on keys."""
    return {"data": [limit_out(row) for row in await limit_repo.list_limits(db)]}


async def _subject(db: DbSession, scope: str, subject_id: int) -> dict[str, int]:
    if scope == "users":
        if await user_repo.get_user(db, subject_id) is None:
            raise NotFound(f"no user with id {subject_id}", param="user_id")
        return {"user_id": subject_id}
    if await key_repo.get_key(db, subject_id) is None:
        raise NotFound(f"no API key with id {subject_id}", param="key_id")
    return {"key_id": subject_id}


def _subject_routes(scope: str) -> None:
    """GET, PUT and DELETE ``/api/limits/{scope}/{id}`` for ``users`` or ``keys``."""

    @router.get(f"/{scope}/{{subject_id}}", name=f"get_{scope}_limit")
    async def get_limit(subject_id: Id, admin: AdminDep, db: DbSession) -> dict[str, Any]:
        """The limits of one user or key (404 when it has none)."""
        who = await _subject(db, scope, subject_id)
        row = await limit_repo.get_limit(db, **who)
        if row is None:
            raise NotFound(f"no limits set for {scope[:-1]} {subject_id}")
        return limit_out(row)

    @router.put(f"/{scope}/{{subject_id}}", name=f"set_{scope}_limit",
                openapi_extra={"requestBody": {"content": {"application/json": {
                    "schema": LimitSpec.model_json_schema()}}}})  # fmt: skip
    async def set_limit(
        subject_id: Id, request: Request, admin: AdminDep, db: DbSession
    ) -> dict[str, Any]:
        """Set (replace) the limits of one user or key."""
        spec = await parse_body(request, LimitSpec)
        who = await _subject(db, scope, subject_id)
        row = await limit_repo.set_limit(db, spec.values(), **who)
        await db.commit()
        _limiter(request).forget()
        return limit_out(row)

    @router.delete(f"/{scope}/{{subject_id}}", name=f"delete_{scope}_limit", status_code=204)
    async def delete_limit(
        subject_id: Id, request: Request, admin: AdminDep, db: DbSession
    ) -> Response:
        """Remove the limits of one user or key."""
        who = await _subject(db, scope, subject_id)
        if not await limit_repo.delete_limit(db, **who):
            raise NotFound(f"no limits set for {scope[:-1]} {subject_id}")
        await db.commit()
        _limiter(request).forget()
        return Response(status_code=204)


_subject_routes("users")
_subject_routes("keys")
