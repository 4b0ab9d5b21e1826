"""Quorum mode: jobs the broker gave up on end their tickets instead of vanishing.

A top-band job returned more than ``x-delivery-limit`` times (a job that crashes every
worker that runs it) is dead-lettered to ``{ns}.dead``; whichever process consumes it
tells the job's gateway with ``Failed(UpstreamError)``. Lower bands dead-letter such a
job one band up, where the processor recognises it by its ``x-death`` reason.
"""

from __future__ import annotations

import contextlib
import logging
import secrets

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel

from seadragon.config import Settings
from seadragon.errors import UpstreamError
from seadragon.queue.base import Failed
from seadragon.queue.rabbitmq.connection import BROKER_ERRORS
from seadragon.queue.rabbitmq.exchanges import Names
from seadragon.queue.rabbitmq.reply import Reply, ReplySender

log = logging.getLogger(__name__)


class DeadLetters:
    """Consumes the dead queue of a namespace (competing with other processes)."""

    def __init__(
        self,
        settings: Settings,
        names: Names,
        channel: AbstractRobustChannel,
        sender: ReplySender,
    ) -> None:
        self.settings = settings
        self.names = names
        self._channel = channel
        self._sender = sender

    async def start(self) -> None:
        name = self.names.dead_queue()
        queue = await self._channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(self.names.dead, routing_key=name)
        await queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        limit = self.settings.rabbitmq_delivery_limit
        job_id, gateway_id = message.correlation_id, message.reply_to
        if job_id and gateway_id:
            log.warning("job %s failed %d times; giving up", job_id, limit + 1)
            error = UpstreamError(f"the request failed {limit + 1} times; giving up")
            # The last attempt the broker allowed was limit + 1: this supersedes it.
            reply = Reply(job_id, secrets.token_hex(8), limit + 1, 1, Failed(error))
            with contextlib.suppress(*BROKER_ERRORS):
                await self._sender.send(gateway_id, reply)
        await message.ack()
