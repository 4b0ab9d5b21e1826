"""The admin panel's user actions in a real browser: promote and demote, reset a password,
delete with confirmation; key expiry; notices that stay on their tab; and the server
refusing all of it to a non-admin."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from .conftest import ADMIN, USER, Gateway, sign_in

pytestmark = pytest.mark.browser


async def admin_users(gateway: Gateway, new_tab: Any) -> Page:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, ADMIN, then="/admin")
    await page.get_by_role("tab", name="Users").click()
    return page


async def signs_in(gateway: Gateway, name: str, password: str) -> bool:
    async with httpx.AsyncClient(base_url=gateway.url) as other:
        body = {"username": name, "password": password}
        return (await other.post("/api/auth/login", json=body)).status_code == 200


async def is_admin(gateway: Gateway, name: str, password: str) -> bool:
    async with httpx.AsyncClient(base_url=gateway.url) as other:
        response = await other.post(
            "/api/auth/login", json={"username": name, "password": password}
        )
        assert response.status_code == 200, response.text
        return bool(response.json()["user"]["is_admin"])


async def test_promote_demote_reset_password_and_delete(gateway: Gateway, new_tab: Any) -> None:
    page = await admin_users(gateway, new_tab)
    alice = page.locator("#users tbody tr").filter(has_text=USER[0])
    dialog = page.locator("dialog#confirm")

    await alice.get_by_role("button", name="Make admin").click()
    await dialog.get_by_role("button", name="Make admin").click()
    await expect(alice).to_contain_text("admin")
    await expect(alice.get_by_role("button", name="Remove admin")).to_be_visible()
    assert await is_admin(gateway, *USER)
    await alice.get_by_role("button", name="Remove admin").click()
    await dialog.get_by_role("button", name="Remove admin").click()
    await expect(alice.get_by_role("button", name="Make admin")).to_be_visible()
    assert not await is_admin(gateway, *USER)

    await alice.get_by_role("button", name="Reset password").click()
    password_dialog = page.locator("dialog#password-dialog")
    await password_dialog.get_by_label("New password").fill("a-brand-new-password")
    await password_dialog.get_by_role("button", name="Set password").click()
    await expect(page.locator("#flash")).to_have_text(f"Set a new password for {USER[0]}.")
    assert not await signs_in(gateway, *USER)
    assert await signs_in(gateway, USER[0], "a-brand-new-password")

    # A notice is about its tab: it is gone after a switch.
    await page.get_by_role("tab", name="API keys").click()
    await expect(page.locator("#flash")).to_be_hidden()
    await page.get_by_role("tab", name="Users").click()

    await alice.get_by_role("button", name="Delete").click()
    await expect(dialog).to_contain_text("conversations are deleted too")
    await dialog.get_by_role("button", name="Keep user").click()
    await expect(alice).to_have_count(1)
    await alice.get_by_role("button", name="Delete").click()
    await dialog.get_by_role("button", name="Delete user").click()
    await expect(page.locator("#flash")).to_have_text(f"Deleted user {USER[0]}.")
    await expect(alice).to_have_count(0)
    assert not await signs_in(gateway, USER[0], "a-brand-new-password")
    # Your own row offers none of these.
    me = page.locator("#users tbody tr").filter(has_text=ADMIN[0])
    await expect(me.get_by_role("button")).to_have_count(0)


async def test_a_key_can_get_an_expiry_date(gateway: Gateway, new_tab: Any) -> None:
    page = await admin_users(gateway, new_tab)
    await page.get_by_role("tab", name="API keys").click()
    form = page.locator("#key-form")
    await form.get_by_label("Name").fill("temporary")
    expires = date.today() + timedelta(days=30)
    await form.get_by_label("Expires").fill(expires.isoformat())
    await form.get_by_role("button", name="Create key").click()
    row = page.locator("#keys tbody tr").filter(has_text="temporary")
    await expect(row).to_contain_text(expires.isoformat())
    headers = [h.strip() for h in await page.locator("#keys thead th").all_text_contents()]
    expires_column = headers.index("Expires")
    await expect(row.locator("td").nth(expires_column)).to_contain_text(expires.isoformat())
    seeded = page.locator("#keys tbody tr").filter(has_text="e2e")
    await expect(seeded.locator("td").nth(expires_column)).to_have_text("never")


async def test_a_non_admin_cannot_use_the_admin_actions(gateway: Gateway, new_tab: Any) -> None:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER)
    users = await (await page.request.get(f"{gateway.url}/api/auth/me")).json()
    csrf = next(c["value"] for c in await page.context.cookies() if c["name"] == "seadragon_csrf")
    headers = {"X-CSRF-Token": csrf}
    me = users["user"]["id"]
    for method, body in (
        ("PATCH", {"is_admin": True}),
        ("PATCH", {"password": "taking-over-now"}),
        ("DELETE", None),
    ):
        for target in (me, 1):
            response = await page.request.fetch(
                f"{gateway.url}/api/users/{target}", method=method, data=body, headers=headers
            )
            assert response.status == 403, (method, body, target, await response.text())
    created = await page.request.post(
        f"{gateway.url}/api/keys",
        data={"name": "mine", "user_id": 1, "expires_in_days": 3},
        headers=headers,
    )
    assert created.status == 403
    assert await is_admin(gateway, *ADMIN) and not await is_admin(gateway, *USER)
