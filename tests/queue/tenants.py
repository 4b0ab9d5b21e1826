"""Jobs of given users, and users that RabbitMQ's fair share puts on different shards."""

from __future__ import annotations

from slots import make_job

from seadragon.config import Settings
from seadragon.queue.base import Job
from seadragon.queue.rabbitmq.broker.shards import Shards


def job_of(user: int, band: str = "normal") -> Job:
    job = make_job(band, label=f"user{user}")
    job.user_id = user
    return job


def users_on_distinct_shards(settings: Settings, count: int = 2) -> list[int]:
    """The first user ids whose jobs go to ``count`` different RabbitMQ shards."""
    shards = Shards(settings)
    chosen: dict[int, int] = {}
    for user in range(1, 1000):
        chosen.setdefault(shards.of(job_of(user)), user)
        if len(chosen) == count:
            return sorted(chosen.values())
    return list(range(1, count + 1))  # fewer shards than users: they share one
