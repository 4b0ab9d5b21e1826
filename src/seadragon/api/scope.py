"""Remember the ASGI scope of the request being served, for the request log's ``route``.

Routing writes the matched route into the scope; the request log reads it from there
when the request ends, so a route never has to say its own name.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from seadragon.db.request_log import CURRENT_SCOPE


class ScopeContext:
    """Pure ASGI middleware: sets ``CURRENT_SCOPE`` for the request's whole lifetime."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = CURRENT_SCOPE.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_SCOPE.reset(token)
