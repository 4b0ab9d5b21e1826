"""``seadragon worker``: a process that feeds one or more backends from the shared queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from seadragon.backends.registry import start_backends
from seadragon.config import Settings
from seadragon.diagnostics import memory_snapshots
from seadragon.errors import ConfigError
from seadragon.metrics import Metrics
from seadragon.queue.base import BaseQueueManager
from seadragon.worker.metrics_server import MetricsServer
from seadragon.worker.pool import WorkerPool

log = logging.getLogger("seadragon.worker")


def make_worker_queue(settings: Settings) -> BaseQueueManager:
    if settings.queue != "rabbitmq":
        raise ConfigError(
            "seadragon worker needs SEADRAGON_QUEUE=rabbitmq: with the in-process queue, "
            "`seadragon serve` runs the workers itself"
        )
    from seadragon.queue.rabbitmq.manager import RabbitMQQueue

    return RabbitMQQueue(settings)


def only_backends(settings: Settings, names: list[str]) -> Settings:
    """``settings`` serving just the configured backends called ``names``.

    One configuration file can then describe every GPU host, and each host's worker
    picks its own entry (``seadragon worker --backend gpu1``).
    """
    configured = {backend.name: backend for backend in settings.backends}
    unknown = [name for name in names if name not in configured]
    if unknown:
        known = ", ".join(configured) or "none"
        raise ConfigError(
            f"no configured backend named {', '.join(map(repr, unknown))} "
            f"(SEADRAGON_BACKENDS or the config file's [[backends]]; configured: {known})"
        )
    chosen = [configured[name] for name in dict.fromkeys(names)]
    return settings.model_copy(update={"backends": chosen, "local_model": "off"})


def serve_worker(settings: Settings) -> None:
    """Run ``run_worker`` on uvloop when it is installed (it is with uvicorn[standard]).

    The worker's hot path is small AMQP writes, one per chunk; uvloop's transports cost
    a fraction of asyncio's per write.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(run_worker(settings))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run_worker(settings))


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop``); running jobs get a grace period."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    memory_snapshots(loop, "worker")
    metrics = Metrics(settings.bands)
    # Built first: a listener that may not be opened stops the worker before it takes work.
    server = MetricsServer(metrics, settings) if settings.worker_metrics_port else None
    async with AsyncExitStack() as stack:
        queue = make_worker_queue(settings)
        await queue.start()
        stack.push_async_callback(queue.close)
        backends = await start_backends(settings)
        stack.push_async_callback(backends.close)
        if not backends.items:
            raise ConfigError("no backend to serve: pass --url (or configure backends)")
        pool = WorkerPool(queue, backends.items, settings)
        await pool.start()
        stack.push_async_callback(pool.close)
        if server is not None:
            metrics.watch_workers(lambda: [worker.info() for worker in pool.workers])
            await server.start()
            stack.push_async_callback(server.close)
        for worker in pool.workers:
            log.info(
                "worker %s serving %s with %d slot(s): %s",
                worker.id,
                worker.backend.config.url,
                worker.backend.slots,
                ", ".join(worker.models) or "(no models yet)",
            )
        await stop.wait()
        log.info("worker stopping: finishing running requests")
