"""After signing in, the login page goes back only to a page of this origin: browsers
drop tabs and newlines from URLs and read ``\\`` as ``/``, so ``next=/%09/evil.example/``
would otherwise become ``//evil.example/``, another site."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Route

from .conftest import USER, Gateway

pytestmark = pytest.mark.browser

HOSTILE = [
    "/%09/evil.example/",
    "/%0a/evil.example/",
    "/%0d/evil.example/",
    "/%09%5cevil.example/",
    "/%5c%5cevil.example/",
    "/.//evil.example/",
    "//evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
]


async def trap_other_sites(page: Page, visited: list[str]) -> None:
    """Answer every request to another host locally, and remember it."""

    async def answer(route: Route) -> None:
        visited.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body="<p>evil</p>")

    await page.context.route(lambda url: urlsplit(url).hostname == "evil.example", answer)


async def landing_after(page: Page, gateway: Gateway, next_value: str) -> str:
    """Open /login?next=…, sign in, and return the URL the page then settles on."""
    await page.goto(f"{gateway.url}/login?next={next_value}")
    await page.get_by_label("Username").fill(USER[0])
    await page.get_by_label("Password").fill(USER[1])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    await page.wait_for_load_state()
    return page.url


@pytest.mark.parametrize("next_value", HOSTILE)
async def test_sign_in_never_redirects_to_another_origin(
    gateway: Gateway, new_tab: Any, next_value: str
) -> None:
    tab = await new_tab()
    visited: list[str] = []
    await trap_other_sites(tab.page, visited)
    origin = urlsplit(gateway.url).netloc
    landed = await landing_after(tab.page, gateway, next_value)
    assert urlsplit(landed).netloc == origin, landed
    assert visited == []

    # Signed in already: the login page forwards at once, to the same safe place.
    await tab.page.goto(f"{gateway.url}/login?next={next_value}")
    await tab.page.wait_for_url(lambda url: "/login" not in url)
    assert tab.page.url == landed
    assert visited == []


async def test_sign_in_returns_to_a_page_of_this_origin(gateway: Gateway, new_tab: Any) -> None:
    tab = await new_tab()
    landed = await landing_after(tab.page, gateway, "/keys%3Fx%3D1")
    assert landed == f"{gateway.url}/keys?x=1"
