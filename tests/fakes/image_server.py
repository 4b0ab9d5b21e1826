"""A small web server with images, for the gateway's opt-in remote image fetching."""

from __future__ import annotations

import asyncio
import base64

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import FakeServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)


class FakeImages(FakeServer):
    """``/cat.png``, ``/big.png`` (1 MB), ``/page.html``, ``/moved`` (302), ``/slow.png``."""

    def routes(self) -> list[Route]:
        return [
            Route("/cat.png", self.cat),
            Route("/big.png", self.big),
            Route("/page.html", self.page),
            Route("/moved", self.moved),
            Route("/slow.png", self.slow),
        ]

    async def cat(self, request: Request) -> Response:
        self.begin(request, None, count=False)
        return Response(PNG, media_type="image/png")

    async def big(self, request: Request) -> Response:
        self.begin(request, None, count=False)
        return Response(PNG + b"\0" * 1_000_000, media_type="image/png")

    async def page(self, request: Request) -> Response:
        self.begin(request, None, count=False)
        return Response(b"<html></html>", media_type="text/html")

    async def moved(self, request: Request) -> Response:
        self.begin(request, None, count=False)
        return RedirectResponse("/cat.png", status_code=302)

    async def slow(self, request: Request) -> Response:
        self.begin(request, None, count=False)
        await asyncio.sleep(3)
        return Response(PNG, media_type="image/png")
