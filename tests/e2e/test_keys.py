"""Every user's own API keys page, in a real browser: create (shown once), use, revoke."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from .conftest import USER, Gateway, sign_in

pytestmark = pytest.mark.browser


async def test_a_user_makes_uses_and_revokes_their_own_key(gateway: Gateway, new_tab: Any) -> None:
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, USER)
    await page.get_by_role("link", name="API keys").click()
    await page.wait_for_url(f"{gateway.url}/keys")
    await expect(page.locator("#base-url")).to_have_text(f"{gateway.url}/v1")
    keys = page.locator("#keys tbody tr")
    await expect(page.get_by_text("You have no API keys yet.")).to_be_visible()
    await expect(keys).to_have_count(0)  # the admin's key is not shown to alice

    form = page.locator("#key-form")
    await form.get_by_label("Name").fill("my laptop")
    await form.get_by_label("Expires").select_option("30")
    await form.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key-value")
    await expect(shown).to_have_text(re.compile(r"^sd-\S{20,}$"))
    key = await shown.text_content()
    assert key
    await expect(keys).to_have_count(1)
    row = keys.first
    await expect(row.locator("td").first).to_have_text("my laptop")
    await expect(row).to_contain_text(key[-4:])
    await expect(row).not_to_contain_text(key)
    await expect(row).to_contain_text("active")
    expires = row.locator("td").nth(4)
    await expect(expires).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
    await page.screenshot(path="/tmp/seadragon-keys.png", full_page=True)

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as program:
        assert (await program.get("/v1/models")).status_code == 200
        await row.get_by_role("button", name="Revoke").click()
        dialog = page.locator("dialog#confirm")
        await dialog.get_by_role("button", name="Revoke").click()
        await expect(row).to_contain_text("revoked")
        await expect(page.locator("#flash")).to_have_text("Revoked key my laptop.")
        assert (await program.get("/v1/models")).status_code == 401


async def test_the_keys_page_sends_a_stranger_to_sign_in(gateway: Gateway, new_tab: Any) -> None:
    page = (await new_tab()).page
    await page.goto(f"{gateway.url}/keys")
    await page.wait_for_url(re.compile(r"/login\?next=%2Fkeys$"))
