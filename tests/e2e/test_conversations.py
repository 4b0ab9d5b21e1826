"""Conversations in a real browser: kept on the server, listed, renamed, searched and
deleted; regenerate, edit and resend; per-conversation settings; Markdown, safely."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from .conftest import ADMIN, USER, Gateway, sign_in

pytestmark = pytest.mark.browser

EXPECTED = "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7"


async def send(page: Page, text: str, model: str = "fake-model") -> None:
    """Send a message and wait until its answer has ended."""
    before = await answers(page).count()
    await page.get_by_label("Model").select_option(model)
    await page.get_by_label("Message").fill(text)
    await page.get_by_role("button", name="Send").click()
    await expect(answers(page)).to_have_count(before + 1)
    await answer_ended(page)


async def answer_ended(page: Page) -> None:
    await expect(page.locator(".msg.assistant.pending, .msg.assistant.streaming")).to_have_count(0)
    await expect(page.get_by_role("button", name="Send")).to_be_visible()


def answers(page: Page) -> Any:
    return page.locator(".msg.assistant")


def last_chat(gateway: Gateway) -> Any:
    """The body of the newest chat request the fake Ollama received."""
    return [r for r in gateway.fake.requests if r.path == "/api/chat"][-1].body


def sidebar(page: Page) -> Any:
    """The titles in the conversation list, top to bottom."""
    return page.locator("#conversations li .open")


async def test_a_conversation_survives_a_reload_and_follows_its_user(
    gateway: Gateway, new_tab: Any
) -> None:
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, USER)
    await send(page, "What is a priority queue?")
    await expect(answers(page).locator(".body")).to_have_text(EXPECTED)
    await send(page, "And aging?")
    await expect(answers(page)).to_have_count(2)
    await expect(sidebar(page)).to_have_text(["What is a priority queue?"])
    # The answer says which band it ran in (a web session: low).
    await expect(answers(page).last.locator(".meta")).to_contain_text("band low")

    await page.reload()
    await expect(page.locator(".msg.user .body")).to_have_text(
        ["What is a priority queue?", "And aging?"]
    )
    await expect(answers(page).locator(".body")).to_have_text([EXPECTED, EXPECTED])
    await expect(answers(page).last.locator(".meta")).to_contain_text("8 tokens")

    # Another browser, same user: the conversation is there.
    other = (await new_tab()).page
    await sign_in(other, gateway.url, USER)
    await expect(sidebar(other)).to_have_text(["What is a priority queue?"])
    await sidebar(other).first.click()
    await expect(other.locator(".msg.user .body")).to_have_count(2)
    await send(other, "A third question")
    await expect(answers(other)).to_have_count(3)
    # The next turn carries the whole stored conversation to the model.
    sent = [m["content"] for m in last_chat(gateway)["messages"]]
    assert sent == [
        "What is a priority queue?",
        EXPECTED,
        "And aging?",
        EXPECTED,
        "A third question",
    ]

    # Another user sees none of it.
    admin = (await new_tab()).page
    await sign_in(admin, gateway.url, ADMIN)
    await expect(admin.locator("#conversations li.none")).to_have_text("No conversations yet.")


async def test_rename_search_and_delete(gateway: Gateway, new_tab: Any) -> None:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER)
    for text in ("Soup recipes please", "Explain Rust lifetimes", "Plan a trip to Lisbon"):
        await page.get_by_role("button", name="New chat").click()
        await send(page, text)
    await expect(sidebar(page)).to_have_text(
        ["Plan a trip to Lisbon", "Explain Rust lifetimes", "Soup recipes please"]
    )

    await page.get_by_role("button", name="Rename Soup recipes please").click()
    title = page.get_by_label("New title")
    await title.fill("Tomato soup")
    await title.press("Enter")
    await expect(sidebar(page)).to_have_text(
        ["Plan a trip to Lisbon", "Explain Rust lifetimes", "Tomato soup"]
    )

    search = page.get_by_label("Search conversations")
    await search.fill("rust")
    await expect(sidebar(page)).to_have_text(["Explain Rust lifetimes"])
    await search.fill("nothing matches this")
    await expect(sidebar(page)).to_have_count(0)
    await expect(page.locator("#conversations li.none")).to_have_text(
        "No conversation has that in its title."
    )
    await search.fill("")
    await expect(sidebar(page)).to_have_count(3)

    await sidebar(page).filter(has_text="Plan a trip to Lisbon").click()
    await expect(page.locator(".msg.user .body")).to_have_text(["Plan a trip to Lisbon"])
    await page.get_by_role("button", name="Delete Plan a trip to Lisbon").click()
    dialog = page.locator("dialog#confirm")
    await dialog.get_by_role("button", name="Keep it").click()
    await expect(sidebar(page)).to_have_count(3)
    await page.get_by_role("button", name="Delete Plan a trip to Lisbon").click()
    await dialog.get_by_role("button", name="Delete conversation").click()
    await expect(sidebar(page)).to_have_count(2)
    # The open conversation was the deleted one: the page is a new chat now.
    await expect(page.get_by_role("heading", name="What can I help with?")).to_be_visible()
    await page.reload()
    await expect(sidebar(page)).to_have_count(2)


async def test_regenerate_and_edit_and_resend(gateway: Gateway, new_tab: Any) -> None:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER)
    await send(page, "First try", model="echo")
    await expect(answers(page).locator(".body")).to_have_text("First try")
    before = len([r for r in gateway.fake.requests if r.path == "/api/chat"])

    await answers(page).last.get_by_role("button", name="Regenerate").click()
    await gateway.fake.until(
        lambda: len([r for r in gateway.fake.requests if r.path == "/api/chat"]) == before + 1
    )
    await answer_ended(page)
    await expect(answers(page)).to_have_count(1)
    await expect(answers(page).locator(".body")).to_have_text("First try")
    sent = last_chat(gateway)["messages"]
    assert [m["role"] for m in sent] == ["user"]  # the old answer is not sent again

    await page.locator(".msg.user").get_by_role("button", name="Edit").click()
    await page.get_by_label("Edit message").fill("Second try, edited")
    await page.get_by_role("button", name="Save and send").click()
    await gateway.fake.until(
        lambda: len([r for r in gateway.fake.requests if r.path == "/api/chat"]) == before + 2
    )
    await answer_ended(page)
    await expect(page.locator(".msg.user .body")).to_have_text(["Second try, edited"])
    await expect(answers(page).locator(".body")).to_have_text("Second try, edited")
    sent = last_chat(gateway)["messages"]
    assert [m["content"] for m in sent] == ["Second try, edited"]

    await page.reload()
    await expect(page.locator(".msg.user .body")).to_have_text(["Second try, edited"])
    await expect(answers(page)).to_have_count(1)


async def test_settings_reach_the_backend_and_stay_with_the_conversation(
    gateway: Gateway, new_tab: Any
) -> None:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER)
    await page.get_by_role("button", name="Settings").click()
    await page.get_by_label("System prompt").fill("You are a pirate. Answer in pirate speak.")
    await page.get_by_label("Temperature").fill("0.3")
    await page.get_by_label("Max tokens").fill("50")
    await page.get_by_label("Max tokens").blur()
    await send(page, "Hello")
    body = last_chat(gateway)
    assert body["messages"][0] == {
        "role": "system",
        "content": "You are a pirate. Answer in pirate speak.",
    }
    assert body["messages"][1]["content"] == "Hello"
    assert body["options"]["temperature"] == 0.3
    assert body["options"]["num_predict"] == 50

    await page.reload()
    await page.get_by_role("button", name="Settings").click()
    await expect(page.get_by_label("System prompt")).to_have_value(
        "You are a pirate. Answer in pirate speak."
    )
    await expect(page.get_by_label("Temperature")).to_have_value("0.3")
    # A new chat starts without them.
    await page.get_by_role("button", name="New chat").click()
    await expect(page.get_by_label("System prompt")).to_have_value("")
    await send(page, "Plain")
    assert [m["role"] for m in last_chat(gateway)["messages"]] == ["user"]


@pytest.mark.gateway(default_model="scripted")
async def test_the_picker_starts_on_the_default_model(gateway: Gateway, new_tab: Any) -> None:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER)
    await expect(page.get_by_label("Model")).to_have_value("scripted")


MARKDOWN = """# Title

