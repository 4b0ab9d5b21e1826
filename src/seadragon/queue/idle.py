"""Slots waiting in the in-process queue's ``take``, indexed by the models they serve.

Slots of one backend serve the same models, so the index holds one FIFO of slots per
set of models: a queue event asks each set once whether any band holds work for it
(``Bands.has_work``, a dictionary lookup per model) instead of scanning the bands once
per idle slot. ``head_for`` gives the longest-waiting slot among the sets that have
work, which is the slot the one-by-one scan would have served first
(docs/architecture.md, "Dispatch in memory mode").
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator

from seadragon.queue.memory_handles import Waiter


class IdleSlots:
    """Waiting slots, grouped by their set of models, each group oldest first."""

    def __init__(self) -> None:
        self._groups: dict[frozenset[str], deque[tuple[int, Waiter]]] = {}
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())

    def __iter__(self) -> Iterator[Waiter]:
        for group in self._groups.values():
            for _, waiter in group:
                yield waiter

    def add(self, waiter: Waiter) -> None:
        group = self._groups.setdefault(waiter.models, deque())
        group.append((next(self._arrivals), waiter))

    def discard(self, waiter: Waiter) -> None:
        group = self._groups.get(waiter.models)
        if group is None:
            return
        if group and group[0][1] is waiter:
            group.popleft()
        else:
            for i, (_, candidate) in enumerate(group):
                if candidate is waiter:
                    del group[i]
                    break
        if not group:
            del self._groups[waiter.models]

    def clear(self) -> list[Waiter]:
        """Remove and return every waiting slot."""
        waiting = list(self)
        self._groups.clear()
        return waiting

    def head_for(self, has_work: Callable[[frozenset[str]], bool]) -> Waiter | None:
        """The longest-waiting slot whose models ``has_work``; slots gone are dropped."""
        best: tuple[int, Waiter] | None = None
        for models in list(self._groups):
            group = self._groups[models]
            while group and group[0][1].future.done():
                group.popleft()
            if not group:
                del self._groups[models]
                continue
            if (best is None or group[0][0] < best[0]) and has_work(models):
                best = group[0]
        return None if best is None else best[1]
