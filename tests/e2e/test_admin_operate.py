"""The admin panel's Requests and Usage tabs in a real browser, after real traffic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from .conftest import ADMIN, USER, Gateway, sign_in

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


async def test_usage_tab_draws_charts(gateway: Gateway, new_tab: Any) -> None:
    await traffic(gateway)
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, ADMIN, then="/admin")
    await page.get_by_role("tab", name="Usage").click()
    bars = page.locator("#chart-tokens svg rect.bar")
    await expect(bars).to_have_count(2)  # today: fake-model and scripted (the error had none)
    await expect(page.locator("#chart-tokens .legend")).to_contain_text("fake-model")
    await expect(page.locator("#chart-tokens .legend")).to_contain_text("scripted")
    title = await bars.first.locator("title").text_content()
    assert title is not None and "fake-model" in title
    await expect(page.locator("#chart-wait-hour svg circle.point")).to_have_count(1)
    await expect(page.locator("#chart-wait-day svg circle.point")).to_have_count(1)
    rows = page.locator("#usage tbody tr")
    await expect(rows).to_have_count(3)
    fake_row = rows.filter(has_text="fake-model")
    await expect(fake_row.locator("td").nth(3)).to_have_text("2")


async def test_keys_page_shows_only_your_own_usage(gateway: Gateway, new_tab: Any) -> None:
    await traffic(gateway)  # all of it the admin's
    tab = await new_tab()
    await sign_in(tab.page, gateway.url, USER, then="/keys")
    await expect(tab.page.locator("#my-usage-empty")).to_be_visible()
    await expect(tab.page.locator("#my-chart-tokens svg")).to_be_visible()
    await expect(tab.page.locator("#my-chart-tokens svg rect.bar")).to_have_count(0)

    mine = await new_tab()
    await sign_in(mine.page, gateway.url, ADMIN, then="/keys")
    await expect(mine.page.locator("#my-chart-tokens svg rect.bar")).to_have_count(2)
    await expect(mine.page.locator("#my-usage tbody tr")).to_have_count(3)


async def test_limits_tab_sets_a_limit_the_gateway_enforces(gateway: Gateway, new_tab: Any) -> None:
    tab = await new_tab()
    page = tab.page
    await sign_in(page, gateway.url, ADMIN, then="/admin")
    await page.get_by_role("tab", name="Limits").click()
    form = page.locator("#limit-form")
    await form.locator("select[name=user_id]").select_option(label=ADMIN[0])
    await form.get_by_label("Models (comma-separated)").fill("fake-model")
    await form.get_by_label("At once").fill("100000")
    await form.get_by_role("button", name="Save limits").click()
    await expect(page.locator("#admin-error")).to_contain_text("concurrent_requests")
    await form.get_by_label("At once").fill("3")
    await form.get_by_role("button", name="Save limits").click()
    rows = page.locator("#limits tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(f"user {ADMIN[0]}")
    await expect(rows.first).to_contain_text("fake-model")

    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=headers) as http:
        refused = await http.post("/v1/chat/completions", json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed"

        await rows.first.get_by_role("button", name="Remove").click()
        await page.locator("dialog#confirm").get_by_role("button", name="Remove").click()
        await expect(rows).to_have_count(0)
        assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
