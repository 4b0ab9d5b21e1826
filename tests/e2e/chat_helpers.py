"""What the chat's browser tests do again and again: send and wait, find answers."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from .conftest import Gateway


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
