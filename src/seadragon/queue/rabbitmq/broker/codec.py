"""aio-pika messages to Seadragon's types and back, by the models of ``messages.py``.

Builders make the ``aio_pika.Message`` of each kind; ``read_*`` check what a queue
delivered and raise ``Malformed`` for anything else (another program's message, an
older format, a truncated body).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage
from pydantic import BaseModel, TypeAdapter, ValidationError

from seadragon.errors import error_from_dict
from seadragon.queue.base import Job
from seadragon.queue.events import Chunk, End, Event, Failed, Position, Result, Started
from seadragon.queue.rabbitmq.broker.messages import (
    EVENT,
    EVENTS,
    H_ASK,
    H_ATTEMPT,
    H_DEADLINE,
    H_DELIVERY,
    H_ENQUEUED,
    H_ENTRY_BAND,
    H_RING_FROM,
    H_RING_QUEUE,
    H_RING_SEQ,
    H_SEQ,
    H_VERDICT,
    JOB,
    JSON,
    AnyEvent,
    DataBody,
    FailedBody,
    JobHeaders,
    Malformed,
    PositionBody,
    ReplyHeaders,
    Ring,
    StartedBody,
    VerdictHeaders,
)

T = TypeVar("T")


def _read(adapter: TypeAdapter[T], body: bytes, what: str) -> T:
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise Malformed(f"not a {what}: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


@dataclass(frozen=True)
class JobMessage:
    """A job as a worker took it from a band queue."""

    job: Job
    headers: JobHeaders
    gateway_id: str
    redelivered: bool


def job_message(job: Job, gateway_id: str, deadline_us: int) -> aio_pika.Message:
    return aio_pika.Message(
        body=orjson.dumps(job.__dict__),
        content_type=JSON,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        correlation_id=job.id,
        reply_to=gateway_id,
        headers={H_ENQUEUED: job.enqueued_us, H_DEADLINE: deadline_us, H_ENTRY_BAND: job.band},
    )


def read_job(message: AbstractIncomingMessage) -> JobMessage:
    body = _read(JOB, message.body, "job")
    if message.correlation_id != body.id or not message.reply_to:
        raise Malformed("a job needs correlation_id = its id and reply_to = its gateway")
    try:
        headers = JobHeaders.model_validate(dict(message.headers or {}))
    except ValidationError as exc:
        raise Malformed(f"job headers: {_first_problem(exc)}") from None
    return JobMessage(
        Job(**body.model_dump()), headers, str(message.reply_to), bool(message.redelivered)
    )


@dataclass
class Reply:
    """One event of one delivery of a job, numbered within that delivery."""

    job_id: str
    token: str
    attempt: int
    seq: int
    event: Event
    #: The process id of a worker waiting for the gateway's verdict on this delivery.
    ask: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A gateway's answer to a worker that asked before running a job again."""

    token: str
    go: bool


def event_body(event: Event) -> dict[str, Any]:
    """An event's wire form (``broker/messages.py``), field by field: this runs once per
    streamed chunk, so the common case comes first and nothing is introspected."""
    if isinstance(event, Chunk):
        return {"t": "chunk", "data": event.data}
    if isinstance(event, End):
        return {"t": "end"}
    if isinstance(event, Started):
        return {
            "t": "started",
            "backend": event.backend,
            "band": event.band,
            "attempt": event.attempt,
        }
    if isinstance(event, Position):
        return {
            "t": "position",
            "ahead": event.ahead,
            "eta_s": event.eta_s,
            "estimated": event.estimated,
        }
    if isinstance(event, Result):
        return {"t": "result", "data": event.data}
    err = event.error
    return {"t": "failed", "kind": type(err).__name__, "message": err.message, "param": err.param}


