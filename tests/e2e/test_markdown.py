"""Answers as Markdown in a real browser: rendered, highlighted, streamed without
re-creating what is already shown, and the XSS probes through Markdown execute nothing."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from .chat_helpers import answer_ended, answers, send
from .conftest import USER, Gateway, sign_in

pytestmark = pytest.mark.browser


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
