"""Simulated worker slots and ticket helpers for the queue tests.

``SlotPool`` runs ``slots`` concurrent loops that each ``take`` a job, emit ``Started``,
a few chunks spread over a fixed service time and ``End``, then settle, recording the
order of starts. It uses only the public ``BaseQueueManager`` API, so it drives every
queue implementation alike.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from seadragon.errors import RequestCancelled
from seadragon.queue.base import (
    BaseQueueManager,
    Chunk,
    Delivery,
    End,
    Event,
    Failed,
    Job,
    Position,
    Started,
    Ticket,
    WorkerInfo,
)

#: An aging interval that never elapses during a test.
NO_AGING = 1000.0


def make_job(band: str = "high", model: str = "m", label: str = "job") -> Job:
    return Job(
        id=f"{label}-{uuid.uuid4().hex[:8]}",
        kind="chat",
        model=model,
        body={"model": model, "messages": [{"role": "user", "content": label}]},
        band=band,
    )


def worker_info(worker_id: str, models: Iterable[str], slots: int) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id,
        backend=f"backend-{worker_id}",
        kind="openai",
        url="http://127.0.0.1:9",
        slots=slots,
        busy=0,
        models=list(models),
        reachable=True,
    )


async def outcome(ticket: Ticket, timeout: float = 10.0) -> list[Event]:
    """Every event of a ticket, up to and including its terminal one."""
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        async for event in ticket.events():
            events.append(event)
    assert events and isinstance(events[-1], End | Failed)
    assert not any(isinstance(e, End | Failed) for e in events[:-1])
    return events


def failure(events: Sequence[Event]) -> Exception | None:
    last = events[-1]
    return last.error if isinstance(last, Failed) else None


def without_positions(events: Iterable[Event]) -> list[Event]:
    """Events other than ``Position``, which an implementation may send more or less often."""
    return [event for event in events if not isinstance(event, Position)]


async def next_event(stream: AsyncIterator[Event], timeout: float = 5.0) -> Event:
    """The next event of a ticket's stream that is not a ``Position``."""
    async with asyncio.timeout(timeout):
        while isinstance(event := await anext(stream), Position):
            pass
    return event


async def wait_drained(queue: BaseQueueManager, timeout: float = 5.0) -> None:
    """Wait until the queue reports no queued job in any band."""
    async with asyncio.timeout(timeout):
        while True:
            status = await queue.status()
            if not status.queued and not any(band.depth for band in status.bands):
                return
            await asyncio.sleep(0.01)


async def finish_all(tickets: Iterable[Ticket], timeout: float = 10.0) -> list[list[Event]]:
    return list(await asyncio.gather(*(outcome(t, timeout) for t in tickets)))


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for state that has no event of its own (e.g. another process's adverts)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@dataclass
class Start:
    job_id: str
    band: str
    model: str
    worker_id: str
    at: float


@dataclass
class SlotPool:
    """``slots`` concurrent worker slots of one backend that serves ``models``."""

    queue: BaseQueueManager
    worker_id: str = "w1"
    models: Sequence[str] = ("m",)
    slots: int = 1
    service_s: float = 0.02
    chunks: int = 2
    starts: list[Start] = field(default_factory=list)
    delivered: Counter[str] = field(default_factory=Counter)
    cancelled_seen: list[str] = field(default_factory=list)
    started: asyncio.Queue[Start] = field(default_factory=asyncio.Queue)
    busy: int = 0
    max_busy: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> SlotPool:
        await self.queue.advertise(worker_info(self.worker_id, self.models, self.slots))
        self._tasks = [asyncio.create_task(self._slot()) for _ in range(self.slots)]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.queue.withdraw(self.worker_id)

    async def _slot(self) -> None:
        while True:
            delivery = await self.queue.take(self.worker_id, self.models)
            await self._run(delivery)

    async def _run(self, delivery: Delivery) -> None:
        job = delivery.job
        start = Start(job.id, delivery.band, job.model, self.worker_id, time.monotonic())
        self.starts.append(start)
        self.delivered[job.id] += 1
        self.busy += 1
        self.max_busy = max(self.max_busy, self.busy)
        self.started.put_nowait(start)
        try:
            await delivery.emit(
                Started(f"backend-{self.worker_id}", delivery.band, delivery.attempt)
            )
            for index in range(self.chunks):
                if await self._cancelled_within(delivery, self.service_s / self.chunks):
                    self.cancelled_seen.append(job.id)
                    return
                await delivery.emit(Chunk({"object": "chat.completion.chunk", "index": index}))
            await delivery.emit(End())
        except RequestCancelled:
            self.cancelled_seen.append(job.id)
        finally:
            self.busy -= 1
            await delivery.settle()

    @staticmethod
    async def _cancelled_within(delivery: Delivery, seconds: float) -> bool:
        """Simulate ``seconds`` of generation, stopping early on cancellation."""
        try:
            async with asyncio.timeout(seconds):
                await delivery.wait_cancelled()
        except TimeoutError:
            return False
        return True


async def low_job_wait(queue: BaseQueueManager, window: float, service_s: float) -> float | None:
    """Submit one low job while high traffic alone saturates one slot; its wait, or None."""
    high_tickets: list[Ticket] = []
    async with SlotPool(queue, slots=1, service_s=service_s, chunks=1) as pool:

        async def keep_high_backlog() -> None:
            # One new high job per high start keeps two or three always queued.
            while True:
                start = await pool.started.get()
                if start.band != "low":
                    high_tickets.append(await queue.submit(make_job("high", label="hi")))

        for _ in range(3):
            high_tickets.append(await queue.submit(make_job("high", label="hi")))
        feeder = asyncio.create_task(keep_high_backlog())
        await wait_until(lambda: len(pool.starts) >= 2)
        low = await queue.submit(make_job("low", label="starving"))
        submitted = time.monotonic()
        waited: float | None = None
        try:
            async with asyncio.timeout(window):
                async for event in low.events():
                    if isinstance(event, Started):
                        waited = time.monotonic() - submitted
                        break
        except TimeoutError:
            await queue.cancel(low.id)
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
    return waited
