"""Quorum mode: jobs the broker gave up on end their tickets instead of vanishing.

A top-band job returned more than ``x-delivery-limit`` times (a job that crashes every
worker that runs it) is dead-lettered to ``{ns}.dead``; whichever process consumes it
tells the job's gateway with ``Failed(UpstreamError)``. Lower bands dead-letter such a
job one band up, where the taker recognises it by its ``x-death`` reason.
"""

from __future__ import annotations

import logging
import secrets

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel

from seadragon.config import Settings
from seadragon.errors import UpstreamError
from seadragon.queue.base import Failed
from seadragon.queue.rabbitmq.broker.codec import Reply, read_job
from seadragon.queue.rabbitmq.broker.connection import broker_call, tolerated
from seadragon.queue.rabbitmq.broker.messages import Malformed
from seadragon.queue.rabbitmq.broker.names import Names
from seadragon.queue.rabbitmq.broker.rejects import Rejects
from seadragon.queue.rabbitmq.worker.sender import ReplySender

log = logging.getLogger(__name__)


class DeadLetters:
    """Consumes the dead queue of a namespace (competing with other processes)."""

    def __init__(
        self, settings: Settings, names: Names, sender: ReplySender, rejects: Rejects
    ) -> None:
        self.settings = settings
        self.names = names
        self._sender = sender
        self._rejects = rejects

    async def start(self, channel: AbstractRobustChannel) -> None:
        name = self.names.dead_queue()
        with broker_call("cannot consume the dead queue"):
            queue = await channel.declare_queue(
                name, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await queue.bind(self.names.dead, routing_key=name)
            await queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            taken = read_job(message)
        except Malformed as exc:
            await self._rejects.keep(message, self.names.dead_queue(), str(exc))
        else:
            limit = self.settings.rabbitmq_delivery_limit
            log.warning("job %s failed %d times; giving up", taken.job.id, limit + 1)
            error = UpstreamError(f"the request failed {limit + 1} times; giving up")
            # The last attempt the broker allowed was limit + 1: this supersedes it.
            reply = Reply(taken.job.id, secrets.token_hex(8), limit + 1, 1, Failed(error))
            with tolerated("telling a gateway its job is dead"):
                await self._sender.send(taken.gateway_id, reply)
        with tolerated("acking a dead job"):
            await message.ack()
