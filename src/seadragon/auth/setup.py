"""First start without a script: a one-time setup link for the first administrator.

When a gateway starts on a database without users it issues a random token (256 bits),
stores only its SHA-256 with an expiry an hour away, and prints the link once. The
token is spent by deleting its row: of two requests racing with one token only one
deletes it, so only one administrator is ever made this way; once any user exists,
every token is refused and the remaining ones are purged.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.auth import accounts
from seadragon.db.engine import Database
from seadragon.db.tables import SetupToken, User
from seadragon.errors import PermissionDenied

TOKEN_TTL = timedelta(hours=1)
INVALID = "this setup link is invalid, expired or already used; sign in instead"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def setup_needed(session: AsyncSession) -> bool:
    """True while the database has no user at all."""
    return not (await session.execute(select(exists().where(User.id.is_not(None))))).scalar()


async def issue_token(database: Database) -> str | None:
    """A fresh setup token if no user exists yet (else None); only its digest is stored."""
    async with database.session() as session:
        now = datetime.now(UTC)
        await session.execute(delete(SetupToken).where(SetupToken.expires_at <= now))
        if not await setup_needed(session):
            await session.execute(delete(SetupToken))
            await session.commit()
            return None
        token = secrets.token_urlsafe(32)
        session.add(SetupToken(digest=_digest(token), expires_at=now + TOKEN_TTL))
        await session.commit()
        return token


async def complete_setup(session: AsyncSession, token: str, name: str, password: str) -> User:
    """Spend ``token`` and create the first administrator; flushes, the caller commits."""
    accounts.validate_user_name(name)
    accounts.validate_password(password)
    if not token.isascii() or not await setup_needed(session):
        raise PermissionDenied(INVALID, code="setup_unavailable")
    spent = await session.execute(
        delete(SetupToken).where(
            SetupToken.digest == _digest(token), SetupToken.expires_at > datetime.now(UTC)
        )
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise PermissionDenied(INVALID, code="setup_unavailable")
    user = await accounts.create_user(session, name, password, is_admin=True)
    await session.execute(delete(SetupToken))
    return user


def setup_url(host: str, port: int, token: str) -> str:
    """The link to print; the token rides in the fragment, which never reaches a log."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/setup#token={token}"
