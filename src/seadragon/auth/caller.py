"""Who is making a request, as every route and the queue see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AuthType = Literal["api_key", "session", "anonymous"]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller; ``band_cap`` is the highest band its requests may use."""

    user_id: int | None
    user_name: str | None
    is_admin: bool
    auth_type: AuthType
    key_id: int | None
    band_cap: str
