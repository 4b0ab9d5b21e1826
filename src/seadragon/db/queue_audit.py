"""Repository for the queue audit log; the pauses and drains it replays. Nothing commits.

Each pause, resume, drain and undrain row carries its switch's stamp in ``at`` (to the
microsecond), so replaying the rows gives exactly the marks the queue had
(``queue/control_state.py``): a gateway that starts takes them, and in RabbitMQ mode
shares them with every other process.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.auth.caller import Caller
from seadragon.db.tables import QueueAudit
from seadragon.queue.control_state import Mark, Switch

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
#: The audit action of each switch turned on, and off.
ACTIONS = {("pause", True): "pause", ("pause", False): "resume",
           ("drain", True): "drain", ("drain", False): "undrain"}  # fmt: skip
SWITCHES = {action: key for key, action in ACTIONS.items()}


def stamp_time(stamp_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=stamp_us)


def time_stamp(at: datetime) -> int:
    return (at - EPOCH) // ONE_US


def add_entry(
    session: AsyncSession,
    caller: Caller,
    action: str,
    *,
    at: datetime | None = None,
    band: str | None = None,
    model: str | None = None,
    target: str | None = None,
    cleared: int | None = None,
) -> QueueAudit:
    row = QueueAudit(
        at=at or datetime.now(UTC),
        user_id=caller.user_id,
        user_name=caller.user_name,
        key_id=caller.key_id,
        via=caller.auth_type,
        action=action,
        band=band,
        model=model,
        target=target,
        cleared=cleared,
    )
    session.add(row)
    return row


def add_switch(session: AsyncSession, caller: Caller, switch: Switch, mark: Mark) -> QueueAudit:
    """The row of one pause, resume, drain or undrain, stamped as its mark."""
    return add_entry(
        session,
        caller,
        ACTIONS[(switch.kind, mark.on)],
        at=stamp_time(mark.stamp_us),
        band=switch.band,
        model=switch.model,
        target=switch.target,
    )


async def list_entries(
    session: AsyncSession, *, limit: int, before_id: int | None = None
) -> Sequence[QueueAudit]:
    """Newest first; ``before_id`` pages on."""
    query = select(QueueAudit).order_by(QueueAudit.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(QueueAudit.id < before_id)
    return (await session.scalars(query)).all()


async def switch_marks(session: AsyncSession) -> list[tuple[Switch, Mark]]:
    """The last mark of every switch the log names (older ones are merged away)."""
    query = select(QueueAudit).where(QueueAudit.action.in_(list(SWITCHES))).order_by(QueueAudit.id)
    marks: dict[Switch, Mark] = {}
    for row in (await session.scalars(query)).all():
        kind, on = SWITCHES[row.action]
        switch = Switch(kind, row.band, row.model, row.target)  # type: ignore[arg-type]
        mark = Mark(on, time_stamp(row.at))
        held = marks.get(switch)
        if held is None or mark.stamp_us > held.stamp_us:
            marks[switch] = mark
    return list(marks.items())


def entry_out(row: QueueAudit) -> dict[str, object]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "user_id": row.user_id,
        "user_name": row.user_name,
        "key_id": row.key_id,
        "via": row.via,
        "action": row.action,
        "band": row.band,
        "model": row.model,
        "target": row.target,
        "cleared": row.cleared,
    }
