"""Where limit counts live: ``LimitStore``, and ``MemoryLimitStore`` for one gateway.

``admit`` checks every subject of a request and, only if none is over a limit, counts
the request (per minute, and as running) for all of them at once: a refused request
costs nothing against any limit. ``finish`` ends the running count and adds the tokens
the request used. ``DatabaseLimitStore`` (``store_db.py``) shares the counts between
gateways.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from seadragon.limits.rules import Subject, Usage, budget_window, minute_window, refuse_if_over


class LimitStore(ABC):
    @abstractmethod
    async def admit(self, subjects: Sequence[Subject], lease: str, now: float) -> None:
        """Count a request for every subject, or raise the limit one of them reached."""

    @abstractmethod
    async def finish(
        self, subjects: Sequence[Subject], lease: str, tokens: int, now: float
    ) -> None:
        """The request ``lease`` ended having used ``tokens``."""

    @abstractmethod
    async def close(self) -> None:
        """Wait for the store's background work."""


class MemoryLimitStore(LimitStore):
    """Counts in this process: exact and free, for a gateway that is the only one."""

    def __init__(self) -> None:
        # (subject, counter) -> (window start, value): only the current window is kept.
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}
        self._leases: dict[str, set[str]] = {}

    async def close(self) -> None:
        return None

    def _value(self, subject: str, name: str, window: int) -> int:
        start, value = self._counts.get((subject, name), (window, 0))
        return value if start == window else 0

    def _add(self, subject: str, name: str, window: int, amount: int) -> None:
        self._counts[subject, name] = (window, self._value(subject, name, window) + amount)

    async def admit(self, subjects: Sequence[Subject], lease: str, now: float) -> None:
        minute, _ = minute_window(now)
        for subject in subjects:
            budget, _ = budget_window(now, subject.rule.budget_period)
            usage = Usage(
                requests=self._value(subject.id, "requests", minute),
                tokens=self._value(subject.id, "tokens", minute),
                budget=self._value(subject.id, "budget", budget),
                running=len(self._leases.get(subject.id, ())),
            )
            refuse_if_over(subject, usage, now)
        for subject in subjects:
            if subject.rule.requests_per_minute is not None:
                self._add(subject.id, "requests", minute, 1)
            if subject.rule.concurrent_requests is not None:
                self._leases.setdefault(subject.id, set()).add(lease)

    async def finish(
        self, subjects: Sequence[Subject], lease: str, tokens: int, now: float
    ) -> None:
        minute, _ = minute_window(now)
        for subject in subjects:
            running = self._leases.get(subject.id)
            if running is not None:
                running.discard(lease)
                if not running:
                    del self._leases[subject.id]
            if tokens and subject.rule.tokens_per_minute is not None:
                self._add(subject.id, "tokens", minute, tokens)
            if tokens and subject.rule.token_budget is not None:
                budget, _ = budget_window(now, subject.rule.budget_period)
                self._add(subject.id, "budget", budget, tokens)
