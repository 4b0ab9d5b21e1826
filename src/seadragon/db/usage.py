"""Usage from the request log: requests, tokens, waits and errors, grouped.

Groups are any of ``user``, ``key``, ``model``, ``band`` (entry band) and one time
bucket, ``day``, ``hour`` or ``minute`` (UTC, as ``2026-12-02``, ``2026-12-02T14:00``,
``2026-12-02T14:05``). Wait percentiles are interpolated like PostgreSQL's
``percentile_cont``: computed there in SQL, on SQLite in Python over the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.db.request_queries import RequestFilter
from seadragon.db.tables import RequestLog

GROUPS = ("user", "key", "model", "band", "day", "hour", "minute")
TIME_GROUPS = ("day", "hour", "minute")
_FORMATS = {
    "postgresql": {
        "day": "YYYY-MM-DD",
        "hour": 'YYYY-MM-DD"T"HH24:00',
        "minute": 'YYYY-MM-DD"T"HH24:MI',
    },
    "sqlite": {"day": "%Y-%m-%d", "hour": "%Y-%m-%dT%H:00", "minute": "%Y-%m-%dT%H:%M"},
}
_ERRORS = ("error", "timeout")


@dataclass(frozen=True)
class UsageQuery:
    group_by: tuple[str, ...]
    where: RequestFilter
    limit: int = 1000
    offset: int = 0


def _group_column(name: str, dialect: str) -> Any:
    c = RequestLog
    if name == "user":
        return c.user_id
    if name == "key":
        return c.key_id
    if name == "model":
        return c.model
    if name == "band":
        return c.entry_band
    fmt = _FORMATS["postgresql" if dialect == "postgresql" else "sqlite"][name]
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", c.queued_at), fmt)
    return func.strftime(fmt, c.queued_at)


def percentile(values: Sequence[float], q: float) -> float | None:
    """``percentile_cont(q)``: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def usage(session: AsyncSession, query: UsageQuery) -> tuple[list[dict[str, Any]], bool]:
    """One page of groups (ordered by the groups), and whether more follow."""
    dialect = session.get_bind().dialect.name
    groups = [_group_column(name, dialect).label(name) for name in query.group_by]
    c = RequestLog
    measures: list[Any] = [
        func.count().label("requests"),
        func.coalesce(func.sum(c.prompt_tokens), 0).label("prompt_tokens"),
        func.coalesce(func.sum(c.completion_tokens), 0).label("completion_tokens"),
        func.sum(case((c.status.in_(_ERRORS), 1), else_=0)).label("errors"),
        func.sum(case((c.status == "rejected", 1), else_=0)).label("rejected"),
    ]
    postgres = dialect == "postgresql"
    if postgres:
        measures.append(func.percentile_cont(0.5).within_group(c.wait_ms).label("wait_p50_ms"))
        measures.append(func.percentile_cont(0.95).within_group(c.wait_ms).label("wait_p95_ms"))
    statement = select(*groups, *measures)
    for condition in query.where.conditions():
        statement = statement.where(condition)
    if groups:
        statement = statement.group_by(*groups).order_by(*groups)
    statement = statement.limit(query.limit + 1).offset(query.offset)
    rows = [dict(row._mapping) for row in (await session.execute(statement)).all()]
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if not postgres and rows:
        await _add_percentiles(session, query, groups, rows)
    for row in rows:
        for name in ("wait_p50_ms", "wait_p95_ms"):
            if row.get(name) is not None:
                row[name] = round(float(row[name]), 1)
        for name in ("prompt_tokens", "completion_tokens", "errors", "rejected"):
            row[name] = int(row[name] or 0)
    return rows, more


async def _add_percentiles(
    session: AsyncSession,
    query: UsageQuery,
    groups: list[Any],
    rows: list[dict[str, Any]],
) -> None:
    names = list(query.group_by)
    waits: dict[tuple[Any, ...], list[float]] = {tuple(row[n] for n in names): [] for row in rows}
    statement = select(*groups, RequestLog.wait_ms).where(RequestLog.wait_ms.is_not(None))
    for condition in query.where.conditions():
        statement = statement.where(condition)
    if groups and len(rows) < 500:
        # Only the rows of this page's groups (SQLite compares row values since 3.15).
        statement = statement.where(tuple_(*[g.element for g in groups]).in_(list(waits)))
    result = await session.stream(statement)
    async for found in result:
        key = tuple(found[:-1])
        if key in waits:
            waits[key].append(float(found[-1]))
    for row in rows:
        values = waits[tuple(row[n] for n in names)]
        row["wait_p50_ms"] = percentile(values, 0.5)
        row["wait_p95_ms"] = percentile(values, 0.95)
