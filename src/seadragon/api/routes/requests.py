"""The request log over HTTP: ``GET /api/requests`` (a page) and ``/api/requests.csv``.

Admins see every row; anyone else only their own, and asking for another user's rows
is refused (403), never answered with an empty list that would confirm nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from seadragon.api.deps import UserDep, get_database
from seadragon.auth.caller import Caller
from seadragon.db.engine import Database
from seadragon.db.request_queries import MAX_PAGE, RequestFilter, list_requests, row_dict
from seadragon.errors import InvalidRequest, PermissionDenied

router = APIRouter(prefix="/api", tags=["request log"])

Status = Literal["ok", "error", "cancelled", "cleared", "timeout", "rejected"]
CSV_COLUMNS = (
    "id", "request_id", "queued_at", "user_id", "key_id", "route", "model", "backend",
    "entry_band", "dispatch_band", "status", "http_status", "error_kind", "stream",
    "wait_ms", "run_ms", "ttft_ms", "prompt_tokens", "completion_tokens", "finished_at",
)  # fmt: skip


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def request_filter(
    request: Request,
    caller: UserDep,
    user_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    key_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    model: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    band: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    status: Status | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> RequestFilter:
    """The filters of a request-log query, checked; a non-admin is held to their own rows."""
    bands = request.app.state.settings.bands
    if band is not None and band not in bands:
        raise InvalidRequest(f"unknown band {band!r}; bands are {bands}", param="band")
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("since must be before until", param="since")
    return RequestFilter(
        user_id=_own_user(caller, user_id),
        key_id=key_id,
        model=model,
        band=band,
        status=status,
        since=since,
        until=until,
    )


def _own_user(caller: Caller, user_id: int | None) -> int | None:
    if caller.is_admin:
        return user_id
    if user_id is not None and user_id != caller.user_id:
        raise PermissionDenied("you can see only your own requests", param="user_id")
    return caller.user_id


FilterDep = Annotated[RequestFilter, Depends(request_filter)]
DatabaseDep = Annotated[Database, Depends(get_database)]


@router.get("/requests")
async def requests_page(
    where: FilterDep,
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    """Request-log rows, newest first; ``next_before`` pages on (``null`` at the end)."""
    async with database.session() as session:
        rows = await list_requests(session, where, limit=limit + 1, before_id=before)
    more = len(rows) > limit
    page = [row_dict(row) for row in rows[:limit]]
    return {"data": page, "next_before": page[-1]["id"] if more else None}


@router.get("/requests.csv")
async def requests_csv(where: FilterDep, database: DatabaseDep) -> StreamingResponse:
    """Every matching row as CSV, newest first, read and sent a page at a time."""

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        before: int | None = None
        while True:
            async with database.session() as session:
                rows = await list_requests(session, where, limit=MAX_PAGE, before_id=before)
            for row in rows:
                data = row_dict(row)
                writer.writerow([_cell(data[name]) for name in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(rows) < MAX_PAGE:
                return
            before = rows[-1].id

    headers = {"Content-Disposition": 'attachment; filename="seadragon-requests.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a spreadsheet must not run a model name as a formula
    return "" if value is None else value