Some **bold** and *italic* text, a [safe link](https://example.com/docs) and a table:

| a | b |
|---|---|
| 1 | 2 |

```python
def greet(name):
    return f"hello {name}"
```
"""

PROBES = """Probes: <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>
<iframe src="javascript:window.pwned=3"></iframe> <a href="javascript:window.pwned=4">raw</a>
[click me](javascript:window.pwned=5) ![pic](x" onerror="window.pwned=6)
![js](javascript:alert(7)) <svg onload="window.pwned=8"></svg>
<div style="background:red" onclick="window.pwned=9">div</div>
[data](data:text/html,<script>alert(10)</script>)
<details open ontoggle="window.pwned=11">d</details>
"""


async def test_markdown_is_rendered_and_probes_do_nothing(gateway: Gateway, new_tab: Any) -> None:
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, USER)
    await send(page, MARKDOWN, model="echo")
    body = answers(page).last.locator(".body")
    await expect(body.locator("h1")).to_have_text("Title")
    await expect(body.locator("strong")).to_have_text("bold")
    await expect(body.locator("em")).to_have_text("italic")
    await expect(body.locator("table td")).to_have_text(["1", "2"])
    code = body.locator("pre > code")
    await expect(code).to_have_count(1)
    await expect(code).to_contain_text('return f"hello {name}"')
    await expect(code.locator("span.hljs-keyword").first).to_have_text("def")
    font = await code.evaluate("el => getComputedStyle(el).fontFamily")
    assert "monospace" in font
    await expect(body.locator(".code-lang")).to_have_text("python")
    link = body.get_by_role("link", name="safe link")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(link).to_have_attribute("target", "_blank")
    await body.get_by_role("button", name="Copy").click()  # no error, whatever the clipboard says

    await send(page, PROBES, model="echo")
    probed = answers(page).last.locator(".body")
    await expect(probed).to_contain_text("Probes:")
    for selector in ("img", "script", "iframe", "svg", "[onerror]", "[onclick]", "[style]",
                     "[ontoggle]", "details"):  # fmt: skip
        await expect(probed.locator(selector)).to_have_count(0)
    for anchor in await probed.locator("a").all():
        href = await anchor.get_attribute("href")
        assert href is None or href.startswith(("https:", "http:", "mailto:")), href
    for name in ("click me", "raw", "data"):
        target = probed.get_by_text(name, exact=True)
        if await target.count():
            await target.first.click()
    assert await page.evaluate("window.pwned") is None
    await page.reload()  # stored answers render the same safe way
    await expect(answers(page).last.locator(".body")).to_contain_text("Probes:")
    await expect(page.locator(".msg img, .msg script, .msg iframe, .msg svg")).to_have_count(0)
    assert await page.evaluate("window.pwned") is None
    assert tab.dialogs == []


STREAMED = "First paragraph, written early.\n\nSecond paragraph.\n\n" + " ".join(
    f"word{i}" for i in range(60)
)


async def test_streaming_markdown_keeps_what_is_already_shown(
    gateway: Gateway, new_tab: Any
) -> None:
    gateway.fake.config.token_delay = 0.03
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER)
    await page.get_by_label("Model").select_option("echo")
    await page.get_by_label("Message").fill(STREAMED)
    await page.get_by_role("button", name="Send").click()
    first = answers(page).last.locator(".body p").first
    await expect(first).to_have_text("First paragraph, written early.")
    await expect(answers(page).last).to_have_class("msg assistant streaming")
    # Mark the paragraph already on screen: it must be the same node at the end, not a
    # re-created copy (re-creating every block on each token is what flickers).
    await first.evaluate("el => { el.dataset.seen = 'yes'; }")
    await answer_ended(page)
    await expect(answers(page).last.locator(".body")).to_contain_text("word59")
    await expect(first).to_have_attribute("data-seen", "yes")


@pytest.mark.gateway(aging_interval_s=0.3)
async def test_an_answer_says_it_aged_up(gateway: Gateway, new_tab: Any) -> None:
    gateway.fake.config.tokens = 1000
    gateway.fake.config.token_delay = 0.05
    running = await gateway.call("I hold the only slot").start()
    await gateway.fake.until(lambda: gateway.fake.in_flight == 1)
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER)
    await page.get_by_label("Model").select_option("fake-model")
    await page.get_by_label("Message").fill("I will wait")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator(".queue-status")).to_contain_text("Waiting in queue")
    async with httpx.AsyncClient(base_url=gateway.url, headers={
            "Authorization": f"Bearer {gateway.api_key}"}) as admin:  # fmt: skip
        async with asyncio.timeout(10):
            while [r["band"] for r in (await admin.get("/api/queue/status")).json()["queued"]] != [
                "high"
            ]:
                await asyncio.sleep(0.05)
    await running.stop()
    gateway.fake.config.tokens, gateway.fake.config.token_delay = 8, 0.0
    meta = answers(page).last.locator(".meta")
    await expect(meta).to_contain_text("8 tokens")
    await expect(meta).to_contain_text("band high")
    await expect(meta.locator(".aged")).to_have_text("aged up from low")
    await page.reload()
    await expect(answers(page).last.locator(".meta .aged")).to_have_text("aged up from low")


PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)


async def test_an_attached_image_reaches_the_model_as_a_data_uri(
    gateway: Gateway, new_tab: Any
) -> None:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER)
    attach = page.locator("#attach-input")
    await attach.set_input_files(
        [{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"}]
    )
    await expect(page.locator("#page-error")).to_contain_text("only PNG, JPEG, GIF or WebP")
    await attach.set_input_files(
        [{"name": "pixel.png", "mimeType": "image/png", "buffer": PIXEL_PNG}]
    )
    await expect(page.locator("#attachments img")).to_have_count(1)
    await send(page, "What is in this picture?")
    await expect(page.locator("#attachments img")).to_have_count(0)
    user = page.locator(".msg.user").last
    await expect(user.locator(".attachments img")).to_have_attribute(
        "src", "data:image/png;base64," + base64.b64encode(PIXEL_PNG).decode()
    )
    sent = last_chat(gateway)["messages"]
    assert any(m.get("images") == [base64.b64encode(PIXEL_PNG).decode()] for m in sent), sent
    assert "What is in this picture?" in [m["content"] for m in sent]

    await page.reload()
    await expect(page.locator(".msg.user .attachments img")).to_have_count(1)
    await send(page, "And now?")  # the image stays in the conversation sent to the model
    assert any(m.get("images") for m in last_chat(gateway)["messages"])
