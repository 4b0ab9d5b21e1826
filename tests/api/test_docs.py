"""API documentation: no page that loads Swagger UI from a CDN, and the OpenAPI document
for administrators only."""

from __future__ import annotations

import httpx

from account_helpers import Accounts, assert_openai_error, bearer


async def test_no_docs_pages_and_the_schema_is_for_admins_only(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 404, path
        assert "cdn.jsdelivr.net" not in page.text
    assert_openai_error(await client.get("/openapi.json"), 401, "authentication_error")
    user_key = await accounts.key(await accounts.user())
    assert_openai_error(
        await client.get("/openapi.json", headers=bearer(user_key)), 403, "permission_error"
    )
    admin_key = await accounts.key(await accounts.admin())
    document = await client.get("/openapi.json", headers=bearer(admin_key))
    assert document.status_code == 200
    assert "/v1/chat/completions" in document.json()["paths"]
