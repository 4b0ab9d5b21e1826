"""The first-start setup: ``GET /api/setup`` (is it needed?) and ``POST /api/setup``.

No credentials: the one-time token printed at start is the credential. After it is
used, or once any user exists, every call answers 403 and the page says to sign in.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from seadragon.api.deps import DbSession
from seadragon.auth import accounts
from seadragon.auth.setup import complete_setup, setup_needed

router = APIRouter(prefix="/api/setup", tags=["setup"])


class SetupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: StrictStr = Field(min_length=1, max_length=256)
    name: StrictStr = Field(max_length=64)
    password: StrictStr = Field(max_length=accounts.MAX_PASSWORD)


@router.get("")
async def setup_state(db: DbSession) -> dict[str, Any]:
    """Whether the first administrator still has to be created."""
    return {"needed": await setup_needed(db)}


@router.post("", status_code=201)
async def setup(db: DbSession, body: SetupBody) -> dict[str, Any]:
    """Create the first administrator with the one-time token; then sign in as usual."""
    user = await complete_setup(db, body.token, body.name, body.password)
    await db.commit()
    return {"user": {"id": user.id, "name": user.name, "is_admin": user.is_admin}}
