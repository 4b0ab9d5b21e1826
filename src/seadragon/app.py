"""The composition root: ``create_app(settings)`` wires every part; the lifespan owns them.

Live objects sit on ``app.state`` (settings, database, auth, queue, backends, workers,
request_log), made at start-up and closed at shutdown in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from seadragon.api.errors import install_error_handlers
from seadragon.api.guard import GuardLimits, RequestGuard
from seadragon.api.inference_routes import describe
from seadragon.api.ollama_surface import OllamaSurface
from seadragon.api.routes import (
    auth,
    conversations,
    docs,
    health,
    keys,
    limits,
    metrics,
    ollama,
    ollama_admin,
    ollama_meta,
    openai,
    queue,
    queue_control,
    requests,
    responses,
    setup,
    usage,
    users,
    web,
)
from seadragon.api.scope import ScopeContext
from seadragon.auth.service import AuthService
from seadragon.auth.setup import issue_token, setup_url
from seadragon.backends.registry import start_backends
from seadragon.config import Settings, get_settings
from seadragon.db import queue_audit
from seadragon.db.engine import Database
from seadragon.db.request_log import RequestLogWriter
from seadragon.db.retention import RequestLogRetention
from seadragon.diagnostics import memory_snapshots
from seadragon.limits.queue import LimitedQueue
from seadragon.limits.service import Limiter
from seadragon.limits.store import LimitStore, MemoryLimitStore
from seadragon.limits.store_db import DatabaseLimitStore
from seadragon.logs import request_line
from seadragon.metrics import Metrics
from seadragon.queue.availability import ModelAvailability
from seadragon.queue.base import BaseQueueManager
from seadragon.worker.pool import WorkerPool

log = logging.getLogger("seadragon")

#: Every HTTP route of the gateway, by area.
ROUTERS = (
    openai.router,
    responses.router,
    ollama.router,
    ollama_meta.router,
    ollama_admin.router,
    queue.router,
    queue_control.router,
    health.router,
    auth.router,
    users.router,
    keys.router,
    conversations.router,
    setup.router,
    web.router,
    metrics.router,
    requests.router,
    usage.router,
    limits.router,
    docs.router,
)


async def announce_setup(settings: Settings, database: Database) -> None:
    """On a database without users, print the one-time link that makes the first admin."""
    token = await issue_token(database)
    if token is None:
        return
    url = setup_url(settings.host, settings.port, token)
    # Printed, not logged: it must reach whoever started the server, whatever the log
    # configuration, and no log file should keep it.
    sys.stderr.write(
        "\n  Seadragon has no users yet. Create the first administrator here (the link works"
        f"\n  once, for the next hour):\n\n    {url}\n\n"
    )
    sys.stderr.flush()


def make_queue(settings: Settings) -> BaseQueueManager:
    if settings.queue == "rabbitmq":
        from seadragon.queue.rabbitmq.manager import RabbitMQQueue

        return RabbitMQQueue(settings)
    from seadragon.queue.memory import MemoryQueue

    return MemoryQueue(settings)


def make_limiter(settings: Settings, database: Database) -> Limiter:
    store: LimitStore
    if settings.shared_limits:
        lease_s = settings.max_queue_wait_s + settings.request_timeout_s + 60
        store = DatabaseLimitStore(database, lease_s)
    else:
        store = MemoryLimitStore()
    return Limiter(database, store, settings.key_cache_ttl_s)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    memory_snapshots(asyncio.get_running_loop(), "gateway")
    async with AsyncExitStack() as stack:
        database = Database(settings)
        await database.start()
        stack.push_async_callback(database.close)
        app.state.database = database
        app.state.auth = AuthService(settings, database)
        stack.push_async_callback(app.state.auth.close)
        await announce_setup(settings, database)

        app.state.limits = limiter = make_limiter(settings, database)
        await limiter.start()
        stack.push_async_callback(limiter.close)

        app.state.metrics = registry = Metrics(settings.bands)
        observers = [request_line, limiter.finished]
        if settings.metrics_enabled:
            observers.insert(0, registry.observe_request)
        writer = RequestLogWriter(database, observers=observers)
        await writer.start()
        stack.push_async_callback(writer.close)
        app.state.request_log = writer
        retention = RequestLogRetention(database, settings.request_log_retention_days)
        await retention.start()
        stack.push_async_callback(retention.close)

        queue_manager = make_queue(settings)
        await queue_manager.start()
        stack.push_async_callback(queue_manager.close)
        async with database.session() as session:  # pauses and drains outlive restarts
            await queue_manager.restore_control(await queue_audit.switch_marks(session))
        app.state.queue = LimitedQueue(queue_manager, limiter)
        availability = ModelAvailability(settings.model_down_window_s)
        watcher = asyncio.create_task(availability.watch(queue_manager.workers))
        stack.callback(watcher.cancel)
        app.state.availability = availability

        app.state.workers = None
        if settings.embedded_workers:
            backends = await start_backends(settings)
            stack.push_async_callback(backends.close)
            pool = WorkerPool(queue_manager, backends.items, settings)
            await pool.start()
            stack.push_async_callback(pool.close)
            app.state.workers = pool
            registry.watch_workers(lambda: [worker.info() for worker in pool.workers])
        log.info(
            "Seadragon listening on http://%s:%d (queue=%s)",
            settings.host,
            settings.port,
            settings.queue,
        )
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway; nothing starts until the ASGI lifespan runs."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Seadragon",
        version="0.1.0",
        lifespan=lifespan,
        # No public schema, no pages loading Swagger UI from a CDN: see api/routes/docs.py.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # Seadragon exports Prometheus metrics itself; FastAPI's OpenTelemetry hooks
        # would otherwise look up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    describe(app)
    if settings.cors_origins:
        # Credentials only ever go to origins named one by one, never to "*".
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o for o in settings.cors_origins if o != "*"],
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE", "PATCH"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-API-Key",
                "X-CSRF-Token",
                "X-Request-Id",
                "X-Seadragon-Priority",
            ],
            expose_headers=["X-Request-Id", "Retry-After", "X-Seadragon-Band"],
        )
    limits = GuardLimits(
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
        max_headers=settings.max_headers,
        max_public_body_bytes=settings.max_public_body_bytes,
        max_inflight_body_bytes=settings.max_inflight_body_bytes,
        body_timeout_s=settings.body_timeout_s,
    )
    app.add_middleware(RequestGuard, limits=limits)
    app.add_middleware(ScopeContext)
    app.add_middleware(OllamaSurface)  # outermost: it reshapes the guard's errors too
    return app


def factory() -> FastAPI:
    """Entry point for ``uvicorn --factory seadragon.app:factory``."""
    return create_app()
