"""What one process remembers about jobs between deliveries: cancels and attempts."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

_MEMORY = 10_000
#: How long a gateway may have no reply queue (reconnecting after a broker restart)
#: before its jobs are dropped as orphans instead of handed back.
GATEWAY_GRACE_S = 10.0


class Ledger:
    """Cancelled job ids (until they can no longer be queued) and attempt counts."""

    def __init__(self, cancel_ttl_s: float) -> None:
        self._cancel_ttl_s = cancel_ttl_s
        self._cancelled: OrderedDict[str, float] = OrderedDict()
        self._runs: OrderedDict[str, int] = OrderedDict()
        self._handed_back: OrderedDict[str, None] = OrderedDict()
        self._unrouted: OrderedDict[str, float] = OrderedDict()

    def cancel(self, job_ids: Iterable[str]) -> None:
        now = time.monotonic()
        for job_id in job_ids:
            _remember(self._cancelled, job_id, now + self._cancel_ttl_s)
        while self._cancelled and next(iter(self._cancelled.values())) < now:
            self._cancelled.popitem(last=False)

    def is_cancelled(self, job_id: str) -> bool:
        return job_id in self._cancelled

    def attempt(self, job_id: str, redelivered: bool, delivery_count: int | None) -> int:
        """Count a delivery of ``job_id``; its attempt number, as well as we can tell.

        Quorum queues count deliveries (``x-delivery-count``). Classic queues only flag
        a redelivery, so there it is at least 2, or more when it ran here before; a job
        a scan here only handed back unstarted does not count as redelivered.
        """
        runs = self._runs.get(job_id, 0)
        _remember(self._runs, job_id, runs + 1)
        if delivery_count is not None:
            return 1 + delivery_count
        if redelivered and runs == 0 and job_id in self._handed_back:
            redelivered = False
        return max(2 if redelivered else 1, runs + 1)

    def handed_back(self, job_id: str, *, counted: bool) -> None:
        """``job_id`` goes back to its queue unstarted; undo its count if it was counted."""
        _remember(self._handed_back, job_id, None)
        if counted:
            runs = self._runs.pop(job_id, 0)
            if runs > 1:
                self._runs[job_id] = runs - 1

    def unrouted(self, gateway_id: str) -> bool:
        """A gateway had no reply queue; True while that may still be a reconnect."""
        now = time.monotonic()
        since = self._unrouted.setdefault(gateway_id, now)
        return now - since < GATEWAY_GRACE_S

    def routed(self, gateway_id: str) -> None:
        self._unrouted.pop(gateway_id, None)


def _remember(store: OrderedDict[str, Any], key: str, value: Any) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > _MEMORY:
        store.popitem(last=False)
