"""A real gateway on a real port, in front of fake backends, with seeded accounts.

The gateway runs in uvicorn on its own thread and event loop, as in production, so
streaming, disconnects and timing are real; tests talk to it over HTTP only.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from bench.processes import delete_namespace

from seadragon.app import create_app
from seadragon.auth.accounts import create_user, issue_key
from seadragon.config import Settings
from seadragon.db.engine import Database
from services import require_rabbitmq


@dataclass
class Gateway:
    url: str
    settings: Settings
    keys: dict[str, str]
    app: Any

    def headers(self, who: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port in a thread; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not server.started:
            raise RuntimeError("the gateway did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def seed(settings: Settings) -> dict[str, str]:
    """An admin and two users, each with an API key (bands: high, high, high)."""
    database = Database(settings)
    await database.start()
    keys: dict[str, str] = {}
    try:
        async with database.session() as session:
            for name, admin, band in (
                ("root", True, "high"),
                ("alice", False, "high"),
                ("bob", False, "high"),
                ("carol", False, "low"),
            ):
                user = await create_user(session, name, f"{name}-password-1", is_admin=admin)
                _, new = await issue_key(session, settings, user, name="tests", band=band)
                keys[name] = new.plaintext
            await session.commit()
    finally:
        await database.close()
    return keys


async def wait_for_models(gateway: Gateway, models: set[str], timeout: float = 20) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout):
        while True:
            response = await client.get(f"{gateway.url}/v1/models", headers=gateway.headers())
            if response.status_code == 200:
                served = {m["id"] for m in response.json()["data"]}
                if models <= served:
                    return
            await asyncio.sleep(0.05)


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator[Any]:
    """``await gateway_factory(backends=[...], models={...}, **settings)`` → Gateway."""
    stack: list[Any] = []

    async def factory(
        backends: list[dict[str, Any]], models: set[str] | None = None, **overrides: Any
    ) -> Gateway:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"gw{len(stack)}",
            "local_model": "off",
            "backends": backends,
            "secret_key": "test-secret-key-with-enough-entropy-0123456789",
            "key_cache_ttl_s": 0.0,
            "model_refresh_s": 0.5,
        }
        values.update(overrides)
        settings = Settings(**values)
        keys = await seed(settings)
        app = create_app(settings)
        context = running(app)
        url = context.__enter__()
        stack.append(context)
        gateway = Gateway(url=url, settings=settings, keys=keys, app=app)
        if models:
            await wait_for_models(gateway, models)
        return gateway

    yield factory
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture(params=["memory", "rabbitmq"])
async def queue_settings(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """Gateway settings for each queue mode (RabbitMQ: workers in the gateway, a fresh
    namespace deleted after), for tests that run on both; serves the model ``llama3``."""
    if request.param == "memory":
        yield {}
        return
    require_rabbitmq()
    namespace = f"sdtest-{uuid.uuid4().hex[:10]}"
    yield {"queue": "rabbitmq", "serve_workers": "on", "rabbitmq_namespace": namespace}
    await delete_namespace({"SEADRAGON_RABBITMQ_NAMESPACE": namespace}, ("llama3",))
