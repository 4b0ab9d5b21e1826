"""The API key cache: lookups stay off the database, revocation still lands in time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from seadragon.auth.accounts import create_user, issue_key
from seadragon.auth.service import AuthService
from seadragon.config import Settings
from seadragon.db import keys as key_repo
from seadragon.db.engine import Database
from seadragon.db.tables import ApiKey
from seadragon.errors import AuthenticationError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_refresh_ahead_keeps_lookups_off_the_request_path(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(key_cache_ttl_s=10.0)
    database = Database(settings)
    await database.start()
    clock = Clock()
    auth = AuthService(settings, database, clock=clock)
    loads = 0
    real_find = key_repo.find_key_by_digest

    async def counting_find(*args: object, **kwargs: object) -> object:
        nonlocal loads
        loads += 1
        return await real_find(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(key_repo, "find_key_by_digest", counting_find)
    try:
        async with database.session() as session:
            user = await create_user(session, "dana", "dana-password-1")
            row, new = await issue_key(session, settings, user, name="k")
            await session.commit()

        await auth.authenticate_key(new.plaintext)
        assert loads == 1
        clock.now += 5  # fresh: no database at all
        await auth.authenticate_key(new.plaintext)
        assert loads == 1

        clock.now += 4  # the last fifth of its life: answered from cache, reloaded behind
        async with database.session() as session:  # revoked elsewhere (another gateway)
            await session.execute(
                update(ApiKey).where(ApiKey.id == row.id).values(revoked_at=datetime.now(UTC))
            )
            await session.commit()
        caller = await auth.authenticate_key(new.plaintext)
        assert caller.key_id == row.id
        await asyncio.gather(*auth._tasks)  # the background reload has run
        assert loads == 2
        with pytest.raises(AuthenticationError, match="revoked"):
            await auth.authenticate_key(new.plaintext)  # well within key_cache_ttl_s
    finally:
        await auth.close()
        await database.close()
