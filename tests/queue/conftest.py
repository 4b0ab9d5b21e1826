"""The queue contract runs against every implementation with the same assertions.

RabbitMQ tests need a broker: on a laptop without one they skip, but with CI=true they
fail, so CI proves the distributed mode instead of silently skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from seadragon.config import Settings
from seadragon.queue.base import BaseQueueManager
from services import require_rabbitmq

#: The broker the RabbitMQ tests use.
RABBITMQ_URL = os.environ.get("SEADRAGON_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def queue_settings(**overrides: Any) -> Settings:
    """Settings for queue tests: fast aging, an isolated RabbitMQ namespace."""
    values: dict[str, Any] = {
        "aging_interval_s": 0.5,
        "max_queue_wait_s": 30.0,
        "rabbitmq_namespace": f"sdtest-{uuid.uuid4().hex[:10]}",
        "rabbitmq_url": RABBITMQ_URL,
    }
    values.update(overrides)
    return Settings(**values)


def make_queue(kind: str, settings: Settings) -> BaseQueueManager:
    if kind == "memory":
        from seadragon.queue.memory import MemoryQueue

        return MemoryQueue(settings)
    require_rabbitmq()
    from seadragon.queue.rabbitmq.manager import RabbitMQQueue

    return RabbitMQQueue(settings)


@pytest.fixture(params=["memory", "rabbitmq"])
def queue_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def queue_factory(queue_kind: str) -> AsyncIterator[Any]:
    """Call with setting overrides; every queue made is started, and closed at the end."""
    made: list[BaseQueueManager] = []

    async def factory(**overrides: Any) -> BaseQueueManager:
        queue = make_queue(queue_kind, queue_settings(**overrides))
        await queue.start()
        made.append(queue)
        return queue

    yield factory
    for queue in reversed(made):
        await queue.close()
        delete = getattr(queue, "delete_namespace", None)
        if delete is not None:  # durable test queues must not pile up on the broker
            await delete()


@pytest.fixture
async def rabbit() -> AsyncIterator[Any]:
    """``await rabbit(**overrides)``: a started RabbitMQ queue (no aging to speak of);
    every one made in a test shares one fresh namespace, closed and deleted after."""
    require_rabbitmq()
    from seadragon.queue.rabbitmq.manager import RabbitMQQueue

    namespace = f"sdtest-{uuid.uuid4().hex[:10]}"
    made: list[RabbitMQQueue] = []

    async def make(**overrides: Any) -> RabbitMQQueue:
        values = {"aging_interval_s": 1000.0, "rabbitmq_namespace": namespace}
        queue = RabbitMQQueue(queue_settings(**(values | overrides)))
        await queue.start()
        made.append(queue)
        return queue

    yield make
    for queue in reversed(made):
        await queue.close()
    for queue in made:
        await queue.delete_namespace()
