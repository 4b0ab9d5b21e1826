"""The first-start setup page in a real browser: the printed link makes the first
administrator once, and never again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from seadragon.app import create_app
from seadragon.auth.setup import issue_token, setup_url
from seadragon.config import Settings
from seadragon.db.engine import Database

from .conftest import serving

pytestmark = pytest.mark.browser


@pytest.fixture
async def empty_gateway(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """A gateway on a database without users, and a fresh setup link for it."""
    settings = Settings(
        data_dir=tmp_path,
        local_model="off",
        backends=[],
        secret_key="e2e-secret-key-with-enough-entropy-0123456789abcdef",
    )
    with serving(create_app(settings)) as url:
        database = Database(settings)
        await database.start()
        try:
            token = await issue_token(database)
        finally:
            await database.close()
        assert token is not None
        port = int(url.rsplit(":", 1)[1])
        yield url, setup_url("127.0.0.1", port, token)


async def test_the_setup_link_works_once(empty_gateway: tuple[str, str], new_tab: Any) -> None:
    url, link = empty_gateway
    page = (await new_tab()).page
    await page.goto(link)
    await expect(page).to_have_url(f"{url}/setup")  # the token leaves the address bar
    await page.get_by_label("Username").fill("boss")
    await page.get_by_label("Password", exact=True).fill("first-admin-password")
    await page.get_by_label("Password again").fill("not the same")
    await page.get_by_role("button", name="Create administrator").click()
    await expect(page.get_by_role("alert")).to_have_text("The two passwords differ.")
    await page.get_by_label("Password again").fill("first-admin-password")
    await page.get_by_role("button", name="Create administrator").click()
    await page.wait_for_url(f"{url}/admin")
    await expect(page.locator("#user-name")).to_have_text("boss")
    await expect(page.get_by_role("tab", name="Users")).to_be_visible()

    # The same link, in another browser: nothing to do, only the way to sign in.
    again = (await new_tab()).page
    await again.goto(link)
    await expect(again.locator("#setup-lead")).to_have_text(
        "Seadragon is already set up. Sign in with your account."
    )
    await expect(again.locator("#setup-form")).to_be_hidden()
    token = link.split("#token=", 1)[1]
    response = await again.request.post(
        f"{url}/api/setup", data={"token": token, "name": "eve", "password": "eve-password-1"}
    )
    assert response.status == 403
