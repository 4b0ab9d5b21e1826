"""Limits hold across two gateways sharing the database (``limits_store=database``), on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Any

import httpx

from fakes.ollama_server import FakeOllama
from seadragon.app import create_app
from tests.api.conftest import Gateway, running, wait_for_models
from tests.operate.test_limits import (
    assert_limited,
    chat,
    clear_of_minute_boundary,
    key_ids,
    put_limit,
)
from tests.operate.traffic import user_ids


async def test_two_gateways_share_the_counts(gateway_factory: Any, db_url: str) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=3) as fake, ExitStack() as stack:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 2}
        one = await gateway_factory(
            [backend], models={"llama3"}, database_url=db_url, limits_store="database"
        )
        settings = one.settings.model_copy(update={"data_dir": one.settings.data_dir / "two"})
        other_app = create_app(settings)
        two = Gateway(stack.enter_context(running(other_app)), settings, one.keys, other_app)
        await wait_for_models(two, {"llama3"})
        both = (one, two)
        async with httpx.AsyncClient(timeout=30) as http:
            users = await user_ids(http, one)
            keys = await key_ids(http, one)
            assert (
                await put_limit(http, one, f"users/{users['alice']}", requests_per_minute=3)
            ).status_code == 200
            assert (
                await put_limit(http, two, f"keys/{keys[users['bob']]}", concurrent_requests=1)
            ).status_code == 200
            await clear_of_minute_boundary()

            answered = [(await chat(http, both[i % 2], "alice")).status_code for i in range(3)]
            assert answered == [200, 200, 200]
            assert_limited(await chat(http, one, "alice"), "requests_per_minute")
            assert_limited(await chat(http, two, "alice"), "requests_per_minute")

            fake.config.service_time = 2.0
            first = chat(http, one, "bob")
            await fake.until(lambda: fake.in_flight == 1)
            fake.config.service_time = 0.0
            assert_limited(await chat(http, two, "bob"), "concurrent_requests", 1)
            assert (await first).status_code == 200
            async with asyncio.timeout(10):
                while (again := await chat(http, two, "bob")).status_code == 429:
                    await asyncio.sleep(0.02)  # the lease goes once gateway one settles it
            assert again.status_code == 200


async def test_concurrent_admissions_never_overshoot(gateway_factory: Any, db_url: str) -> None:
    """Twenty requests at once through two gateways against a limit of five a minute."""
    with FakeOllama(models=["llama3:latest"], tokens=3) as fake, ExitStack() as stack:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama", "slots": 4}
        one = await gateway_factory(
            [backend], models={"llama3"}, database_url=db_url, limits_store="database"
        )
        settings = one.settings.model_copy(update={"data_dir": one.settings.data_dir / "two"})
        other_app = create_app(settings)
        two = Gateway(stack.enter_context(running(other_app)), settings, one.keys, other_app)
        await wait_for_models(two, {"llama3"})
        async with httpx.AsyncClient(timeout=60) as http:
            users = await user_ids(http, one)
            await put_limit(http, one, f"users/{users['alice']}", requests_per_minute=5)
            await clear_of_minute_boundary()
            responses = await asyncio.gather(
                *(chat(http, (one, two)[i % 2], "alice") for i in range(20))
            )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [429] * 15, statuses
