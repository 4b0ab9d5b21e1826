"""Repository for users and their login sessions (plain async functions on an AsyncSession).

Nothing here commits: the caller owns the unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.db.tables import LoginSession, User


async def add_user(
    session: AsyncSession,
    name: str,
    password_hash: str,
    *,
    is_admin: bool = False,
    max_band: str | None = None,
) -> User:
    user = User(
        name=name, password_hash=password_hash, is_admin=is_admin, disabled=False,
        max_band=max_band,
    )  # fmt: skip
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def find_user(session: AsyncSession, name: str) -> User | None:
    """Look a user up by name, ignoring case (names are unique case-insensitively)."""
    result = await session.execute(select(User).where(func.lower(User.name) == name.lower()))
    return result.scalars().first()


async def list_users(session: AsyncSession) -> Sequence[User]:
    result = await session.execute(select(User).order_by(User.id))
    return result.scalars().all()


async def delete_user(session: AsyncSession, user: User) -> None:
    await session.delete(user)
    await session.flush()


async def add_login_session(
    session: AsyncSession, session_id: str, user_id: int, expires_at: datetime
) -> LoginSession:
    row = LoginSession(id=session_id, user_id=user_id, expires_at=expires_at)
    session.add(row)
    await session.flush()
    return row


async def get_login_session(
    session: AsyncSession, session_id: str
) -> tuple[LoginSession, User] | None:
    result = await session.execute(
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.id == session_id)
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def end_login_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(LoginSession).where(LoginSession.id == session_id))


async def end_user_sessions(session: AsyncSession, user_id: int) -> None:
    """Sign a user out everywhere (password change, disabling)."""
    await session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))


async def purge_expired_sessions(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
