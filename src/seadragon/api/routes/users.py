"""User management for administrators: ``/api/users``.

An administrator cannot disable, demote or delete their own account, so a deployment
cannot lock out its last admin by accident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from seadragon.api.deps import AdminDep, AuthDep, DbSession, SettingsDep
from seadragon.auth import accounts
from seadragon.config import Settings
from seadragon.db import users as user_repo
from seadragon.db.tables import User
from seadragon.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/api/users", tags=["users"])

#: Ids beyond a 32-bit integer cannot exist; refusing them keeps PostgreSQL from erroring.
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class UserOut(BaseModel):
    id: int
    name: str
    is_admin: bool
    disabled: bool
    created_at: datetime
    #: The highest band the user may give their own keys.
    max_band: str

    @classmethod
    def of(cls, user: User, settings: Settings) -> UserOut:
        return cls(
            id=user.id,
            name=user.name,
            is_admin=user.is_admin,
            disabled=user.disabled,
            created_at=user.created_at,
            max_band=accounts.max_band_of(settings, user),
        )


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(max_length=64)
    password: StrictStr = Field(max_length=accounts.MAX_PASSWORD)
    is_admin: StrictBool = False
    max_band: StrictStr | None = Field(default=None, max_length=32)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: StrictBool | None = None
    is_admin: StrictBool | None = None
    password: StrictStr | None = Field(default=None, max_length=accounts.MAX_PASSWORD)
    max_band: StrictStr | None = Field(default=None, max_length=32)


def _max_band(settings: Settings, band: str | None) -> str | None:
    if band is None:
        return None
    try:
        return accounts.check_band(settings, band)
    except InvalidRequest as exc:
        exc.param = "max_band"
        raise


async def _user(db: DbSession, user_id: int) -> User:
    user = await user_repo.get_user(db, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


@router.get("")
async def list_users(_: AdminDep, db: DbSession, settings: SettingsDep) -> dict[str, Any]:
    users = await user_repo.list_users(db)
    return {"data": [UserOut.of(u, settings) for u in users]}


@router.post("", status_code=201)
async def create_user(
    _: AdminDep, db: DbSession, settings: SettingsDep, body: UserCreate
) -> UserOut:
    user = await accounts.create_user(
        db,
        body.name,
        body.password,
        is_admin=body.is_admin,
        max_band=_max_band(settings, body.max_band),
    )
    await db.commit()
    return UserOut.of(user, settings)


@router.get("/{user_id}")
async def get_user(_: AdminDep, db: DbSession, settings: SettingsDep, user_id: UserId) -> UserOut:
    return UserOut.of(await _user(db, user_id), settings)


@router.patch("/{user_id}")
async def update_user(
    admin: AdminDep,
    db: DbSession,
    auth: AuthDep,
    settings: SettingsDep,
    user_id: UserId,
    body: UserPatch,
) -> UserOut:
    user = await _user(db, user_id)
    if user.id == admin.user_id and (body.disabled or body.is_admin is False):
        raise InvalidRequest(
            "you cannot disable or demote your own account",
            param="disabled" if body.disabled else "is_admin",
        )
    await accounts.update_user(
        db,
        user,
        disabled=body.disabled,
        is_admin=body.is_admin,
        password=body.password,
        max_band=_max_band(settings, body.max_band),
    )
    await db.commit()
    auth.forget_user(user.id)
    return UserOut.of(user, settings)


@router.delete("/{user_id}", status_code=204)
async def delete_user(admin: AdminDep, db: DbSession, auth: AuthDep, user_id: UserId) -> Response:
    user = await _user(db, user_id)
    if user.id == admin.user_id:
        raise InvalidRequest("you cannot delete your own account", param="user_id")
    await user_repo.delete_user(db, user)
    await db.commit()
    auth.forget_user(user_id)
    return Response(status_code=204)
