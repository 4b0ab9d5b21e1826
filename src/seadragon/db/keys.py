"""Repository for API keys. Keys are found by their SHA-256 digest; the key itself is never here.

Nothing here commits: the caller owns the unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.db.tables import ApiKey, User


async def add_key(
    session: AsyncSession,
    *,
    user_id: int,
    name: str,
    prefix: str,
    last4: str,
    digest: str,
    band: str,
    expires_at: datetime | None = None,
) -> ApiKey:
    key = ApiKey(
        user_id=user_id,
        name=name,
        prefix=prefix,
        last4=last4,
        hash=digest,
        band=band,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return key


async def find_key_by_digest(session: AsyncSession, digest: str) -> tuple[ApiKey, User] | None:
    result = await session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.hash == digest)
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def get_key(session: AsyncSession, key_id: int) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_keys(session: AsyncSession, user_id: int | None = None) -> Sequence[ApiKey]:
    """Keys of one user, or of everyone when ``user_id`` is None (admin view)."""
    query = select(ApiKey).order_by(ApiKey.id)
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    result = await session.execute(query)
    return result.scalars().all()


async def revoke_key(session: AsyncSession, key: ApiKey, at: datetime) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = at
        await session.flush()
    return key


async def mark_used(session: AsyncSession, key_id: int, at: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))
