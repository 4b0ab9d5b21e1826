"""The composition root: ``create_app(settings)`` wires every part; the lifespan owns them.

Live objects sit on ``app.state`` (settings, database, auth, queue, backends, workers,
request_log), made at start-up and closed at shutdown in reverse order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from seadragon.api.errors import install_error_handlers
from seadragon.api.guard import RequestGuard
from seadragon.api.routes import auth, health, keys, openai, queue, users, web
from seadragon.auth.service import AuthService
from seadragon.backends.registry import start_backends
from seadragon.config import Settings, get_settings
from seadragon.db.engine import Database
from seadragon.db.request_log import RequestLogWriter
from seadragon.queue.base import BaseQueueManager
from seadragon.worker.pool import WorkerPool

log = logging.getLogger("seadragon")

#: Every HTTP route of the gateway, by area.
ROUTERS = (
    openai.router,
    queue.router,
    health.router,
    auth.router,
    users.router,
    keys.router,
    web.router,
)


def make_queue(settings: Settings) -> BaseQueueManager:
    if settings.queue == "rabbitmq":
        from seadragon.queue.rabbitmq.manager import RabbitMQQueue

        return RabbitMQQueue(settings)
    from seadragon.queue.memory import MemoryQueue

    return MemoryQueue(settings)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with AsyncExitStack() as stack:
        database = Database(settings)
        await database.start()
        stack.push_async_callback(database.close)
        app.state.database = database
        app.state.auth = AuthService(settings, database)
        stack.push_async_callback(app.state.auth.close)

        writer = RequestLogWriter(database)
        await writer.start()
        stack.push_async_callback(writer.close)
        app.state.request_log = writer

        queue_manager = make_queue(settings)
        await queue_manager.start()
        stack.push_async_callback(queue_manager.close)
        app.state.queue = queue_manager

        app.state.workers = None
        if settings.embedded_workers:
            backends = await start_backends(settings)
            stack.push_async_callback(backends.close)
            pool = WorkerPool(queue_manager, backends.items, settings)
            await pool.start()
            stack.push_async_callback(pool.close)
            app.state.workers = pool
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
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
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
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    return app


def factory() -> FastAPI:
    """Entry point for ``uvicorn --factory seadragon.app:factory``."""
    return create_app()
