"""Sign-in for the web UI: ``/api/auth/login``, ``/logout`` and ``/me``.

Login sets two cookies: ``seadragon_session`` (the session JWT; HttpOnly, SameSite=Lax,
Secure when ``secure_cookies``) and ``seadragon_csrf`` (readable by the page's script,
which echoes it in ``X-CSRF-Token`` on unsafe requests).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

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
from seadragon.api.guard import json_depth_exceeds
from seadragon.auth.sessions import IssuedSession
from seadragon.config import Settings
from seadragon.errors import (
    AuthenticationError,
    InvalidRequest,
    PermissionDenied,
    UnsupportedMediaType,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])

#: Fetch metadata values of requests a page of another site cannot make.
_OWN_SITE = ("same-origin", "none")


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


def _refuse_cross_site(request: Request, settings: Settings) -> None:
    """Login CSRF: a page of another site must not sign the browser into some account.

    A cross-site form cannot send ``application/json`` (that needs a CORS preflight,
    which fails), and browsers name the page's origin in ``Origin`` and
    ``Sec-Fetch-Site``; either is enough to refuse. Clients that are not browsers send
    neither header.
    """
    origin = request.headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        host = request.headers.get("host", "")
        if origin not in settings.cors_origins and (not parts.netloc or parts.netloc != host):
            raise PermissionDenied("sign-in from another site is not allowed", code="cross_site")
    elif request.headers.get("sec-fetch-site", "none").lower() not in _OWN_SITE:
        raise PermissionDenied("sign-in from another site is not allowed", code="cross_site")


async def _login_body(request: Request, settings: Settings) -> LoginBody:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("sign-in takes a JSON body: Content-Type: application/json")
    body = await request.body()
    if json_depth_exceeds(body, settings.max_json_depth):
        raise InvalidRequest(f"JSON nesting is deeper than {settings.max_json_depth} levels")
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
    """Sign in with a JSON username and password; refused from another site's page."""
    _refuse_cross_site(request, settings)
    body = await _login_body(request, settings)
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
