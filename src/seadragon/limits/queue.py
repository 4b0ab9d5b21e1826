"""``LimitedQueue``: the gateway's queue, with limits checked before a job is queued.

It wraps whichever ``BaseQueueManager`` runs (memory or RabbitMQ), so every route that
submits a job is limited without knowing it; everything but ``submit`` passes through.
"""

from __future__ import annotations

from collections.abc import Iterable

from seadragon.limits.service import Limiter
from seadragon.queue.base import (
    BaseQueueManager,
    Delivery,
    Job,
    ModelInfo,
    QueueStatus,
    RequestInfo,
    Ticket,
    WorkerInfo,
)
from seadragon.queue.control_state import Mark, QueueControl, Switch


class LimitedQueue(BaseQueueManager):
    def __init__(self, inner: BaseQueueManager, limiter: Limiter) -> None:
        self.inner = inner
        self.limiter = limiter
        self.name = inner.name
        self.control: QueueControl = inner.control

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    @property
    def connected(self) -> bool:
        return self.inner.connected

    async def switch(self, switch: Switch, on: bool) -> Mark:
        return await self.inner.switch(switch, on)

    async def restore_control(self, marks: list[tuple[Switch, Mark]]) -> None:
        await self.inner.restore_control(marks)

    async def submit(self, job: Job) -> Ticket:
        await self.limiter.admit(job)
        try:
            return await self.inner.submit(job)
        except BaseException:
            self.limiter.release(job.id)
            raise

    async def cancel(self, request_id: str) -> bool:
        return await self.inner.cancel(request_id)

    async def clear(self, band: str | None = None) -> int:
        return await self.inner.clear(band)

    async def status(self) -> QueueStatus:
        return await self.inner.status()

    async def lookup(self, request_id: str) -> RequestInfo | None:
        return await self.inner.lookup(request_id)

    def models(self) -> dict[str, ModelInfo]:
        return self.inner.models()

    def workers(self) -> list[WorkerInfo]:
        return self.inner.workers()

    async def take(self, worker_id: str, models: Iterable[str]) -> Delivery:
        return await self.inner.take(worker_id, models)

    async def advertise(self, worker: WorkerInfo) -> None:
        await self.inner.advertise(worker)

    async def withdraw(self, worker_id: str) -> None:
        await self.inner.withdraw(worker_id)
