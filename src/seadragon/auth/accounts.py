"""Account management shared by the HTTP routes and the CLI: users and API keys.

Functions take the caller's ``AsyncSession`` and flush but never commit, so a route or a
CLI command decides the unit of work. Validation failures are ``InvalidRequest`` naming
the field, so the API answers 400 and the CLI prints the message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.auth.keys import NewKey, generate_key
from seadragon.auth.passwords import hash_password_async
from seadragon.config import Settings
from seadragon.db import keys as key_repo
from seadragon.db import users as user_repo
from seadragon.db.tables import ApiKey, User
from seadragon.errors import Conflict, InvalidRequest

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
KEY_NAME = re.compile(r"[\w .@:/+-]{1,64}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
#: The longest an API key may be valid for.
MAX_KEY_DAYS = 3650


def validate_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise InvalidRequest(
            "name must be 1-64 characters: letters, digits, '_', '.', '@', '-' "
            "(starting with a letter or digit)",
            param="name",
        )
    return name


def validate_password(password: str, param: str = "password") -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", param=param
        )
    return password


def validate_key_name(name: str) -> str:
    if not KEY_NAME.fullmatch(name):
        raise InvalidRequest(
            "key name must be 1-64 characters of letters, digits, spaces or ._@:/+-",
            param="name",
        )
    return name


async def create_user(
    session: AsyncSession,
    name: str,
    password: str,
    *,
    is_admin: bool = False,
    max_band: str | None = None,
) -> User:
    validate_user_name(name)
    validate_password(password)
    if await user_repo.find_user(session, name) is not None:
        raise Conflict(f"a user named {name!r} already exists", param="name")
    password_hash = await hash_password_async(password)
    try:
        return await user_repo.add_user(
            session, name, password_hash, is_admin=is_admin, max_band=max_band
        )
    except IntegrityError:
        raise Conflict(f"a user named {name!r} already exists", param="name") from None


async def update_user(
    session: AsyncSession,
    user: User,
    *,
    disabled: bool | None = None,
    is_admin: bool | None = None,
    password: str | None = None,
    max_band: str | None = None,
) -> User:
    """Change a user; disabling or a new password signs them out everywhere.

    ``max_band`` must already be checked against the configured bands (``check_band``).
    """
    if max_band is not None:
        user.max_band = max_band
    if password is not None:
        validate_password(password)
        user.password_hash = await hash_password_async(password)
    if is_admin is not None:
        user.is_admin = is_admin
    if disabled is not None:
        user.disabled = disabled
    if disabled or password is not None:
        await user_repo.end_user_sessions(session, user.id)
    await session.flush()
    return user


def check_expiry(expires_at: datetime, *, now: datetime | None = None) -> datetime:
    """An expiry in aware UTC, in the future and at most ``MAX_KEY_DAYS`` away."""
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    try:
        expires_at = expires_at.astimezone(UTC)
        too_late = expires_at > now + timedelta(days=MAX_KEY_DAYS)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past the year 9999 in UTC
        too_late = True
    if too_late:
        raise InvalidRequest(
            f"expires_at must be at most {MAX_KEY_DAYS} days from now", param="expires_at"
        )
    if expires_at <= now:
        raise InvalidRequest("expires_at must be in the future", param="expires_at")
    return expires_at


def check_band(settings: Settings, band: str) -> str:
    if band not in settings.bands:
        raise InvalidRequest(f"band must be one of {', '.join(settings.bands)}", param="band")
    return band


def max_band_of(settings: Settings, user: User) -> str:
    """The highest band ``user`` may give their own keys (an admin sets it per user)."""
    if user.max_band in settings.bands:
        return user.max_band
    return settings.api_key_default_band  # unset, or a band no longer configured


def lower_band(settings: Settings, *bands: str) -> str:
    """The lowest of ``bands`` in priority."""
    return max(bands, key=settings.bands.index)


def band_allowed(settings: Settings, band: str, cap: str) -> bool:
    return settings.bands.index(band) >= settings.bands.index(cap)


async def issue_key(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    name: str,
    band: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, NewKey]:
    """Create a key for ``user``; the returned ``NewKey.plaintext`` is its only copy."""
    validate_key_name(name)
    band = check_band(settings, band or settings.api_key_default_band)
    if expires_at is not None:
        expires_at = check_expiry(expires_at)
    new = generate_key()
    row = await key_repo.add_key(
        session,
        user_id=user.id,
        name=name,
        prefix=new.prefix,
        last4=new.last4,
        digest=new.digest,
        band=band,
        expires_at=expires_at,
    )
    return row, new
