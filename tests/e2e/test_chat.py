"""The web chat in a real browser: sign-in, streaming, escaping, Stop, queue position."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from .conftest import SCRIPTED_REPLY, USER, Gateway, sign_in

pytestmark = pytest.mark.browser

EXPECTED = "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7"


async def record_answer_growth(page: Page) -> None:
    """Remember every length the newest answer's text takes, as the DOM changes."""
    await page.evaluate(
        """() => {
          window.seen = [];
          new MutationObserver(() => {
            const bodies = document.querySelectorAll(".msg.assistant .body");
            const text = bodies.length ? bodies[bodies.length - 1].textContent : "";
            if (text && window.seen.at(-1) !== text.length) window.seen.push(text.length);
          }).observe(document.getElementById("conversation"),
                     {subtree: true, childList: true, characterData: true});
        }"""
    )


async def send(page: Page, text: str, model: str = "fake-model") -> None:
    await page.get_by_label("Model").select_option(model)
    await page.get_by_label("Message").fill(text)
    await page.get_by_role("button", name="Send").click()


def answer(page: Page) -> Any:
    return page.locator(".msg.assistant").last


async def test_sign_in_and_watch_the_answer_stream_in(gateway: Gateway, new_tab: Any) -> None:
    gateway.fake.config.token_delay = 0.08
    tab = await new_tab()
    page = tab.page
    await page.goto(gateway.url + "/")
    await page.wait_for_url("**/login?next=%2F")

    await page.get_by_label("Username").fill(USER[0])
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await page.screenshot(path="/tmp/seadragon-login.png")

    await sign_in(page, gateway.url, USER)
    await expect(page.locator("#user-name")).to_have_text(USER[0])
    await expect(page.get_by_role("link", name="Admin")).to_be_hidden()
    models = page.get_by_label("Model")
    await expect(models).to_be_enabled()
    await expect(models.locator("option")).to_have_text(
        ["echo", "error-after-2", "fake-model", "scripted"]
    )

    await record_answer_growth(page)
    await send(page, "Say something")
    await expect(page.locator(".msg.user .body")).to_have_text("Say something")
    await expect(answer(page).locator(".body")).to_have_text(EXPECTED)
    await expect(answer(page).locator(".meta")).to_contain_text("8 tokens")

    seen: list[int] = await page.evaluate("window.seen")
    assert len(seen) >= 4, f"the answer did not grow token by token: {seen}"
    assert seen == sorted(seen) and seen[-1] == len(EXPECTED)

    # The second turn carries the whole conversation to the model.
    await send(page, "And again")
    await expect(page.locator(".msg.assistant .body")).to_have_text([EXPECTED, EXPECTED])
    messages = gateway.fake.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == EXPECTED
    await page.screenshot(path="/tmp/seadragon-chat.png")

    await page.get_by_role("button", name="New chat").click()
    await expect(page.locator(".msg")).to_have_count(0)
    await expect(page.get_by_role("heading", name="What can I help with?")).to_be_visible()


async def test_model_output_and_user_text_are_shown_as_text(gateway: Gateway, new_tab: Any) -> None:
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, USER)
    await send(page, "<b>bold?</b> <img src=x onerror=alert(2)>", model="scripted")

    await expect(answer(page).locator(".body")).to_have_text(SCRIPTED_REPLY)
    await expect(page.locator(".msg.user .body")).to_have_text(
        "<b>bold?</b> <img src=x onerror=alert(2)>"
    )
    await expect(page.locator(".msg img, .msg script, .msg b")).to_have_count(0)
    assert tab.dialogs == []  # new_tab also checks this after the test


async def test_stop_cancels_the_answer(gateway: Gateway, new_tab: Any) -> None:
    gateway.fake.config.tokens = 200
    gateway.fake.config.token_delay = 0.1
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, USER)
    await send(page, "Tell me a long story")
    await expect(answer(page).locator(".body")).to_contain_text("tok2")

    await page.get_by_role("button", name="Stop").click()
    await expect(answer(page).locator(".meta")).to_contain_text("Stopped")
    await expect(page.get_by_role("button", name="Send")).to_be_visible()
    # The backend's generation ends too: the slot is free again.
    await gateway.fake.until(lambda: gateway.fake.in_flight == 0)
    chats = [r for r in gateway.fake.requests if r.path == "/api/chat"]
    assert chats[-1].disconnected  # (the worker also asks the fake what it has loaded)
    stopped_at = await answer(page).locator(".body").text_content()
    assert stopped_at and "tok199" not in stopped_at

    gateway.fake.config.tokens = 8
    gateway.fake.config.token_delay = 0.0
    await send(page, "Short one, please")
    await expect(answer(page).locator(".body")).to_have_text(EXPECTED)


async def test_queue_position_is_shown_while_waiting(gateway: Gateway, new_tab: Any) -> None:
    gateway.fake.config.tokens = 400
    gateway.fake.config.token_delay = 0.05
    running = await gateway.call("I take the only slot").start()
    await gateway.fake.until(lambda: gateway.fake.in_flight == 1)
    queued = await gateway.call("I wait, with high priority").start()

    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, USER)
    await send(page, "Am I in line?")
    status = answer(page).locator(".queue-status")
    eta = r"(, ~[\d.]+ s|, starting soon)?"  # counts down between position updates
    await expect(status).to_have_text(re.compile(rf"^Waiting in queue: 1 ahead{eta}$"))
    await page.screenshot(path="/tmp/seadragon-chat-waiting.png")

    await running.stop()
    await expect(status).to_have_text(re.compile(rf"^Waiting in queue: next in line{eta}$"))
    gateway.fake.config.tokens = 8
    await queued.stop()
    await expect(answer(page).locator(".body")).to_have_text(EXPECTED)
    await expect(status).to_have_count(0)


async def test_backend_failure_is_shown_clearly(gateway: Gateway, new_tab: Any) -> None:
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, USER)
    await send(page, "Fail halfway", model="error-after-2")
    error = answer(page).get_by_role("alert")
    await expect(error).to_be_visible()
    await expect(error).not_to_be_empty()
    await expect(answer(page).locator(".body")).to_have_text("tok0 tok1")


async def test_pages_are_served_under_a_strict_policy(gateway: Gateway, new_tab: Any) -> None:
    tab = await new_tab()
    page = tab.page
    pages = ("/", "/login", "/keys", "/admin", "/setup", "/static/chat.js", "/static/base.css")
    vendored = ("/static/vendor/marked.esm.js", "/static/vendor/purify.es.mjs")
    for path in (*pages, *vendored, "/static/vendor/highlight.min.js"):
        response = await page.request.get(gateway.url + path)
        assert response.ok, path
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert "'unsafe-eval'" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    for path in (
        "/static/missing.js",
        "/static/..%2Fweb.py",
        "/static/.hidden.js",
        "/static/vendor/LICENSE-marked.txt",
        "/static/vendor/..%2Fchat.js",
        "/static/vendor/%2E%2E",
    ):
        assert (await page.request.get(gateway.url + path)).status == 404, path

    # A crafted ?next= must not send a freshly signed-in user to another site.
    await page.goto(gateway.url + "/login?next=//evil.example/")
    await page.get_by_label("Username").fill(USER[0])
    await page.get_by_label("Password").fill(USER[1])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(gateway.url + "/")
    await expect(page.get_by_label("Message")).to_be_visible()
