"""FastAPI dependencies; route signatures read ``caller: CallerDep, db: DbSession``.

One authentication dependency serves every carrier, in this order:
``Authorization: Bearer <key>``, ``x-api-key: <key>``, the ``seadragon_session`` cookie,
then anonymous (only when enabled). A credential that is present but wrong is a 401,
never a fall-back to another carrier. Cookie-authenticated unsafe methods must echo the
``seadragon_csrf`` cookie in ``X-CSRF-Token`` (double submit, bound to the session);
API-key requests need no CSRF token, since browsers never attach those headers on their own.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.auth.caller import Caller
from seadragon.auth.service import AuthService
from seadragon.config import Settings
from seadragon.db.engine import Database
from seadragon.errors import AuthenticationError, CsrfError, PermissionDenied

SESSION_COOKIE = "seadragon_session"
CSRF_COOKIE = "seadragon_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


Body = TypeVar("Body", bound=BaseModel)


async def parse_body(request: Request, model: type[Body]) -> Body:
    """Parse and validate in one pass (pydantic-core's JSON parser), 400 on any problem.

    For routes that read their body themselves rather than through a parameter.
    """
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_auth(request: Request) -> AuthService:
    auth: AuthService = request.app.state.auth
    return auth


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).session() as session:
        yield session


def _bearer(value: str) -> str:
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthenticationError("malformed Authorization header: expected 'Bearer <API key>'")
    return credential.strip()


def _csrf_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not header or not cookie or not header.isascii() or not cookie.isascii():
        raise CsrfError(f"missing CSRF token: send the {CSRF_COOKIE} cookie in {CSRF_HEADER}")
    if not hmac.compare_digest(header.encode(), cookie.encode()):
        raise CsrfError(f"{CSRF_HEADER} does not match the {CSRF_COOKIE} cookie")
    return header


async def get_caller(request: Request) -> Caller:
    """Authenticate the request by whichever carrier it uses; cached per request."""
    cached = getattr(request.state, "caller", None)
    if isinstance(cached, Caller):
        return cached
    auth = get_auth(request)
    authorization = request.headers.get("authorization")
    api_key = request.headers.get("x-api-key")
    if authorization is not None:
        caller = await auth.authenticate_key(_bearer(authorization))
    elif api_key is not None:
        caller = await auth.authenticate_key(api_key.strip())
    elif session_token := request.cookies.get(SESSION_COOKIE):
        caller = await auth.authenticate_session(session_token)
        if request.method in UNSAFE_METHODS:
            auth.check_csrf(session_token, _csrf_token(request))
    else:
        caller = auth.anonymous()
    request.state.caller = caller
    return caller


async def get_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_admin:
        raise PermissionDenied("this action needs an administrator")
    return caller


async def get_user_caller(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """A caller that is a signed-in user (not anonymous)."""
    if caller.user_id is None:
        raise AuthenticationError("this needs an API key or a signed-in session")
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
UserDep = Annotated[Caller, Depends(get_user_caller)]
AdminDep = Annotated[Caller, Depends(get_admin)]
DbSession = Annotated[AsyncSession, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AuthDep = Annotated[AuthService, Depends(get_auth)]
