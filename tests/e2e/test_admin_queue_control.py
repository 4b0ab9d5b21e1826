"""Queue control in a real browser: pause a band while a chat waits, drain the worker,
and the control log."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from .conftest import ADMIN, USER, Gateway, sign_in
from .test_admin import admin_panel, confirm

pytestmark = pytest.mark.browser


async def test_pause_drain_and_the_control_log(gateway: Gateway, new_tab: Any) -> None:
    page = await admin_panel(gateway, new_tab)
    band = page.locator('.band[data-band="low"]')
    await band.get_by_role("button", name="Pause").click()
    await confirm(page, "Pause")
    await expect(page.locator("#flash")).to_have_text("Paused the low band.")
    await expect(band).to_have_class("band paused")

    chat = (await new_tab()).page
    await sign_in(chat, gateway.url, USER)
    await chat.get_by_label("Model").select_option("fake-model")
    await chat.get_by_label("Message").fill("Held for a moment")
    await chat.get_by_role("button", name="Send").click()
    waiting = chat.locator(".queue-status")
    await expect(waiting).to_contain_text("Paused by an administrator")
    await expect(page.locator("#queued tbody tr").first).to_contain_text("low · paused")

    await band.get_by_role("button", name="Resume").click()
    await expect(page.locator("#flash")).to_have_text("Resumed the low band.")
    await expect(chat.locator(".msg.assistant").last.locator(".body")).not_to_be_empty()

    worker = page.locator("#workers tbody tr").first
    await worker.get_by_role("button", name="Drain").click()
    await confirm(page, "Drain")
    await expect(worker).to_contain_text("draining")
    await worker.get_by_role("button", name="Undrain").click()
    await expect(worker).to_contain_text("reachable")

    log = page.locator("#queue-audit tbody tr")
    await expect(log).to_have_count(4)
    await expect(log.first).to_contain_text("undrain")
    await expect(log.first).to_contain_text(ADMIN[0])
    await expect(log.last).to_contain_text("pause")
