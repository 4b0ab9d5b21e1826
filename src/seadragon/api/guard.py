"""Header, credential, body size, body deadline and JSON depth checks before any route runs.

A pure ASGI middleware (not ``BaseHTTPMiddleware``), so streaming responses and
client-disconnect detection pass through untouched. Any request with more than
``max_headers`` headers is refused with 431. For an unsafe method, in order:

1. a declared ``Content-Length`` over ``max_body_bytes``: 413 at once;
2. credentials, from the headers alone, unless the path is one that signs people in: a
   missing or wrong one is answered (401/403) before a byte of the body is read, so
   nobody without credentials can make the gateway hold a body;
3. the bytes to buffer are reserved from ``max_inflight_body_bytes``, shared by every
   request in flight: beyond it, 503 with ``Retry-After`` rather than running out of
   memory (a body without ``Content-Length`` reserves as it arrives);
4. the body must arrive within ``body_timeout_s`` (408), and routes that sign people in
   take at most ``max_public_body_bytes``;
5. JSON nested deeper than ``max_json_depth``: 400.

A body refused before it was read whole is discarded as it arrives, never held; the
server's own deadline (``header_timeout_s``) bounds how long that may take.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seadragon.api.deps import get_caller
from seadragon.api.errors import error_response
from seadragon.errors import (
    InvalidRequest,
    PayloadTooLarge,
    SeadragonError,
    ServiceUnavailable,
)

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

#: Unsafe routes that must work without credentials (a stale session cookie included).
PUBLIC_PATHS = frozenset({"/api/auth/login", "/api/auth/logout", "/api/setup"})


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
    max_public_body_bytes: int = 64 * 1024
    max_inflight_body_bytes: int = 256 * 1024 * 1024
    body_timeout_s: float = 30.0


class HeadersTooLarge(InvalidRequest):
    status = 431
    code = "headers_too_large"


class BodyTimeout(InvalidRequest):
    status = 408
    code = "request_timeout"


class BodyBudget:
    """Bytes buffered for request bodies in flight, against one process-wide limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        if self.used + size > self.limit:
            raise ServiceUnavailable(
                "the gateway is holding as many request bodies as it may; retry shortly",
                code="server_busy",
                retry_after=1,
            )
        self.used += size

    def give(self, size: int) -> None:
        self.used -= size


@dataclass
class _Reservation:
    """What one request took from the budget, given back once when it ends."""

    budget: BodyBudget
    held: int = 0

    def take(self, size: int) -> None:
        self.budget.take(size)
        self.held += size

    def release(self) -> None:
        self.budget.give(self.held)
        self.held = 0


class RequestGuard:
    """Refuses what must not reach a route, cheaply and before the body where it can."""

    def __init__(
        self, app: ASGIApp, limits: GuardLimits, public_paths: frozenset[str] = PUBLIC_PATHS
    ) -> None:
        self.app = app
        self.limits = limits
        self.public_paths = public_paths
        self.budget = BodyBudget(limits.max_inflight_body_bytes)

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
        reservation = _Reservation(self.budget)
        try:
            try:
                body = await self._admit(scope, receive, reservation)
            except SeadragonError as error:
                await _refuse(scope, receive, send, error)
                return
            if body is not None:
                await self.app(scope, _replay(body, receive), send)
        finally:
            reservation.release()

    async def _admit(
        self, scope: Scope, receive: Receive, reservation: _Reservation
    ) -> bytes | None:
        """The body, once every check before the route passed; None if the client left."""
        headers = dict(scope["headers"])
        declared = _declared_length(headers.get(b"content-length"))
        if declared is not None:
            _check_size(declared, self.limits.max_body_bytes)
        public = scope["path"] in self.public_paths
        if not public:
            # Caches the caller on the request's state: the route's dependency reuses it.
            await get_caller(Request(scope))
        limit = self.limits.max_public_body_bytes if public else self.limits.max_body_bytes
        if declared is not None:
            _check_size(declared, limit)
            reservation.take(declared)
        body = await self._read(receive, limit, reservation if declared is None else None)
        depth = self.limits.max_json_depth
        if (
            body
            and _may_be_parsed_as_json(headers.get(b"content-type", b"").lower())
            and json_depth_exceeds(body, depth)
        ):
            raise InvalidRequest(f"JSON nesting is deeper than {depth} levels")
        return body

    async def _read(
        self, receive: Receive, limit: int, reservation: _Reservation | None
    ) -> bytes | None:
        """The whole body within the deadline, reserving as it comes when no length was given."""
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
                    if reservation is not None:
                        reservation.take(len(chunk))
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


def _may_be_parsed_as_json(content_type: bytes) -> bool:
    """FastAPI parses an unlabelled body as JSON, and some routes parse text bodies too."""
    return not content_type or b"json" in content_type or content_type.startswith(b"text/")


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
