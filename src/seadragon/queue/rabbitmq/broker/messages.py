"""Every message Seadragon puts on RabbitMQ: its body (pydantic models) and header names.

The wire format lives here (``codec.py`` turns aio-pika messages into Seadragon's
types and back with these models); ``docs/architecture.md`` says which queue carries
which. A message that does not validate is ``Malformed``: the process that heard it
hands it to ``rejects.py`` instead of crashing.

Timestamps in headers are integer microseconds: pamqp encodes Python floats as
float32, tens of seconds off on epoch times.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from seadragon.queue.base import WorkerInfo

# Job messages (band queues, dead queue)
H_ENQUEUED = "sd-enqueued-us"
H_DEADLINE = "sd-deadline-us"
H_ENTRY_BAND = "sd-entry-band"
# Reply messages (a gateway's reply queue)
H_DELIVERY = "sd-delivery"
H_ATTEMPT = "sd-attempt"
H_SEQ = "sd-seq"
H_ASK = "sd-ask"
H_VERDICT = "sd-verdict"
# Doorbell rings (headers only, the body stays empty): the band queue that got a job, the
# ringing process and its count of rings, so a hearer can tell that rings were dropped
H_RING_QUEUE = "sd-ring-queue"
H_RING_FROM = "sd-ring-from"
H_RING_SEQ = "sd-ring-seq"
# A copy kept in the rejected queue: why, and the queue it was taken from
H_REJECTED = "sd-rejected"
H_REJECTED_FROM = "sd-rejected-from"
# Set by the broker
X_DEATH = "x-death"
X_DELIVERY_COUNT = "x-delivery-count"

JSON = "application/json"


class Malformed(ValueError):
    """A message on a Seadragon queue that is not a Seadragon message of that queue."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Jobs -------------------------------------------------------------------------------


class JobBody(_Wire):
    id: str = Field(min_length=1)
    kind: Literal["chat", "completion", "embedding"]
    model: str = Field(min_length=1)
    body: dict[str, Any]
    band: str
    user_id: int | None = None
    key_id: int | None = None
    enqueued_us: int
    buffered: bool = False


class JobHeaders(BaseModel):
    """Seadragon's headers on a job, and those the broker adds on its way."""

    model_config = ConfigDict(extra="allow", frozen=True)

    enqueued_us: int = Field(alias=H_ENQUEUED, strict=True)
    deadline_us: int = Field(alias=H_DEADLINE, strict=True)
    entry_band: str = Field(alias=H_ENTRY_BAND)
    delivery_count: int | None = Field(None, alias=X_DELIVERY_COUNT)
    deaths: list[Any] = Field(default_factory=list, alias=X_DEATH)

    @property
    def exhausted(self) -> bool:
        """Dead-lettered on its way up for reaching ``x-delivery-limit`` (quorum queues)."""
        for death in self.deaths:
            reason = death.get("reason") if isinstance(death, dict) else None
            if reason in ("delivery_limit", b"delivery_limit"):
                return True
        return False

    @property
    def promoted(self) -> bool:
        """Aged into its band: a new message that may have run before."""
        return bool(self.deaths)


JOB = TypeAdapter(JobBody)


# Replies: events from a worker to the gateway that owns the job ----------------------


class PositionBody(_Wire):
    t: Literal["position"]
    ahead: int
    eta_s: float
    estimated: bool = False
    paused: bool = False


class StartedBody(_Wire):
    t: Literal["started"]
    backend: str
    band: str
    attempt: int = 1


class DataBody(_Wire):
    t: Literal["chunk", "result"]
    data: dict[str, Any]


class FailedBody(_Wire):
    t: Literal["failed"]
    kind: str
    message: str
    param: str | None = None


class EndBody(_Wire):
    t: Literal["end"]


AnyEvent = PositionBody | StartedBody | DataBody | FailedBody | EndBody
EventBody = Annotated[AnyEvent, Field(discriminator="t")]
#: A reply's body: one event, or a list of consecutive ones (read by its first byte).
EVENT: TypeAdapter[AnyEvent] = TypeAdapter(EventBody)
EVENTS: TypeAdapter[list[AnyEvent]] = TypeAdapter(list[EventBody])


class ReplyHeaders(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    token: str = Field(alias=H_DELIVERY, min_length=1)
    attempt: int = Field(alias=H_ATTEMPT, strict=True, ge=1)
    seq: int = Field(alias=H_SEQ, strict=True, ge=1)
    ask: str | None = Field(None, alias=H_ASK)


class VerdictHeaders(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    verdict: Literal["go", "stop"] = Field(alias=H_VERDICT)
    token: str = Field(alias=H_DELIVERY)


# Broadcasts: control, heartbeats, doorbell --------------------------------------------


class Cancel(_Wire):
    """Drop these jobs: end their tickets, stop them where they run, never start them."""

    op: Literal["cancel"] = "cancel"
    ids: list[str]
    sender: str = Field(alias="from")


class Clear(_Wire):
    """A band (None: all) was cleared: fail the waiting tickets of it."""

    op: Literal["clear"] = "clear"
    band: str | None
    sender: str = Field(alias="from")


class MarkBody(_Wire):
    """One switch of ``queue/control_state.py`` and its last mark."""

    kind: Literal["pause", "drain"]
    band: str | None = None
    model: str | None = None
    target: str | None = None
    on: bool
    stamp_us: int


class ControlState(_Wire):
    """Every switch the sender knows: merged by each process, newest mark winning."""

    op: Literal["state"] = "state"
    marks: list[MarkBody]
    sender: str = Field(alias="from")


class ControlAsk(_Wire):
    """Everyone: send your switches (a process starts, or the broker came back)."""

    op: Literal["ask"] = "ask"
    sender: str = Field(alias="from")


class WorkerBody(_Wire):
    id: str
    backend: str
    kind: str
    url: str
    slots: int
    busy: int
    models: list[str]
    reachable: bool
    error: str | None = None


class Beat(_Wire):
    """A worker is alive and serves this."""

    op: Literal["beat"] = "beat"
    worker: WorkerBody
    sender: str = Field(alias="from")

    @classmethod
    def of(cls, worker: WorkerInfo, sender: str) -> Beat:
        # Only the fields of the heartbeat format: what a worker has loaded matters to the
        # in-process queue's dispatch alone (``queue/affinity.py``).
        fields = {name: getattr(worker, name) for name in WorkerBody.model_fields}
        return cls(worker=WorkerBody(**fields), sender=sender)

    def info(self) -> WorkerInfo:
        return WorkerInfo(**self.worker.model_dump())


class Withdraw(_Wire):
    op: Literal["withdraw"] = "withdraw"
    id: str
    sender: str = Field(alias="from")


class Probe(_Wire):
    """Everyone: beat now (a process starts, or the broker came back)."""

    op: Literal["probe"] = "probe"
    sender: str = Field(alias="from")


AnyControl = Cancel | Clear | ControlState | ControlAsk
Control = Annotated[AnyControl, Field(discriminator="op")]
Heartbeat = Annotated[Beat | Withdraw | Probe, Field(discriminator="op")]
CONTROL: TypeAdapter[AnyControl] = TypeAdapter(Control)
HEARTBEAT: TypeAdapter[Beat | Withdraw | Probe] = TypeAdapter(Heartbeat)


class Ring(_Wire):
    """The doorbell's message: a job was queued. Its body is empty; its headers say in
    which band queue and who rang, with that process's count of rings (a ring without
    them, from an older process, says only that some queue got a job)."""

    queue: str | None = None
    sender: str | None = None
    seq: int | None = None
