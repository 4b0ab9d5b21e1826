"""Seadragon's queue API: status for everyone signed in, management for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from seadragon.api.deps import AdminDep, CallerDep, DbSession, parse_body
from seadragon.api.request_ids import lookup_ids, public_id
from seadragon.auth.caller import Caller
from seadragon.db import queue_audit
from seadragon.errors import InvalidRequest, NotFound
from seadragon.queue.base import BaseQueueManager, RequestInfo

router = APIRouter(prefix="/api/queue", tags=["queue"])


class ClearRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    band: str | None = None


def _queue(request: Request) -> BaseQueueManager:
    queue: BaseQueueManager = request.app.state.queue
    return queue


def _public(info: RequestInfo) -> dict[str, Any]:
    data = {
        "id": public_id(info.id),
        "model": info.model,
        "state": info.state,
        "band": info.band,
        "entry_band": info.entry_band,
        "waited_s": round(info.waited_s, 3),
        "backend": info.backend,
    }
    if info.position is not None:
        data["position"] = info.position.ahead
        data["eta_s"] = round(info.position.eta_s, 1)
        data["position_estimated"] = info.position.estimated
        data["paused"] = info.position.paused
    return data


def _admin_row(info: RequestInfo) -> dict[str, Any]:
    return _public(info) | {"user_id": info.user_id, "queue_id": info.id}


@router.get("/status")
async def queue_status(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Depth, oldest wait and workers; admins also see every request."""
    status = await _queue(request).status()
    data = status.to_dict()
    if caller.is_admin:
        # ``queue_id`` names the request unambiguously for cancelling another user's.
        data["queued"] = [_admin_row(i) for i in status.queued]
        data["running"] = [_admin_row(i) for i in status.running]
    else:
        mine = [i for i in status.queued + status.running if i.user_id == caller.user_id]
        data["queued"] = len(status.queued)
        data["running"] = len(status.running)
        data["mine"] = [_public(i) for i in mine]
        for worker in data["workers"]:
            worker.pop("url", None)
            worker.pop("error", None)
    return data


@router.post("/clear")
async def clear_queue(
    request: Request, admin: AdminDep, db: DbSession, band: str | None = None
) -> dict[str, Any]:
    """End every queued request (of one band, or all) with a clear error; running ones finish."""
    is_json = request.headers.get("content-type", "").startswith("application/json")
    if band is None and is_json and (await request.body()).strip():
        band = (await parse_body(request, ClearRequest)).band
    bands = request.app.state.settings.bands
    if band is not None and band not in bands:
        raise InvalidRequest(f"unknown band {band!r}; bands are {bands}", param="band")
    cleared = await _queue(request).clear(band)
    queue_audit.add_entry(db, admin, "clear", band=band, cleared=cleared)
    await db.commit()
    return {"message": "Queue cleared successfully", "cleared": cleared, "band": band}


async def _owned(request: Request, caller: Caller, rid: str) -> RequestInfo:
    for candidate in lookup_ids(caller, rid):
        info = await _queue(request).lookup(candidate)
        # Someone else's request looks exactly like an unknown one.
        if info is not None and (caller.is_admin or info.user_id == caller.user_id):
            return info
    if caller.is_admin:  # an id another user chose, as the admin panel shows it
        status = await _queue(request).status()
        for info in status.queued + status.running:
            if public_id(info.id) == rid:
                return info
    raise NotFound(f"no queued or running request with id {rid}", param="id")


@router.get("/requests/{request_id}")
async def get_request(request_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    """Position, ETA and state of one of your requests."""
    info = await _owned(request, caller, request_id)
    return _public(info) | {"id": request_id}


@router.delete("/requests/{request_id}")
async def cancel_request(request_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    """Cancel one of your requests (admins: anyone's), queued or running."""
    info = await _owned(request, caller, request_id)
    cancelled = await _queue(request).cancel(info.id)
    return {"id": request_id, "cancelled": cancelled}
