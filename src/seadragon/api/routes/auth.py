"""Sign-in for the web UI: ``/api/auth/login``, ``/logout`` and ``/me``.

Login sets two cookies: ``seadragon_session`` (the session JWT; HttpOnly, SameSite=Lax,
Secure when ``secure_cookies``) and ``seadragon_csrf`` (readable by the page's script,
which echoes it in ``X-CSRF-Token`` on unsafe requests).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seadragon.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AuthDep,
    CallerDep,
    SettingsDep,
    get_caller,
)
from seadragon.api.errors import validation_message
from seadragon.auth.sessions import IssuedSession
from seadragon.config import Settings
from seadragon.errors import AuthenticationError, InvalidRequest

router = APIRouter(prefix="/api/auth", tags=["auth"])

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


async def _login_body(request: Request) -> LoginBody:
    content_type = request.headers.get("content-type", "").lower()
    data: Any
    if content_type.startswith(_FORM_TYPES):
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    try:
        return LoginBody.model_validate(data)
    except ValidationError as exc:
        message, param = validation_message([dict(e) for e in exc.errors()])
        raise InvalidRequest(message, param=param) from None


def _set_cookies(response: Response, settings: Settings, issued: IssuedSession) -> None:
    common: dict[str, Any] = {
        "max_age": settings.session_ttl_s,
        "path": "/",
        "secure": settings.secure_cookies,
        "samesite": "lax",
    }
    response.set_cookie(SESSION_COOKIE, issued.token, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, issued.csrf_token, httponly=False, **common)


def _clear_cookies(response: Response, settings: Settings) -> None:
    for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(
            name, path="/", secure=settings.secure_cookies, httponly=httponly, samesite="lax"
        )


@router.post("/login")
async def login(request: Request, auth: AuthDep, settings: SettingsDep) -> JSONResponse:
    """Sign in with a username and password (JSON or form fields)."""
    body = await _login_body(request)
    client = request.client.host if request.client else "unknown"
    result = await auth.login(body.username, body.password, client)
    user = result.user
    response = JSONResponse(
        {
            "user": {"id": user.id, "name": user.name, "is_admin": user.is_admin},
            "csrf_token": result.session.csrf_token,
            "expires_at": result.session.expires_at.isoformat(),
        },
        headers={"Cache-Control": "no-store"},
    )
    _set_cookies(response, settings, result.session)
    return response


@router.post("/logout")
async def logout(request: Request, auth: AuthDep, settings: SettingsDep) -> JSONResponse:
    """End the current web session and clear its cookies."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and not request.headers.get("authorization") and not request.headers.get("x-api-key"):
        try:
            await get_caller(request)  # enforces CSRF like any cookie-authenticated POST
        except AuthenticationError:
            pass  # a stale session: nothing to end, but still clear the cookies
        else:
            await auth.logout(token)
    response = JSONResponse({"signed_out": True})
    _clear_cookies(response, settings)
    return response


@router.get("/me")
async def me(caller: CallerDep) -> dict[str, Any]:
    """Who the credentials on this request belong to, and the band they get."""
    user = None
    if caller.user_id is not None:
        user = {"id": caller.user_id, "name": caller.user_name, "is_admin": caller.is_admin}
    return {
        "user": user,
        "auth_type": caller.auth_type,
        "band": caller.band_cap,
        "key_id": caller.key_id,
    }
