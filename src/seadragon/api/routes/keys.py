"""API keys: ``/api/keys``. Users manage their own; administrators anyone's.

The full key is in the response to its creation and nowhere else, ever. Another user's
key answers 404, exactly like a key that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from seadragon.api.deps import AuthDep, DbSession, SettingsDep, UserDep
from seadragon.auth import accounts
from seadragon.auth.caller import Caller
from seadragon.config import Settings
from seadragon.db import keys as key_repo
from seadragon.db import users as user_repo
from seadragon.db.tables import ApiKey, User
from seadragon.errors import InvalidRequest, NotFound, PermissionDenied

router = APIRouter(prefix="/api/keys", tags=["keys"])

_MAX_ID = 2**31 - 1
KeyId = Annotated[int, Path(ge=1, le=_MAX_ID)]


class KeyOut(BaseModel):
    id: int
    user_id: int
    name: str
    display: str
    prefix: str
    last4: str
    band: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls.model_validate(key, from_attributes=True)


class CreatedKey(KeyOut):
    key: str = Field(description="The API key itself. Shown this once; store it now.")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(default="default", max_length=64)
    band: StrictStr | None = Field(default=None, max_length=32)
    expires_in_days: StrictInt | None = Field(default=None, ge=1, le=accounts.MAX_KEY_DAYS)
    expires_at: datetime | None = None
    #: Administrators may create a key for another user.
    user_id: StrictInt | None = Field(default=None, ge=1, le=_MAX_ID)


async def _visible_key(db: DbSession, caller: Caller, key_id: int) -> ApiKey:
    key = await key_repo.get_key(db, key_id)
    if key is None or (key.user_id != caller.user_id and not caller.is_admin):
        raise NotFound(f"no API key with id {key_id}")
    return key


def _band_for(settings: Settings, caller: Caller, owner: User, asked: str | None) -> str:
    """The band of a new key: administrators may give any; users up to their ``max_band``.

    A user's cap is what an administrator allowed them, and never above the band of the
    API key making the request: no key can mint a key that outranks it.
    """
    if asked is not None:
        accounts.check_band(settings, asked)
    if caller.is_admin:
        return asked or settings.api_key_default_band
    cap = accounts.max_band_of(settings, owner)
    if caller.auth_type == "api_key":
        cap = accounts.lower_band(settings, cap, caller.band_cap)
    if asked is None:
        return accounts.lower_band(settings, settings.api_key_default_band, cap)
    if not accounts.band_allowed(settings, asked, cap):
        raise PermissionDenied(
            f"band {asked!r} is above {cap!r}, the highest band you may give a key",
            param="band",
        )
    return asked


@router.get("")
async def list_keys(
    caller: UserDep,
    db: DbSession,
    user_id: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
    all_users: bool = False,
) -> dict[str, Any]:
    """Your keys; administrators may pass ``user_id`` or ``all_users=true``."""
    owner: int | None = caller.user_id
    if user_id is not None or all_users:
        if not caller.is_admin:
            raise PermissionDenied("only administrators may list other users' keys")
        owner = None if all_users else user_id
    keys = await key_repo.list_keys(db, owner)
    return {"data": [KeyOut.of(k) for k in keys]}


@router.post("", status_code=201)
async def create_key(
    caller: UserDep, db: DbSession, settings: SettingsDep, body: KeyCreate
) -> CreatedKey:
    """Create a key; the response holds the key itself, shown only this once."""
    owner_id = body.user_id or caller.user_id
    assert owner_id is not None
    if owner_id != caller.user_id and not caller.is_admin:
        raise PermissionDenied("only administrators may create keys for other users")
    owner = await user_repo.get_user(db, owner_id)
    if owner is None:
        raise NotFound(f"no user with id {owner_id}", param="user_id")
    band = _band_for(settings, caller, owner, body.band)
    if body.expires_in_days is not None and body.expires_at is not None:
        raise InvalidRequest(
            "give expires_in_days or expires_at, not both", param="expires_in_days"
        )
    expires_at = body.expires_at
    if body.expires_in_days is not None:
        expires_at = datetime.now(UTC) + timedelta(days=body.expires_in_days)
    row, new = await accounts.issue_key(
        db, settings, owner, name=body.name, band=band, expires_at=expires_at
    )
    await db.commit()
    return CreatedKey(**KeyOut.of(row).model_dump(), key=new.plaintext)


@router.get("/{key_id}")
async def get_key(caller: UserDep, db: DbSession, key_id: KeyId) -> KeyOut:
    return KeyOut.of(await _visible_key(db, caller, key_id))


@router.delete("/{key_id}")
async def revoke_key(caller: UserDep, db: DbSession, auth: AuthDep, key_id: KeyId) -> KeyOut:
    """Revoke a key at once in this gateway, within ``key_cache_ttl_s`` in the others."""
    key = await _visible_key(db, caller, key_id)
    await key_repo.revoke_key(db, key, datetime.now(UTC))
    await db.commit()
    auth.forget_key(key)
    return KeyOut.of(key)
