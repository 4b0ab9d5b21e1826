"""Slots waiting in the in-process queue's ``take``, indexed by worker and models.

The slots of one worker serve the same models, so the index holds one FIFO of slots per
worker and set of models: a queue event asks each group once whether it may take work
(``Bands.has_work``, a dictionary lookup per model) instead of scanning the bands once
per idle slot. ``head_for`` gives the longest-waiting slot among the groups that may,
which is the slot a one-by-one scan of every idle slot would have served first
(docs/architecture.md, "Dispatch in memory mode").
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Container, Iterator

from seadragon.queue.memory_handles import Waiter

#: Slots that always answer alike: one worker's, for one set of models.
Group = tuple[str, frozenset[str]]


def group_of(waiter: Waiter) -> Group:
    return (waiter.worker_id, waiter.models)


class IdleSlots:
    """Waiting slots, grouped by worker and set of models, each group oldest first."""

    def __init__(self) -> None:
        self._groups: dict[Group, deque[tuple[int, Waiter]]] = {}
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())

    def __iter__(self) -> Iterator[Waiter]:
        for group in self._groups.values():
            for _, waiter in group:
                yield waiter

    def add(self, waiter: Waiter) -> None:
        group = self._groups.setdefault(group_of(waiter), deque())
        group.append((next(self._arrivals), waiter))

    def discard(self, waiter: Waiter) -> None:
        key = group_of(waiter)
        group = self._groups.get(key)
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
            del self._groups[key]

    def clear(self) -> list[Waiter]:
        """Remove and return every waiting slot."""
        waiting = list(self)
        self._groups.clear()
        return waiting

    def heads(self) -> list[Waiter]:
        """The first waiting slot of each group, longest-waiting first (the slots of one
        group would answer any question alike)."""
        firsts = [
            next(((n, w) for n, w in group if w.free()), None) for group in self._groups.values()
        ]
        return [w for _, w in sorted(head for head in firsts if head is not None)]

    def head_for(
        self, ready: Callable[[Waiter], bool], skip: Container[Group] = ()
    ) -> Waiter | None:
        """The longest-waiting slot, outside the groups in ``skip``, that is ``ready``
        (asked of each group's first slot, for the whole group); slots gone are dropped."""
        best: tuple[int, Waiter] | None = None
        for key in list(self._groups):
            group = self._groups[key]
            while group and group[0][1].future.done():
                group.popleft()
            if not group:
                del self._groups[key]
                continue
            if key in skip:
                continue
            if (best is None or group[0][0] < best[0]) and ready(group[0][1]):
                best = group[0]
        return None if best is None else best[1]
