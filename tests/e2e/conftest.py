"""Real-browser tests: Debian's Chromium, driven by Playwright, against a real gateway.

The gateway runs in uvicorn on its own thread and port in front of a fake Ollama, as in
production, so cookies, CSP, streaming and disconnects are real. Without
``/usr/bin/chromium`` the tests skip, except with ``CI`` set, where they fail.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from starlette.requests import Request
from starlette.responses import Response

from fakes import RecordingStream
from fakes.ollama_server import CREATED_AT, FakeOllama
from seadragon.api.routes import web
from seadragon.app import create_app
from seadragon.auth.accounts import create_user, issue_key
from seadragon.config import Settings
from seadragon.db.engine import Database
from services import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN = ("admin", "admin-password-1")
USER = ("alice", "alice-password-1")
MODELS = ["fake-model", "scripted", "error-after-2", "echo"]
#: What the ``scripted`` model answers: markup that must reach the page as plain text.
SCRIPTED_REPLY = 'Sure: <img src=x onerror=alert(1)> and <script>alert("x")</script> done.'

expect.set_options(timeout=10_000)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gateway(**settings): settings for the e2e gateway")


@pytest.fixture(autouse=True)
def _needs_chromium() -> None:
    require(CHROMIUM.exists(), str(CHROMIUM))


class ScriptedOllama(FakeOllama):
    """The fake Ollama, plus a model ``scripted`` that streams ``SCRIPTED_REPLY`` in pieces
    and a model ``echo`` that streams the last user message back the same way."""

    async def chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"null")  # starlette caches the body
        if not isinstance(body, dict) or body.get("model") not in ("scripted", "echo"):
            return await super().chat(request)
        record = self.begin(request, body)
        reply = SCRIPTED_REPLY
        if body["model"] == "echo":
            users = [m for m in body.get("messages") or () if m.get("role") == "user"]
            reply = str(users[-1].get("content", "")) if users else ""
        pieces = [reply[i : i + 6] for i in range(0, len(reply), 6)]
        model = body["model"]

        async def produce(disconnected: asyncio.Event) -> AsyncIterator[bytes]:
            for text in [*pieces, ""]:
                await asyncio.sleep(self.config.token_delay)
                line: dict[str, Any] = {
                    "model": model,
                    "created_at": CREATED_AT,
                    "message": {"role": "assistant", "content": text},
                    "done": not text,
                }
                if not text:
                    line |= {"done_reason": "stop", "prompt_eval_count": 1, "eval_count": 9}
                yield orjson.dumps(line) + b"\n"

        return RecordingStream(produce, "application/x-ndjson", self, record)


@dataclass
class Gateway:
    url: str
    settings: Settings
    fake: ScriptedOllama
    api_key: str
    calls: list[StreamingCall] = field(default_factory=list)

    def call(self, content: str = "hello", model: str = "fake-model") -> StreamingCall:
        """An API-key client streaming a chat completion (band high), started later."""
        call = StreamingCall(self, model, content)
        self.calls.append(call)
        return call


class StreamingCall:
    """A programmatic client (the ``openai`` SDK, say) streaming one answer."""

    def __init__(self, gateway: Gateway, model: str, content: str) -> None:
        self.gateway, self.model, self.content = gateway, model, content
        self.queued = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> StreamingCall:
        """Send the request; return once the gateway has queued it."""
        self.task = asyncio.create_task(self._run())
        waiter = asyncio.create_task(self.queued.wait())
        await asyncio.wait([self.task, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not self.queued.is_set():
            await self.task  # it failed before being queued: raise that
        return self

    async def _run(self) -> None:
        body = {"model": self.model, "stream": True}
        body["messages"] = [{"role": "user", "content": self.content}]
        headers = {"Authorization": f"Bearer {self.gateway.api_key}"}
        async with (
            httpx.AsyncClient(base_url=self.gateway.url, timeout=60) as client,
            client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as resp,
        ):
            assert resp.status_code == 200, await resp.aread()
            async for line in resp.aiter_lines():
                if line.startswith(": queue position="):
                    self.queued.set()

    async def stop(self) -> None:
        """Hang up, as a client that gives up does; the gateway frees the slot."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def seed(settings: Settings) -> str:
    """An admin with an API key, and a plain user; returns the admin's key."""
    database = Database(settings)
    await database.start()
    try:
        async with database.session() as session:
            admin = await create_user(session, ADMIN[0], ADMIN[1], is_admin=True)
            await create_user(session, USER[0], USER[1])
            _, key = await issue_key(session, settings, admin, name="e2e", band="high")
            await session.commit()
    finally:
        await database.close()
    return key.plaintext


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free port in a thread; yield its base URL."""
    ready = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            ready.set()

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    config.timeout_graceful_shutdown = 2
    server = Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        if not ready.wait(30) or server.should_exit:
            raise RuntimeError("the gateway did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def fake() -> Iterator[ScriptedOllama]:
    # A copy: model management tests pull and delete models on the fake.
    with ScriptedOllama(models=list(MODELS), tokens=8) as server:
        yield server


@pytest.fixture
async def gateway(
    request: pytest.FixtureRequest, tmp_path: Path, fake: ScriptedOllama
) -> AsyncIterator[Gateway]:
    """A gateway with one single-slot fake backend; ``@pytest.mark.gateway(**settings)``."""
    marker = request.node.get_closest_marker("gateway")
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "local_model": "off",
        "backends": [{"name": "fake", "url": fake.url, "kind": "ollama", "slots": 1}],
        "aging_interval_s": 120.0,
        "secret_key": "e2e-secret-key-with-enough-entropy-0123456789abcdef",
        **(marker.kwargs if marker else {}),
    }
    settings = Settings(**values)
    api_key = await seed(settings)
    app = create_app(settings)
    if not any(getattr(route, "path", None) == "/admin" for route in app.routes):
        app.include_router(web.router)
    with serving(app) as url:
        gateway = Gateway(url, settings, fake, api_key)
        yield gateway
        await asyncio.gather(*(call.stop() for call in gateway.calls))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@dataclass
class Tab:
    """A page plus what went wrong in it: uncaught errors, CSP reports, JS dialogs."""

    page: Page
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
async def new_tab(browser: Browser) -> AsyncIterator[Any]:
    """``await new_tab()`` → a Tab in a fresh context (own cookies); checked at teardown."""
    tabs: list[Tab] = []

    async def make() -> Tab:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        tab = Tab(page)
        page.on("pageerror", lambda error: tab.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda msg: (
                tab.problems.append(f"console: {msg.text}")
                if "Content Security Policy" in msg.text or "Uncaught" in msg.text
                else None
            ),
        )
        page.on("dialog", lambda dialog: _dismiss(tab, dialog))
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        await tab.page.context.close()
    assert [p for tab in tabs for p in tab.problems] == []
    assert [d for tab in tabs for d in tab.dialogs] == []


async def _dismiss(tab: Tab, dialog: Any) -> None:
    tab.dialogs.append(dialog.message)
    await dialog.dismiss()


async def sign_in(page: Page, url: str, who: tuple[str, str], then: str = "/") -> None:
    """Sign in through the login form and land on ``then``."""
    await page.goto(f"{url}/login?next={then}")
    await page.get_by_label("Username").fill(who[0])
    await page.get_by_label("Password").fill(who[1])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}{then}")
