"""How the idle slots of one process that serve the same models take turns to look.

When nothing is ready a slot sleeps on this process's doorbell queue, which gateways
ping after each confirmed publish, with a 1 s fallback poll (aged or redelivered jobs
ring no bell). The slots of a process that serve the same models look one at a time,
and a slot that wakes skips its scan when one that began after it last looked, with no
ring since, found nothing; one idle slot of them hears the bell and the others wait
to be handed on to (``Look.idle``), so a ring wakes a few slots, not every idle one
(``docs/architecture.md``, "Taking jobs").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from dataclasses import dataclass, field

from seadragon.queue.rabbitmq.doorbell import Doorbell

POLL_S = 1.0


@dataclass
class Look:
    """The scans of the slots that serve one set of models: one at a time, and the last
    one that found nothing."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The doorbell's generation, and the monotonic time, when that scan began.
    empty_ring: int = -1
    empty_began: float = -math.inf

    #: One idle slot hears the doorbell; the others wait until a slot hands on.
    leading: bool = False
    followers: deque[asyncio.Future[None]] = field(default_factory=deque)

    def nothing_since(self, ring: int, since: float) -> bool:
        """True when a scan that began at or after ``since``, with the bell at ``ring``
        (not rung since), found every queue empty."""
        return self.empty_ring == ring and self.empty_began >= since

    async def idle(self, doorbell: Doorbell, ring: int) -> None:
        """Wait until the bell rings after ``ring``, the fallback poll, or (a follower)
        until a slot hands on. Whoever returns looks next; a slot that leaves with a
        job, or at all, hands on to one follower (``hand_on``), which then looks
        too (there may be more jobs) or takes over the bell."""
        if doorbell.generation != ring:
            return
        if not self.leading:
            self.leading = True
            try:
                await doorbell.wait(ring, POLL_S)
            finally:
                self.leading = False
            return
        waiter = asyncio.get_running_loop().create_future()
        self.followers.append(waiter)
        try:
            async with asyncio.timeout(POLL_S):
                await waiter
        except TimeoutError:
            pass
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self.followers.remove(waiter)

    def hand_on(self) -> None:
        """Wake one follower (see ``idle``)."""
        while self.followers:
            waiter = self.followers.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
