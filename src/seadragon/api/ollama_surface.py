"""Two things Ollama clients expect of the whole server, as one ASGI middleware.

- Errors on the native routes are Ollama's ``{"error": "message"}`` (with the status
  Seadragon chose), not OpenAI's nested object; this covers errors raised anywhere
  (authentication, the body guard, validation, the routes).
- ``GET /`` and ``HEAD /`` answer ``Ollama is running`` (as Ollama does: clients probe
  it) unless the caller is a browser asking for a page (``Accept`` naming
  ``text/html``), which gets the web chat as before.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seadragon.api.routes.web import SECURITY_HEADERS

#: The native API's paths; ``/api/chat/completions`` is the OpenAI surface's.
NATIVE_PATHS = frozenset(
    {"/api/chat", "/api/generate", "/api/embed", "/api/embeddings", "/api/tags", "/api/ps",
     "/api/show", "/api/version", "/api/pull", "/api/push", "/api/create", "/api/delete",
     "/api/copy"}
)  # fmt: skip
ROOT_ANSWER = b"Ollama is running"


def is_native(path: str) -> bool:
    return path in NATIVE_PATHS or path.startswith("/api/blobs/")


def ollama_error(body: bytes) -> bytes:
    """OpenAI's error body as Ollama's; anything else is left as it is."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return body
    message = str(error.get("message") or "request failed")
    param = error.get("param")
    if param and str(param) not in message:
        message = f"{param}: {message}"
    return orjson.dumps({"error": message})


class OllamaSurface:
    """Ollama-shaped errors on native routes, and Ollama's answer to a probe of ``/``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/" and scope["method"] in ("GET", "HEAD") and not _wants_page(scope):
            await _root(scope, send)
            return
        if not is_native(path):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _reshaping(send))


def _wants_page(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value
    return False


async def _root(scope: Scope, send: Send) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(ROOT_ANSWER)).encode())]  # fmt: skip
    # The same policy as the pages served at this path.
    headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    body = b"" if scope["method"] == "HEAD" else ROOT_ANSWER
    await send({"type": "http.response.body", "body": body})


def _reshaping(send: Send) -> Send:
    start: Message | None = None
    chunks: list[bytes] = []

    async def reshaping_send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start" and message["status"] >= 400:
            start = message
            return
        if start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = ollama_error(b"".join(chunks))
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return reshaping_send
