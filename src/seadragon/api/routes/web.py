"""The built-in web chat, key page and admin panel: four HTML pages and their static files.

The pages are plain static files that talk to the JSON API; everything they show is
inserted as text by the browser scripts. The strict Content-Security-Policy (no inline
script or style, same-origin only) is the second line of defence should that ever slip.
Admin-only data is enforced by the API routes, so ``/admin`` itself loads for anyone.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from seadragon.errors import NotFound

router = APIRouter(tags=["web"], include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"
#: Pinned copies of third-party browser libraries (see the README there).
VENDOR_DIR = STATIC_DIR / "vendor"
#: What a static file's name may be; anything else (a NUL byte, a slash, a leading dot)
#: is simply absent.
STATIC_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Revalidate every time: the gateway is upgraded in place and stale scripts would
    # talk to a changed API. ETags keep the revalidation cheap.
    "Cache-Control": "no-cache",
}

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


def _page(name: str) -> FileResponse:
    return _file(STATIC_DIR / name)


@router.get("/")
async def chat_page() -> Response:
    """The web chat."""
    return _page("chat.html")


@router.get("/login")
async def login_page() -> Response:
    """The sign-in form."""
    return _page("login.html")


@router.get("/keys")
async def keys_page() -> Response:
    """Every signed-in user's own API keys."""
    return _page("keys.html")


@router.get("/admin")
async def admin_page() -> Response:
    """The admin panel: live queue, workers, users and keys."""
    return _page("admin.html")


@router.get("/setup")
async def setup_page() -> Response:
    """The first-start page where the first administrator chooses a password."""
    return _page("setup.html")


def _static(directory: Path, name: str) -> Response:
    if not STATIC_NAME.fullmatch(name):
        raise NotFound(f"no static file {name!r}")
    path = (directory / name).resolve()  # a link out of the directory fails the next check
    if path.parent != directory or path.suffix not in MEDIA_TYPES or not path.is_file():
        raise NotFound(f"no static file {name!r}")
    return _file(path)


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """One file of the flat static directory; nothing outside it, no listing."""
    return _static(STATIC_DIR, name)


@router.get("/static/vendor/{name}")
async def vendor_file(name: str) -> Response:
    """One vendored library file (the licences beside them are not served)."""
    return _static(VENDOR_DIR, name)
