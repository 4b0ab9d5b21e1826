"""The reply events' wire form, byte for byte: workers and gateways of different
versions share one broker during a rolling upgrade, so it must not drift."""

from __future__ import annotations

import orjson
import pytest

from seadragon.errors import QueueTimeout
from seadragon.queue.events import Chunk, End, Event, Failed, Position, Result, Started
from seadragon.queue.rabbitmq.broker.codec import _event, event_body
from seadragon.queue.rabbitmq.broker.messages import EVENT

CASES: list[tuple[Event, bytes]] = [
    (
        Chunk({"id": "c1", "choices": [{"delta": {"content": "tok0"}}]}),
        b'{"t":"chunk","data":{"id":"c1","choices":[{"delta":{"content":"tok0"}}]}}',
    ),
    (Result({"data": [1]}), b'{"t":"result","data":{"data":[1]}}'),
    (Started("gpu1", "low", 2), b'{"t":"started","backend":"gpu1","band":"low","attempt":2}'),
    (Position(3, 1.5, True), b'{"t":"position","ahead":3,"eta_s":1.5,"estimated":true}'),
    (End(), b'{"t":"end"}'),
    (
        Failed(QueueTimeout("waited too long")),
        b'{"t":"failed","kind":"QueueTimeout","message":"waited too long","param":null}',
    ),
]


@pytest.mark.parametrize(("event", "wire"), CASES, ids=lambda c: type(c).__name__)
def test_each_event_keeps_its_wire_form(event: Event, wire: bytes) -> None:
    assert orjson.dumps(event_body(event)) == wire


@pytest.mark.parametrize(("event", "wire"), CASES, ids=lambda c: type(c).__name__)
def test_each_wire_form_reads_back_as_the_event(event: Event, wire: bytes) -> None:
    back = _event(EVENT.validate_json(wire))
    if isinstance(event, Failed):
        assert isinstance(back, Failed)
        assert (type(back.error), back.error.message) == (type(event.error), event.error.message)
    else:
        assert back == event
