"""Events a ticket yields, and their JSON form for queues that cross processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from seadragon.errors import SeadragonError, error_from_dict


@dataclass
class Position:
    """How many requests are ahead, and when this one should start."""

    ahead: int
    eta_s: float
    estimated: bool = False


@dataclass
class Started:
    backend: str
    band: str
    attempt: int = 1


@dataclass
class Chunk:
    """One OpenAI streaming chunk (``chat.completion.chunk`` or ``text_completion``)."""

    data: dict[str, Any]


@dataclass
class Result:
    """A whole, non-streamed response (embeddings)."""

    data: dict[str, Any]


@dataclass
class Failed:
    error: SeadragonError


@dataclass
class End:
    pass


Event = Position | Started | Chunk | Result | Failed | End


async def until_end(events: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    """Take events from ``events`` up to and including ``End`` or ``Failed``."""
    while True:
        event = await events.get()
        yield event
        if isinstance(event, End | Failed):
            return


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-safe form of an event, for queues that cross process boundaries."""
    if isinstance(event, Failed):
        err = event.error
        return {
            "t": "failed",
            "kind": type(err).__name__,
            "message": err.message,
            "param": err.param,
        }
    name = type(event).__name__.lower()
    return {"t": name, **asdict(event)}


def event_from_dict(data: dict[str, Any]) -> Event:
    data = dict(data)  # the caller's dict stays as it was
    kind = data.pop("t")
    if kind == "failed":
        return Failed(error_from_dict(data["kind"], data["message"], data.get("param")))
    cls: type[Any] = {
        "position": Position,
        "started": Started,
        "chunk": Chunk,
        "result": Result,
        "end": End,
    }[kind]
    return cls(**data)  # type: ignore[no-any-return]
