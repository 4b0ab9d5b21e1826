"""Assembling a whole (non-streamed) answer from a ticket's events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from seadragon.api.relay import Relay
from seadragon.queue.base import Chunk, End, Event, Job, Position, Started, Ticket


class ScriptedTicket(Ticket):
    def __init__(self, events: list[Event]) -> None:
        self.id = "r1"
        self.position = Position(ahead=0, eta_s=0.0)
        self._events = events
        self.cancelled = False

    async def events(self) -> AsyncIterator[Event]:
        for event in self._events:
            yield event

    async def cancel(self) -> None:
        self.cancelled = True


class Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def log(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


def chunk(text: str, **extra: Any) -> Chunk:
    return Chunk({"choices": [{"index": 0, "delta": {"content": text}, **extra}]})


async def test_a_later_attempt_starts_the_answer_over() -> None:
    # An attempt lost midway on a worker that died, then the whole answer from another.
    job = Job(id="r1", kind="chat", model="m", body={}, band="high", buffered=True)
    events: list[Event] = [
        Started("gpu1", "high", 1),
        chunk("Hel"),
        Started("gpu2", "high", 2),
        chunk("Hello"),
        chunk(" world", finish_reason="stop"),
        Chunk({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        End(),
    ]
    rows = Rows()
    relay = Relay(rows, job, ScriptedTicket(events), stream=False)
    answer = await relay.collect()
    assert answer["choices"][0]["message"]["content"] == "Hello world"
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] == 2
    [row] = rows.rows
    assert row["backend"] == "gpu2" and row["status"] == "ok"
