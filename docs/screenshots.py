"""Regenerate the README's screenshots: ``.venv/bin/python docs/screenshots.py``.

Runs a real gateway in front of the fake Ollama from ``tests/fakes`` (scripted answers,
so the pictures are the same every time), drives Debian's Chromium with Playwright and
writes ``docs/screenshot-chat.png``, ``docs/screenshot-queue.png`` and
``docs/screenshot-admin.png``. Needs the ``test`` extra and ``/usr/bin/chromium``.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
import orjson  # noqa: E402
import uvicorn  # noqa: E402
from playwright.async_api import Page, async_playwright, expect  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402

from fakes import RecordingStream  # noqa: E402
from fakes.ollama_server import CREATED_AT, FakeOllama  # noqa: E402
from seadragon.app import create_app  # noqa: E402
from seadragon.auth.accounts import create_user, issue_key  # noqa: E402
from seadragon.config import Settings  # noqa: E402
from seadragon.db.engine import Database  # noqa: E402

DOCS = ROOT / "docs"
MODELS = ["llama3.2:3b", "qwen2.5-coder:7b"]
QUESTION = "How do I sort a list of dicts by a key in Python?"
ANSWER = """Use `sorted()` with a **key function**. `operator.itemgetter` is the fastest:

```python
from operator import itemgetter

people = [{"name": "Ada", "age": 36}, {"name": "Linus", "age": 28}]
by_age = sorted(people, key=itemgetter("age"))
oldest_first = sorted(people, key=itemgetter("age"), reverse=True)
```

| goal | key |
|---|---|
| one field | `itemgetter("age")` |
| two fields | `itemgetter("age", "name")` |
| missing fields | `lambda p: p.get("age", 0)` |

`sorted()` returns a new list; `people.sort(key=...)` sorts in place.
"""
EARLIER = [
    "Summarise the RabbitMQ aging design",
    "Draft a release note for v0.2",
    "Regex for ISO dates",
]


class DemoOllama(FakeOllama):
    """The fake Ollama answering every chat with ``ANSWER``, a few characters at a time."""

    async def chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"null")
        record = self.begin(request, body)
        pieces = [ANSWER[i : i + 8] for i in range(0, len(ANSWER), 8)]
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
                    line |= {"done_reason": "stop", "prompt_eval_count": 31, "eval_count": 142}
                yield orjson.dumps(line) + b"\n"

        return RecordingStream(produce, "application/x-ndjson", self, record)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the gateway did not start")
            threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def seed(settings: Settings) -> str:
    database = Database(settings)
    await database.start()
    try:
        async with database.session() as session:
            admin = await create_user(session, "admin", "admin-password-1", is_admin=True)
            await create_user(session, "alice", "alice-password-1")
            _, key = await issue_key(session, settings, admin, name="ci", band="high")
            await session.commit()
    finally:
        await database.close()
    return key.plaintext


async def sign_in(page: Page, url: str, name: str, then: str = "/") -> None:
    await page.goto(f"{url}/login?next={then}")
    await page.get_by_label("Username").fill(name)
    await page.get_by_label("Password").fill(f"{name}-password-1")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}{then}")


async def api_stream(url: str, key: str, text: str, started: asyncio.Event) -> None:
    """An API client streaming an answer (band high), as a build server would."""
    body = {"model": MODELS[0], "stream": True, "messages": [{"role": "user", "content": text}]}
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=url, timeout=120) as client,
        client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response,
    ):
        async for _ in response.aiter_lines():
            started.set()


async def shoot(url: str, fake: DemoOllama, key: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await sign_in(page, url, "alice")
        for title in EARLIER:  # a sidebar with some history
            await page.request.post(
                f"{url}/api/conversations",
                data={"title": title},
                headers={"X-CSRF-Token": await csrf(page)},
            )
        await page.reload()
        await page.get_by_label("Message").fill(QUESTION)
        await page.get_by_role("button", name="Send").click()
        await expect(page.locator(".msg.assistant .meta")).to_contain_text("tokens", timeout=30_000)
        await page.screenshot(path=str(DOCS / "screenshot-chat.png"))

        # The queue while waiting: API traffic holds the only slot and one more waits.
        fake.config.token_delay = 0.5
        tasks = []
        for text in ("nightly batch summary", "CI review bot"):
            started = asyncio.Event()
            tasks.append(asyncio.create_task(api_stream(url, key, text, started)))
            await started.wait()
        await fake.until(lambda: fake.in_flight == 1)
        await page.get_by_role("button", name="New chat").click()
        await page.get_by_label("Message").fill("Explain priority aging in two sentences.")
        await page.get_by_role("button", name="Send").click()
        await expect(page.locator(".queue-status")).to_contain_text("ahead", timeout=30_000)
        await page.screenshot(path=str(DOCS / "screenshot-queue.png"))

        admin = await (
            await browser.new_context(viewport={"width": 1280, "height": 900})
        ).new_page()
        await sign_in(admin, url, "admin", then="/admin")
        await expect(admin.locator("#queued tbody tr")).to_have_count(2, timeout=30_000)
        await admin.screenshot(path=str(DOCS / "screenshot-admin.png"))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await browser.close()


async def csrf(page: Page) -> str:
    cookies = await page.context.cookies()
    return next(c["value"] for c in cookies if c["name"] == "seadragon_csrf")


async def wait_for_models(url: str, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        # The gateway discovers the fake's models in the background; nothing to wait on but this.
        while len((await client.get("/v1/models")).json()["data"]) < len(MODELS):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, DemoOllama(models=MODELS) as fake:
        fake.config.token_delay = 0.02
        settings = Settings(
            data_dir=Path(tmp),
            local_model="off",
            backends=[{"name": "gpu1", "url": fake.url, "kind": "ollama", "slots": 1}],
            secret_key=secrets.token_urlsafe(48),
            default_model=MODELS[0],
            aging_interval_s=120,
        )
        key = await seed(settings)
        with serving(create_app(settings)) as url:
            await wait_for_models(url, key)
            await shoot(url, fake, key)
    for name in ("chat", "queue", "admin"):
        print(DOCS / f"screenshot-{name}.png")


if __name__ == "__main__":
    asyncio.run(main())
