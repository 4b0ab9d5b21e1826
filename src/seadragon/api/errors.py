"""Every error leaves as OpenAI's ``{"error": {...}}`` with the matching status.

One table (the classes in ``seadragon.errors`` carry their status and type) maps the
exception tree; FastAPI's 422 becomes 400 ``invalid_request_error`` with ``param``
naming the field; anything unexpected becomes a bare 500 whose body and log line hold
no traceback or request data.
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


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return JSONResponse(
        error_body("internal error", "server_error", None, "internal_error"), status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SeadragonError, _seadragon_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
