"""The admin panel in a real browser: the live queue, clearing and cancelling, accounts."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from .conftest import ADMIN, USER, Gateway, Tab, sign_in

pytestmark = pytest.mark.browser


async def waiting_chat(gateway: Gateway, new_tab: Any) -> Tab:
    """Fill the single slot with an API request, then leave a web chat waiting behind it."""
    gateway.fake.config.tokens = 1000
    gateway.fake.config.token_delay = 0.05
    await gateway.call("I hold the only slot").start()
    await gateway.fake.until(lambda: gateway.fake.in_flight == 1)
    tab = await new_tab()
    await sign_in(tab.page, gateway.url, USER)
    await tab.page.get_by_label("Model").select_option("fake-model")
    await tab.page.get_by_label("Message").fill("Waiting for my turn")
    await tab.page.get_by_role("button", name="Send").click()
    await expect(tab.page.locator(".queue-status")).to_contain_text("Waiting in queue")
    return tab


async def admin_panel(gateway: Gateway, new_tab: Any) -> Page:
    tab = await new_tab()
    await sign_in(tab.page, gateway.url, ADMIN, then="/admin")
    return tab.page


async def confirm(page: Page, button: str) -> None:
    dialog = page.locator("dialog#confirm")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=button).click()
    await expect(dialog).to_be_hidden()


async def test_queue_is_live_and_clearing_it_tells_the_waiting_chat(
    gateway: Gateway, new_tab: Any
) -> None:
    chat = await waiting_chat(gateway, new_tab)
    page = await admin_panel(gateway, new_tab)

    await expect(page.locator("#live")).to_contain_text("Live")
    queued = page.locator("#queued tbody tr")
    await expect(queued).to_have_count(1)
    await expect(queued.first).to_contain_text("fake-model")
    await expect(queued.first).to_contain_text(USER[0])
    await expect(queued.first.locator("td").nth(3)).to_have_text("low")
    running = page.locator("#running tbody tr")
    await expect(running).to_have_count(1)
    await expect(running.first).to_contain_text("fake")
    await expect(running.first).to_contain_text(ADMIN[0])
    await expect(page.locator('.band[data-band="low"] .depth')).to_have_text("1 / 1000")
    await expect(page.locator('.band[data-band="low"] .oldest')).to_contain_text("oldest")
    worker = page.locator("#workers tbody tr").first
    await expect(worker).to_contain_text("1/1")
    await expect(worker).to_contain_text("reachable")
    await expect(worker).to_contain_text("fake-model")
    await page.screenshot(path="/tmp/seadragon-admin.png", full_page=True)

    # Clearing an empty band leaves the waiting chat alone.
    await page.get_by_role("button", name="Clear normal").click()
    await confirm(page, "Clear")
    await expect(page.get_by_role("status").first).to_have_text(
        "Cleared 0 requests from the normal band."
    )
    await expect(queued).to_have_count(1)

    await page.get_by_role("button", name="Clear queue").click()
    await confirm(page, "Clear")
    await expect(page.locator("#flash")).to_have_text("Cleared 1 request from the whole queue.")
    await expect(queued).to_have_count(0)
    await expect(page.get_by_text("The queue is empty.")).to_be_visible()
    await expect(page.locator("#running tbody tr")).to_have_count(1)  # running ones finish

    error = chat.page.locator(".msg.assistant").last.get_by_role("alert")
    await expect(error).to_contain_text("cleared by an administrator")
    await expect(chat.page.get_by_role("button", name="Send")).to_be_visible()


@pytest.mark.gateway(aging_interval_s=0.3)
async def test_aged_request_is_marked_and_can_be_cancelled(gateway: Gateway, new_tab: Any) -> None:
    chat = await waiting_chat(gateway, new_tab)
    page = await admin_panel(gateway, new_tab)

    row = page.locator("#queued tbody tr").first
    await expect(row.locator("td").nth(3)).to_have_text("high")  # aged low → normal → high
    await expect(row.locator("td").nth(4)).to_have_text("low ↑ aged")
    await expect(row).to_have_class("aged")

    await row.get_by_role("button", name="Cancel").click()
    await page.locator("dialog#confirm").get_by_role("button", name="Cancel request").click()
    await expect(page.locator("#flash")).to_contain_text("Cancelled request web-")
    await expect(page.locator("#queued tbody tr")).to_have_count(0)
    error = chat.page.locator(".msg.assistant").last.get_by_role("alert")
    await expect(error).to_contain_text("cancel")


async def test_non_admin_is_refused_by_the_server(gateway: Gateway, new_tab: Any) -> None:
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, USER, then="/admin")
    await expect(page.get_by_role("heading", name="Administrators only")).to_be_visible()
    await expect(page.locator("#denied-reason")).to_contain_text("The server refused access")
    await expect(page.locator("#tab-queue")).to_be_hidden()
    await expect(page.locator("#users tbody tr")).to_have_count(0)
    await page.screenshot(path="/tmp/seadragon-admin-denied.png")

    # Not a page trick: the data itself is refused, with this browser's session.
    assert (await page.request.get(f"{gateway.url}/api/users")).status == 403
    assert (await page.request.get(f"{gateway.url}/api/keys?all_users=true")).status == 403
    status = await (await page.request.get(f"{gateway.url}/api/queue/status")).json()
    assert isinstance(status["queued"], int) and isinstance(status["running"], int)


async def test_manage_users_and_keys(gateway: Gateway, new_tab: Any) -> None:
    page = await admin_panel(gateway, new_tab)
    await page.get_by_role("tab", name="Users").click()
    users = page.locator("#users tbody tr")
    await expect(users).to_have_count(2)
    await expect(users.first).to_contain_text("you")

    form = page.locator("#user-form")
    await form.get_by_label("Name").fill("bob")
    await form.get_by_label("Password").fill("bob-password-123")
    await form.get_by_role("button", name="Create user").click()
    await expect(page.locator("#flash")).to_have_text("Created user bob.")
    bob = users.filter(has_text="bob")
    await expect(bob).to_contain_text("active")
    login = {"username": "bob", "password": "bob-password-123"}
    # A separate client: this page's own cookies must stay the admin's.
    async with httpx.AsyncClient(base_url=gateway.url) as other:
        assert (await other.post("/api/auth/login", json=login)).status_code == 200

    await bob.get_by_role("button", name="Disable").click()
    await confirm(page, "Disable")
    await expect(bob).to_contain_text("disabled")
    async with httpx.AsyncClient(base_url=gateway.url) as other:
        assert (await other.post("/api/auth/login", json=login)).status_code == 401

    await page.get_by_role("tab", name="API keys").click()
    keys = page.locator("#keys tbody tr")
    await expect(keys).to_have_count(1)  # the admin's own key, made at seeding
    key_form = page.locator("#key-form")
    await key_form.get_by_label("Name").fill("build server")
    await key_form.get_by_label("Priority band").select_option("normal")
    await key_form.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key-value")
    await expect(shown).to_have_text(re.compile(r"^sd-\S{20,}$"))
    key = await shown.text_content()
    assert key
    await expect(keys).to_have_count(2)
    row = keys.filter(has_text="build server")
    await expect(row).to_contain_text("normal")
    await expect(row).to_contain_text(key[-4:])
    await expect(row).not_to_contain_text(key)  # the list never shows the whole key
    await page.screenshot(path="/tmp/seadragon-admin-keys.png", full_page=True)

    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}
    ) as program:
        assert (await program.get("/v1/models")).status_code == 200
        await row.get_by_role("button", name="Revoke").click()
        await confirm(page, "Revoke")
        await expect(row).to_contain_text("revoked")
        assert (await program.get("/v1/models")).status_code == 401
