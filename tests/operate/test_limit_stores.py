"""The contract both limit stores keep, on a clock the test holds (SQLite and PostgreSQL
for the database store)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from seadragon.config import Settings
from seadragon.db.engine import Database
from seadragon.limits.rules import (
    ConcurrentRequestsExceeded,
    RequestsPerMinuteExceeded,
    Rule,
    Subject,
    TokenBudgetExceeded,
    TokensPerMinuteExceeded,
)
from seadragon.limits.store import LimitStore, MemoryLimitStore
from seadragon.limits.store_db import DatabaseLimitStore

LEASE_S = 300.0
#: 2026-01-31 23:59:00 UTC: a minute, a day and a month all end within the next minute.
T0 = datetime(2026, 1, 31, 23, 59, tzinfo=UTC).timestamp()


@pytest.fixture(params=["memory", "database"])
async def store(
    request: pytest.FixtureRequest, db_url: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[LimitStore]:
    """Each store; the database one on SQLite and on PostgreSQL (``db_url``)."""
    if request.param == "memory":
        if db_url.startswith("postgresql"):
            pytest.skip("the in-process store runs once, with the SQLite pass")
        yield MemoryLimitStore()
        return
    url = db_url
    database = Database(make_settings(database_url=url))
    await database.start()
    db_store = DatabaseLimitStore(database, LEASE_S)
    yield db_store
    await db_store.close()
    await database.close()


def subject(**rule: object) -> Subject:
    return Subject("u:1", "this account", Rule(**rule))  # type: ignore[arg-type]


async def test_requests_per_minute_window(store: LimitStore) -> None:
    s = [subject(requests_per_minute=2)]
    await store.admit(s, "a", T0)
    await store.admit(s, "b", T0 + 10)
    with pytest.raises(RequestsPerMinuteExceeded) as refused:
        await store.admit(s, "c", T0 + 30)
    assert refused.value.retry_after == 30
    await store.admit(s, "d", T0 + 60)  # a new minute


async def test_concurrency_frees_on_finish_and_when_a_lease_expires(store: LimitStore) -> None:
    s = [subject(concurrent_requests=1)]
    await store.admit(s, "a", T0)
    with pytest.raises(ConcurrentRequestsExceeded):
        await store.admit(s, "b", T0 + 1)
    await store.finish(s, "a", 0, T0 + 2)
    await store.admit(s, "b", T0 + 3)
    if isinstance(store, DatabaseLimitStore):  # a gateway that died never finishes "b"
        with pytest.raises(ConcurrentRequestsExceeded):
            await store.admit(s, "c", T0 + LEASE_S)
        await store.admit(s, "c", T0 + LEASE_S + 4)


async def test_tokens_count_when_a_request_ends(store: LimitStore) -> None:
    s = [subject(tokens_per_minute=10)]
    await store.admit(s, "a", T0)
    await store.admit(s, "b", T0)  # both admitted: nothing used yet
    await store.finish(s, "a", 6, T0 + 1)
    await store.finish(s, "b", 6, T0 + 2)
    with pytest.raises(TokensPerMinuteExceeded):
        await store.admit(s, "c", T0 + 3)
    await store.admit(s, "c", T0 + 61)


async def test_budget_per_month_and_day(store: LimitStore) -> None:
    month = [subject(token_budget=100, budget_period="month")]
    await store.admit(month, "a", T0)
    await store.finish(month, "a", 100, T0 + 1)
    with pytest.raises(TokenBudgetExceeded) as refused:
        await store.admit(month, "b", T0 + 20)
    assert refused.value.retry_after == 40  # February starts in 40 s
    await store.admit(month, "b", T0 + 60)

    day = [Subject("k:2", "this API key", Rule(token_budget=5, budget_period="day"))]
    await store.admit(day, "c", T0 + 60)  # 1 February
    await store.finish(day, "c", 5, T0 + 61)
    with pytest.raises(TokenBudgetExceeded) as refused:
        await store.admit(day, "d", T0 + 120)
    assert refused.value.retry_after == 86400 - 60


async def test_a_refusal_counts_against_no_subject(store: LimitStore) -> None:
    user = subject(requests_per_minute=5)
    key = Subject("k:9", "this API key", Rule(requests_per_minute=1))
    await store.admit([user, key], "a", T0)
    for lease in ("b", "c", "d"):
        with pytest.raises(RequestsPerMinuteExceeded):
            await store.admit([user, key], lease, T0 + 1)
    for lease in ("e", "f", "g", "h"):  # the user's own count is still 1 of 5
        await store.admit([user], lease, T0 + 2)
    with pytest.raises(RequestsPerMinuteExceeded):
        await store.admit([user], "i", T0 + 3)
