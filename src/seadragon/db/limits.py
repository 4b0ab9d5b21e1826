"""Repository for limits: one row per limited user or key. Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.db.tables import Limit, utcnow

FIELDS = (
    "requests_per_minute",
    "tokens_per_minute",
    "concurrent_requests",
    "allowed_models",
    "token_budget",
    "budget_period",
)


async def limits_for(
    session: AsyncSession, user_id: int | None, key_id: int | None
) -> tuple[Limit | None, Limit | None]:
    """The user's and the key's limits (either may be None)."""
    conditions = []
    if user_id is not None:
        conditions.append(Limit.user_id == user_id)
    if key_id is not None:
        conditions.append(Limit.key_id == key_id)
    if not conditions:
        return None, None
    found = (await session.scalars(select(Limit).where(or_(*conditions)))).all()
    user = next((row for row in found if row.user_id is not None), None)
    key = next((row for row in found if row.key_id is not None), None)
    return user, key


async def list_limits(session: AsyncSession) -> Sequence[Limit]:
    return (await session.scalars(select(Limit).order_by(Limit.id))).all()


async def get_limit(session: AsyncSession, *, user_id: int | None = None,
                    key_id: int | None = None) -> Limit | None:  # fmt: skip
    column = Limit.user_id if user_id is not None else Limit.key_id
    wanted = user_id if user_id is not None else key_id
    return await session.scalar(select(Limit).where(column == wanted))


async def set_limit(
    session: AsyncSession, values: dict[str, Any], *, user_id: int | None = None,
    key_id: int | None = None,
) -> Limit:  # fmt: skip
    """Create or replace the limits of one user or key."""
    row = await get_limit(session, user_id=user_id, key_id=key_id)
    if row is None:
        row = Limit(user_id=user_id, key_id=key_id)
        session.add(row)
    for name in FIELDS:
        setattr(row, name, values.get(name))
    row.updated_at = utcnow()
    await session.flush()
    return row


async def delete_limit(
    session: AsyncSession, *, user_id: int | None = None, key_id: int | None = None
) -> bool:
    column = Limit.user_id if user_id is not None else Limit.key_id
    wanted = user_id if user_id is not None else key_id
    result = await session.execute(delete(Limit).where(column == wanted))
    return bool(getattr(result, "rowcount", 0))
