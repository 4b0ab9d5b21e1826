"""Every error leaves as OpenAI's ``{"error": {...}}`` with the matching status.

One table (the classes in ``seadragon.errors`` carry their status and type) maps the
exception tree; FastAPI's 422 becomes 400 ``invalid_request_error`` with ``param``
naming the field; anything unexpected becomes a bare 500 whose body and log line hold
no traceback or request data.

Unexpected exceptions are caught by ``ErrorBoundary``, a pure ASGI middleware, rather
than by an ``Exception`` handler: Starlette re-raises after such a handler runs, and the
server then logs the whole traceback, including the message of a database error (which
names the statement's bound parameters, key digests among them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seadragon.errors import SeadragonError

log = logging.getLogger("seadragon.api")

_HTTP_TYPES = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "payload_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
}


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(exc: SeadragonError, request_id: str | None = None) -> JSONResponse:
    headers = {"X-Request-Id": request_id} if request_id else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def validation_param(loc: Sequence[Any]) -> str | None:
    """``("body", "messages", 0, "role")`` → ``"messages[0].role"``."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-union")):
            out += ("." if out else "") + str(part)
    return out or None


def validation_message(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
    param = validation_param(first.get("loc", ()))
    msg = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON", None
    if first.get("type") == "missing":
        return f"missing required parameter: {param}", param
    return (f"{param}: {msg}" if param else msg), param


async def _seadragon_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SeadragonError)
    if exc.status == 429:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.observe_rate_limited(exc.code, exc.retry_after)
    return error_response(exc, getattr(request.state, "request_id", None))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, param = validation_message(list(exc.errors()))
    return JSONResponse(error_body(message, "invalid_request_error", param), status_code=400)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_, code = _HTTP_TYPES.get(exc.status_code, ("server_error", None))
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    return JSONResponse(
        error_body(detail, type_, None, code),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _where(exc: BaseException) -> str:
    """``module:line`` of the innermost Seadragon frame: enough to find the bug, no data."""
    where = "?"
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", "?"))
        if where == "?" or module.startswith("seadragon"):
            where = f"{module}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


class ErrorBoundary:
    """Answers an exception nothing else handled with a shaped 500, logged in one line.

    The log line names the exception type, the route and where it was raised, never the
    exception's message or traceback (either may carry request data or secrets).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error(
                "unhandled %s on %s %s at %s",
                type(exc).__name__,
                scope.get("method", "?"),
                scope.get("path", "?"),
                _where(exc),
            )
            if started:
                return  # a response is under way; the connection just ends
            response = JSONResponse(
                error_body("internal error", "server_error", None, "internal_error"),
                status_code=500,
            )
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SeadragonError, _seadragon_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Added first, so innermost of the middlewares: right around the routes.
    app.add_middleware(ErrorBoundary)
