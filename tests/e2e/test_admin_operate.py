"""The admin panel's Requests and Usage tabs in a real browser, after real traffic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from .conftest import ADMIN, Gateway, sign_in

pytestmark = pytest.mark.browser


async def traffic(gateway: Gateway) -> None:
    """Three answered requests and one failed, then wait until the log holds them."""
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=headers) as http:
        for model in ("fake-model", "fake-model", "scripted", "error-after-2"):
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            await http.post("/v1/chat/completions", json=body)
        async with asyncio.timeout(10):
            while len((await http.get("/api/requests")).json()["data"]) < 4:
                await asyncio.sleep(0.1)


async def test_requests_tab_filters_and_exports(gateway: Gateway, new_tab: Any) -> None:
    await traffic(gateway)
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, ADMIN, then="/admin")
    await page.get_by_role("tab", name="Requests").click()
    rows = page.locator("#requests tbody tr")
    await expect(rows).to_have_count(4)
    await expect(rows.first).to_contain_text("error-after-2")
    await expect(rows.first).to_contain_text(ADMIN[0])

    form = page.locator("#requests-form")
    await form.get_by_label("Status").select_option("error")
    await form.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("error 502")

    await form.get_by_label("Status").select_option("")
    await form.get_by_label("Model").fill("fake-model")
    await form.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(2)
    await expect(page.locator("#requests-csv")).to_have_attribute(
        "href", "/api/requests.csv?model=fake-model"
    )
    async with page.expect_download() as download_info:
        await page.locator("#requests-csv").click()
    download = await download_info.value
    text = Path(await download.path()).read_text()
    assert text.count("fake-model") == 2 and "error-after-2" not in text

    await form.get_by_label("Model").fill("")
    await form.get_by_label("From").fill("2001-01-01T00:00")
    await form.get_by_label("To").fill("2001-01-02T00:00")
    await form.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(0)
    await expect(page.locator("#requests-empty")).to_be_visible()
