"""``GET /api/usage``: requests, tokens, waits and errors grouped by user, key, model, band
and a time bucket. Users see their own usage; admins everyone's.

A long time range is answered one window of at most ``MAX_SPAN_DAYS`` at a time:
``next`` holds the query parameters of the following page (``null`` at the end), so
no request ever aggregates more than a month of the log.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from seadragon.api.routes.requests import DatabaseDep, FilterDep
from seadragon.db.usage import GROUPS, TIME_GROUPS, UsageQuery, usage
from seadragon.errors import InvalidRequest

router = APIRouter(prefix="/api", tags=["usage"])

MAX_SPAN_DAYS = 31
DEFAULT_SPAN = timedelta(days=30)
MAX_GROUPS = 1000


def parse_groups(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in GROUPS]
    if unknown or len(set(names)) != len(names):
        raise InvalidRequest(
            f"group_by takes distinct names among {', '.join(GROUPS)}", param="group_by"
        )
    if len([name for name in names if name in TIME_GROUPS]) > 1:
        raise InvalidRequest("group_by takes one of day, hour, minute", param="group_by")
    return names


@router.get("/usage")
async def get_usage(
    where: FilterDep,
    database: DatabaseDep,
    group_by: Annotated[str, Query(max_length=100)] = "user,model,day",
    limit: Annotated[int, Query(ge=1, le=MAX_GROUPS)] = MAX_GROUPS,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Usage per group in one time window; ``next`` pages through groups, then windows."""
    groups = parse_groups(group_by)
    until = where.until or datetime.now(UTC)
    since = where.since or until - DEFAULT_SPAN
    window_end = min(until, since + timedelta(days=MAX_SPAN_DAYS))
    query = UsageQuery(groups, replace(where, since=since, until=window_end), limit, offset)
    async with database.session() as session:
        rows, more = await usage(session, query)
    common = {"group_by": ",".join(groups), "limit": limit}
    next_page: dict[str, Any] | None = None
    if more:
        next_page = {
            **common,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "offset": offset + limit,
        }
    elif window_end < until:
        next_page = {**common, "since": window_end.isoformat(), "until": until.isoformat()}
    return {
        "group_by": list(groups),
        "since": since.isoformat(),
        "until": window_end.isoformat(),
        "data": rows,
        "next": next_page,
    }
