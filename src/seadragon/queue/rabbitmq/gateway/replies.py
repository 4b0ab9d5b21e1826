"""What a gateway does with the replies workers send it.

Replies come from this gateway's reply queue, or straight from a worker of this very
process. Each goes to its ticket (``tickets.py``). A worker about to run a job again
asks first (``worker/verdict.py``): the gateway answers ``go`` while the ticket wants
the job, else ``stop``. A reply nobody here waits for (the caller left, the ticket
ended) means some worker still runs the job for nobody: it is cancelled, once.
"""

from __future__ import annotations

from seadragon.queue.base import End, Failed, Started
from seadragon.queue.rabbitmq.broker.codec import Reply, verdict_message
from seadragon.queue.rabbitmq.broker.connection import tolerated
from seadragon.queue.rabbitmq.broker.names import Exchanges
from seadragon.queue.rabbitmq.gateway.gateway import Gateway
from seadragon.queue.rabbitmq.gateway.tickets import Routed

VERDICT_TIMEOUT_S = 2.0


class Replies:
    """Routes one delivery's replies to this gateway's tickets."""

    def __init__(self, gateway: Gateway, exchanges: Exchanges) -> None:
        self._gateway = gateway
        self._book = gateway.book
        self._positions = gateway.positions
        self._exchanges = exchanges

    def local(self, reply: Reply) -> bool:
        """A reply from a worker of this process; False when nobody here wants it."""
        return self._route(reply) is Routed.WANTED

    async def heard(self, replies: list[Reply]) -> None:
        """Replies of one message from the reply queue."""
        routed = [self._route(reply) for reply in replies][-1]
        reply = replies[-1]
        wanted = routed is Routed.WANTED
        if reply.ask is not None:  # a worker waits to hear whether it may run the job again
            await self._answer(reply.ask, reply.token, wanted)
            return
        if routed is not Routed.UNWANTED or isinstance(reply.event, End | Failed):
            return
        # Nobody here waits for this job any more: stop it (once) wherever it runs.
        if self._book.first_stray(reply.job_id):
            self._gateway.abandon(reply.job_id)

    def _route(self, reply: Reply) -> Routed:
        routed = self._book.route(reply)
        if isinstance(reply.event, Started):
            self._positions.poke()  # a job left a queue: positions moved
        if routed is Routed.GIVEN_UP:
            self._book.first_stray(reply.job_id)  # stopped now: later replies need not
            self._gateway.abandon(reply.job_id)
        return routed

    async def _answer(self, asker: str, token: str, go: bool) -> None:
        """Tell the worker process ``asker`` whether delivery ``token`` may run."""
        with tolerated("answering a worker's question"):
            await self._exchanges.reply.publish(
                verdict_message(token, go),
                routing_key=asker,
                mandatory=False,
                timeout=VERDICT_TIMEOUT_S,
            )
