"""Queue control for administrators: pause and resume, drain and undrain, the audit log.

Each action is applied to the queue (every process of it, in RabbitMQ mode) and then
written to the audit log, which is also what a starting gateway replays
(``db/queue_audit.py``, ``docs/architecture.md`` "Queue control"). Clearing lives with
the other queue routes in ``queue.py`` and is audited the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seadragon.api.deps import AdminDep, DbSession, parse_body
from seadragon.auth.caller import Caller
from seadragon.db import queue_audit
from seadragon.errors import InvalidRequest, NotFound
from seadragon.queue.base import BaseQueueManager
from seadragon.queue.control_state import Switch

router = APIRouter(prefix="/api/queue", tags=["queue"])

MAX_PAGE = 500


class PauseBody(BaseModel):
    """A band (none: every band), optionally only for one model."""

    model_config = ConfigDict(extra="forbid")
    band: str | None = Field(None, max_length=32)
    model: str | None = Field(None, min_length=1, max_length=255)


class DrainBody(BaseModel):
    """A backend by name, or one worker by id (as ``/api/queue/status`` lists them)."""

    model_config = ConfigDict(extra="forbid")
    target: str = Field(min_length=1, max_length=255)


def _queue(request: Request) -> BaseQueueManager:
    queue: BaseQueueManager = request.app.state.queue
    return queue


async def _body(request: Request, model: type[PauseBody] | type[DrainBody]) -> Any:
    if not (await request.body()).strip():
        try:
            return model.model_validate({})
        except ValidationError as exc:  # no body where one is required (drain's target)
            field = str(exc.errors()[0]["loc"][0])
            raise InvalidRequest(f"{field} is required", param=field) from None
    return await parse_body(request, model)


async def _apply(
    request: Request, caller: Caller, db: DbSession, switch: Switch, on: bool
) -> dict[str, Any]:
    queue = _queue(request)
    mark = await queue.switch(switch, on)
    row = queue_audit.add_switch(db, caller, switch, mark)
    await db.commit()
    return {
        "action": row.action,
        "band": switch.band,
        "model": switch.model,
        "target": switch.target,
        "at": row.at.isoformat(),
        "paused": queue.control.pauses(),
        "draining": queue.control.drains(),
    }


async def _pause(request: Request) -> Switch:
    body: PauseBody = await _body(request, PauseBody)
    bands = request.app.state.settings.bands
    if body.band is not None and body.band not in bands:
        raise InvalidRequest(f"unknown band {body.band!r}; bands are {bands}", param="band")
    return Switch.pause(body.band, body.model)


@router.post("/pause")
async def pause(request: Request, admin: AdminDep, db: DbSession) -> dict[str, Any]:
    """Hold a band (or every band), optionally of one model: its requests wait and age."""
    return await _apply(request, admin, db, await _pause(request), True)


@router.post("/resume")
async def resume(request: Request, admin: AdminDep, db: DbSession) -> dict[str, Any]:
    """Undo the pause of exactly that band and model."""
    switch = await _pause(request)
    if not _queue(request).control.is_on(switch):
        raise NotFound(_what(switch) + " is not paused", param="band")
    return await _apply(request, admin, db, switch, False)


@router.post("/drain")
async def drain(request: Request, admin: AdminDep, db: DbSession) -> dict[str, Any]:
    """A backend or worker takes no new request and finishes those it runs."""
    body: DrainBody = await _body(request, DrainBody)
    known = {w.id for w in _queue(request).workers()} | {
        w.backend for w in _queue(request).workers()
    }
    if body.target not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise NotFound(
            f"no backend or worker named {body.target!r} (live: {listed})", param="target"
        )
    return await _apply(request, admin, db, Switch.drain(body.target), True)


@router.post("/undrain")
async def undrain(request: Request, admin: AdminDep, db: DbSession) -> dict[str, Any]:
    """The backend or worker takes work again."""
    body: DrainBody = await _body(request, DrainBody)
    switch = Switch.drain(body.target)
    if not _queue(request).control.is_on(switch):
        raise NotFound(f"{body.target!r} is not draining", param="target")
    return await _apply(request, admin, db, switch, False)


@router.get("/audit")
async def audit_log(
    admin: AdminDep,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    """Queue control actions, newest first; ``next_before`` pages on."""
    rows = await queue_audit.list_entries(db, limit=limit + 1, before_id=before)
    page = [queue_audit.entry_out(row) for row in rows[:limit]]
    more = len(rows) > limit
    return {"data": page, "next_before": page[-1]["id"] if more else None}


def _what(switch: Switch) -> str:
    band = f"the {switch.band} band" if switch.band else "every band"
    return band + (f" of {switch.model}" if switch.model else "")
