"""Login throttling: too many failures for one username from one client address → 429.

Counted per process (each gateway keeps its own window), which bounds guessing per
gateway; the window slides, so ``retry_after`` is when the oldest counted failure expires.
Memory is bounded: stale entries are dropped, and past ``max_entries`` the oldest go.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

from seadragon.errors import RateLimited


class LoginThrottle:
    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._max_entries = max_entries
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    @staticmethod
    def _key(username: str, client: str) -> tuple[str, str]:
        return username.strip().lower()[:256], client

    def _recent(self, key: tuple[str, str]) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def check(self, username: str, client: str) -> None:
        """Raise ``RateLimited`` if this username+client is locked out right now."""
        times = self._recent(self._key(username, client))
        if times is not None and len(times) >= self.max_failures:
            retry_after = max(1.0, times[0] + self.window_s - self._clock())
            raise RateLimited(
                "too many failed sign-in attempts; try again later", retry_after=retry_after
            )

    def record_failure(self, username: str, client: str) -> None:
        key = self._key(username, client)
        times = self._recent(key)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.max_failures)
        self._failures.move_to_end(key)
        times.append(self._clock())
        while len(self._failures) > self._max_entries:
            self._failures.popitem(last=False)

    def reset(self, username: str, client: str) -> None:
        self._failures.pop(self._key(username, client), None)
