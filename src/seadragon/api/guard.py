"""Header, body size, body deadline and JSON depth checks before any route runs.

A pure ASGI middleware (not ``BaseHTTPMiddleware``), so streaming responses and
client-disconnect detection pass through untouched. Any request with more than
``max_headers`` headers is refused with 431. For an unsafe method, in order:

1. a declared ``Content-Length`` over ``max_body_bytes``: 413 at once;
2. the body must arrive within ``body_timeout_s`` (408);
3. JSON nested deeper than ``max_json_depth``: 400.

A body refused before it was read whole is discarded as it arrives, never held; the
server's own deadline (``header_timeout_s``) bounds how long that may take.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seadragon.api.errors import error_response
from seadragon.errors import InvalidRequest, PayloadTooLarge, SeadragonError

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True if brackets nest deeper than ``limit`` outside strings (no full parse)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case, decided at C speed
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b"", body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


@dataclass(frozen=True)
class GuardLimits:
    max_body_bytes: int
    max_json_depth: int
    max_headers: int = 100
    body_timeout_s: float = 30.0


class HeadersTooLarge(InvalidRequest):
    status = 431
    code = "headers_too_large"


class BodyTimeout(InvalidRequest):
    status = 408
    code = "request_timeout"


class RequestGuard:
    """Refuses what must not reach a route, cheaply and before the body where it can."""

    def __init__(self, app: ASGIApp, limits: GuardLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["headers"]) > self.limits.max_headers:
            error = HeadersTooLarge(f"more than {self.limits.max_headers} request headers")
            await _refuse(scope, receive, send, error)
            return
        if scope["method"] not in _UNSAFE:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._admit(scope, receive)
        except SeadragonError as error:
            await _refuse(scope, receive, send, error)
            return
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _admit(self, scope: Scope, receive: Receive) -> bytes | None:
        """The body, once every check before the route passed; None if the client left."""
        headers = dict(scope["headers"])
        declared = _declared_length(headers.get(b"content-length"))
        if declared is not None:
            _check_size(declared, self.limits.max_body_bytes)
        body = await self._read(receive, self.limits.max_body_bytes)
        depth = self.limits.max_json_depth
        if (
            body
            and b"json" in headers.get(b"content-type", b"")
            and json_depth_exceeds(body, depth)
        ):
            raise InvalidRequest(f"JSON nesting is deeper than {depth} levels")
        return body

    async def _read(self, receive: Receive, limit: int) -> bytes | None:
        """The whole body within the deadline; None if the client left."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    _check_size(size, limit)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            timeout = self.limits.body_timeout_s
            raise BodyTimeout(f"the request body did not arrive within {timeout:g} s") from None


def _declared_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidRequest("invalid Content-Length header")
    return int(value)


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, pass through so the app still sees http.disconnect.
        return await receive()

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, error: SeadragonError) -> None:
    response = error_response(error)
    if isinstance(error, BodyTimeout):
        response.headers["connection"] = "close"
    await response(scope, receive, send)
