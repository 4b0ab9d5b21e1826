"""The admin panel's Models tab in a real browser: pull with live progress, delete with
confirmation, unload a loaded model; and a non-admin can neither see nor use it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from .conftest import ADMIN, USER, Gateway, sign_in

pytestmark = pytest.mark.browser


async def models_tab(gateway: Gateway, new_tab: Any) -> Page:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, ADMIN, then="/admin")
    await page.get_by_role("tab", name="Models").click()
    await expect(page.locator("#models tbody tr").filter(has_text="fake-model")).to_have_count(1)
    return page


async def pull(page: Page, model: str) -> None:
    form = page.locator("#pull-form")
    await form.get_by_label("Model").fill(model)
    await form.get_by_role("button", name="Pull").click()


async def test_pull_shows_live_progress_then_lists_the_model(
    gateway: Gateway, new_tab: Any
) -> None:
    page = await models_tab(gateway, new_tab)
    await expect(page.locator("#pull-form select[name=backend] option")).to_have_text(
        ["every Ollama backend", "fake"]
    )
    fake = gateway.fake
    fake.hold_pulls()  # the fake stops halfway through the first layer
    try:
        await pull(page, "phi3:mini")
        first = page.locator("#pull-layers li").first
        await expect(first).to_contain_text("2.0 kB / 4.0 kB")
        await expect(first.locator("progress")).to_have_attribute("value", "2000")
        await expect(first.locator("progress")).to_have_attribute("max", "4000")
        await expect(page.locator("#pull-backends")).to_have_text(
            re.compile(r"fake: pulling [0-9a-f]{12}")
        )
        assert "phi3:mini" not in fake.config.models
        await expect(page.locator("#pull-result")).to_be_hidden()
    finally:
        fake.release_pulls()
    await expect(page.locator("#pull-result")).to_have_text("Pulled phi3:mini.")
    bars = page.locator("#pull-layers progress")
    await expect(bars).to_have_count(2)
    for i, size in enumerate(("4000", "1000")):
        await expect(bars.nth(i)).to_have_attribute("value", size)
    await expect(page.locator("#models tbody tr").filter(has_text="phi3:mini")).to_have_count(1)
    assert "phi3:mini" in fake.config.models

    await pull(page, "missing-model")
    result = page.locator("#pull-result")
    await expect(result).to_contain_text("Pulling missing-model failed")
    await expect(result).to_contain_text("file does not exist")
    await expect(result).to_have_class("alert")
    assert not any(m.startswith("missing") for m in fake.config.models)


async def test_delete_asks_first_and_removes_the_model(gateway: Gateway, new_tab: Any) -> None:
    page = await models_tab(gateway, new_tab)
    row = page.locator("#models tbody tr").filter(has_text="echo")
    dialog = page.locator("dialog#confirm")
    await row.get_by_role("button", name="Delete").click()
    await expect(dialog).to_contain_text("Delete echo from fake?")
    await dialog.get_by_role("button", name="Keep it").click()
    await expect(row).to_have_count(1)
    assert "echo" in gateway.fake.config.models

    await row.get_by_role("button", name="Delete").click()
    await dialog.get_by_role("button", name="Delete model").click()
    await expect(page.locator("#flash")).to_have_text("Deleted echo from fake.")
    await expect(row).to_have_count(0)
    assert "echo" not in gateway.fake.config.models
    deletes = [r.body for r in gateway.fake.requests if r.path == "/api/delete"]
    assert deletes == [{"model": "echo"}]


async def test_unload_frees_a_loaded_model(gateway: Gateway, new_tab: Any) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        answer = await http.post(
            "/api/generate",
            json={"model": "fake-model", "prompt": "warm up", "stream": False},
            headers={"Authorization": f"Bearer {gateway.api_key}"},
        )
        assert answer.status_code == 200, answer.text
    assert gateway.fake.loaded == {"fake-model"}
    page = await models_tab(gateway, new_tab)
    loaded = page.locator("#loaded tbody tr").filter(has_text="fake-model")
    await expect(loaded).to_have_count(1)
    await expect(page.locator("#models tbody tr").filter(has_text="fake-model")).to_contain_text(
        "loaded"
    )
    await loaded.get_by_role("button", name="Unload").click()
    await expect(page.locator("#flash")).to_have_text("Unloaded fake-model on fake.")
    await expect(loaded).to_have_count(0)
    await expect(page.locator('[data-empty-for="loaded"]')).to_be_visible()
    assert gateway.fake.loaded == set()
    unloads = [
        r.body
        for r in gateway.fake.requests
        if r.path == "/api/generate" and r.body.get("keep_alive") == 0
    ]
    assert unloads == [{"model": "fake-model", "stream": False, "keep_alive": 0}]


async def test_a_non_admin_cannot_see_or_use_the_models_tab(gateway: Gateway, new_tab: Any) -> None:
    page = (await new_tab()).page
    await sign_in(page, gateway.url, USER, then="/admin")
    await expect(page.locator("#denied")).to_be_visible()
    await expect(page.get_by_role("tab", name="Models")).to_be_hidden()
    await expect(page.locator("#tab-models")).to_be_hidden()
    statuses = await page.evaluate(
        """async () => {
          const csrf = document.cookie.split("; ").find((c) => c.startsWith("seadragon_csrf="))
            .split("=")[1];
          const headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf};
          const calls = [
            ["GET", "/api/models", undefined],
            ["POST", "/api/pull", {model: "phi3"}],
            ["DELETE", "/api/delete", {model: "echo"}],
            ["POST", "/api/models/unload", {model: "fake-model"}],
          ];
          const out = [];
          for (const [method, path, body] of calls) {
            const init = {method, headers, credentials: "same-origin"};
            if (body) init.body = JSON.stringify(body);
            out.push((await fetch(path, init)).status);
          }
          return out;
        }"""
    )
    assert statuses == [403, 403, 403, 403]
    managed = ("/api/pull", "/api/delete")
    assert not [r for r in gateway.fake.requests if r.path in managed]
    assert "echo" in gateway.fake.config.models
