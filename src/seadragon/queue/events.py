"""Events a ticket yields (their wire form for RabbitMQ is ``rabbitmq/broker/messages.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from seadragon.errors import SeadragonError


@dataclass
class Position:
    """How many requests are ahead, and when this one should start."""

    ahead: int
    eta_s: float
    estimated: bool = False
    #: Held in a band an administrator paused; ``eta_s`` then counts from the resume.
    paused: bool = False


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