def _event(body: AnyEvent) -> Event:
    if isinstance(body, DataBody):
        return Chunk(body.data) if body.t == "chunk" else Result(body.data)
    if isinstance(body, FailedBody):
        return Failed(error_from_dict(body.kind, body.message, body.param))
    if isinstance(body, StartedBody):
        return Started(body.backend, body.band, body.attempt)
    if isinstance(body, PositionBody):
        return Position(body.ahead, body.eta_s, body.estimated, body.paused)
    return End()


def reply_message(replies: Sequence[Reply]) -> aio_pika.Message:
    """One message for consecutive replies of one delivery (a list body when several)."""
    first = replies[0]
    headers: dict[str, Any] = {H_DELIVERY: first.token, H_ATTEMPT: first.attempt, H_SEQ: first.seq}
    if first.ask is not None:
        headers[H_ASK] = first.ask
    events = [event_body(reply.event) for reply in replies]
    return aio_pika.Message(
        body=orjson.dumps(events if len(events) > 1 else events[0]),
        content_type=JSON,
        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        correlation_id=first.job_id,
        headers=headers,
    )


def verdict_message(token: str, go: bool) -> aio_pika.Message:
    return aio_pika.Message(
        b"",
        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        headers={H_VERDICT: "go" if go else "stop", H_DELIVERY: token},
    )


def read_reply_queue(message: AbstractIncomingMessage) -> list[Reply] | Verdict:
    """What a gateway's reply queue carries: a delivery's events (seq ascending), or a
    verdict for a worker of this process."""
    raw_headers = dict(message.headers or {})
    if H_VERDICT in raw_headers:
        raw_headers[H_VERDICT] = _text(raw_headers[H_VERDICT])
        try:
            verdict = VerdictHeaders.model_validate(raw_headers)
        except ValidationError as exc:
            raise Malformed(f"verdict headers: {_first_problem(exc)}") from None
        return Verdict(verdict.token, verdict.verdict == "go")
    if not message.correlation_id:
        raise Malformed("a reply needs correlation_id = its job id")
    try:
        headers = ReplyHeaders.model_validate(raw_headers)
    except ValidationError as exc:
        raise Malformed(f"reply headers: {_first_problem(exc)}") from None
    body = message.body
    if body.lstrip()[:1] == b"[":
        bodies = _read(EVENTS, body, "reply")
        if not bodies:
            raise Malformed("not a reply: an empty list")
    else:
        bodies = [_read(EVENT, body, "reply")]
    job_id = str(message.correlation_id)
    return [
        Reply(job_id, headers.token, headers.attempt, headers.seq + i, _event(body), headers.ask)
        for i, body in enumerate(bodies)
    ]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def read_broadcast(adapter: TypeAdapter[T], message: AbstractIncomingMessage, what: str) -> T:
    return _read(adapter, message.body, what)


def read_ring(message: AbstractIncomingMessage) -> Ring:
    if message.body:
        raise Malformed("a doorbell ring has an empty body")
    headers = message.headers or {}
    queue, sender, seq = (_text(headers.get(h)) for h in (H_RING_QUEUE, H_RING_FROM, H_RING_SEQ))
    if not (isinstance(queue, str) and isinstance(sender, str) and isinstance(seq, int)):
        return Ring()  # an older process's ring, or one we cannot place: some queue
    return Ring(queue=queue, sender=sender, seq=seq)


def ring_message(ring: Ring) -> aio_pika.Message:
    """A doorbell ring: an empty body, what it says in headers."""
    headers: dict[str, Any] = {}
    if ring.queue is not None and ring.sender is not None and ring.seq is not None:
        headers = {H_RING_QUEUE: ring.queue, H_RING_FROM: ring.sender, H_RING_SEQ: ring.seq}
    return aio_pika.Message(
        b"", headers=headers, delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT
    )


def broadcast_message(payload: BaseModel | None) -> aio_pika.Message:
    """A transient message for a fanout exchange (None: an empty ring)."""
    if payload is None:
        return aio_pika.Message(b"", delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT)
    return aio_pika.Message(
        payload.model_dump_json(by_alias=True).encode(),
        content_type=JSON,
        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
    )
