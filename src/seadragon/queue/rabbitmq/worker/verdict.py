"""Verdicts: the gateway's go-ahead for a job that is about to run again (the worker's side).

Classic queues flag a redelivery but do not count deliveries, so a job that kills
every worker that runs it would come back forever (quorum queues have
``x-delivery-limit``). The gateway that owns the job can count: each delivery that
reached a backend sent it a ``Started``. So a worker that takes a *redelivered* job in
classic mode puts ``ask`` on its ``Started`` and waits for the gateway's verdict
(``gateway/replies.py`` answers) before calling the backend: ``go``, or ``stop`` when
the job already ran ``rabbitmq_delivery_limit`` times (the gateway then fails the
ticket) or nobody there waits for it any more. A worker started after the job was
given up never heard the cancel broadcast, but it asks too, so it drops the job
instead of running it (and dying again). Fresh deliveries do not ask: the common path costs nothing.

A verdict that does not come within ``VERDICT_WAIT_S`` counts as ``go``: losing one
must not lose the request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from seadragon.queue.rabbitmq.broker.codec import Verdict

log = logging.getLogger(__name__)

VERDICT_WAIT_S = 5.0


class Verdicts:
    """The deliveries of this process waiting for a verdict, by delivery token."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[bool]] = {}

    def expect(self, token: str) -> None:
        """Call before the asking ``Started`` is published, so no answer can be missed."""
        self._waiting[token] = asyncio.get_running_loop().create_future()

    async def wait(self, token: str, cancelled: asyncio.Event) -> bool:
        """The verdict for ``token``: True to run the job; False if it must not run."""
        future = self._waiting.get(token)
        if future is None:
            return True
        stop = asyncio.ensure_future(cancelled.wait())
        waits: set[asyncio.Future[Any]] = {future, stop}
        try:
            done, _ = await asyncio.wait(
                waits, timeout=VERDICT_WAIT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
        if future in done:
            return future.result()
        if stop not in done:
            log.warning("delivery %s: no verdict from its gateway; running it", token)
        return stop not in done

    def forget(self, token: str) -> None:
        self._waiting.pop(token, None)

    def heard(self, verdict: Verdict) -> None:
        """A gateway answered one of this process's deliveries."""
        future = self._waiting.get(verdict.token)
        if future is not None and not future.done():
            future.set_result(verdict.go)
