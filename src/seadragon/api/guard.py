"""Body size and JSON depth caps, enforced before any route sees the request.

A pure ASGI middleware (not ``BaseHTTPMiddleware``), so streaming responses and
client-disconnect detection pass through untouched. Bodies are buffered only up to
``max_body_bytes``; a larger one is refused with 413 without reading the rest.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seadragon.api.errors import error_body

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


class RequestGuard:
    """Refuses oversized (413) and too deeply nested JSON (400) request bodies."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body_bytes
            except ValueError:
                await _reject(send, 400, "invalid Content-Length header", "invalid_request_error")
                return
            if too_big:
                await _too_large(send, self.max_body_bytes)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _too_large(send, self.max_body_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"")
        if b"json" in content_type and json_depth_exceeds(body, self.max_json_depth):
            message_text = f"JSON nesting is deeper than {self.max_json_depth} levels"
            await _reject(send, 400, message_text, "invalid_request_error")
            return
        await self.app(scope, _replay(body, receive), send)


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


async def _too_large(send: Send, limit: int) -> None:
    await _reject(
        send,
        413,
        f"request body is larger than {limit} bytes",
        "invalid_request_error",
        code="payload_too_large",
    )


async def _reject(
    send: Send, status: int, message: str, type_: str, code: str | None = None
) -> None:
    payload: dict[str, Any] = error_body(message, type_, None, code)
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
