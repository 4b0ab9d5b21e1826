"""The chat's conversation API on SQLite and PostgreSQL: ownership, truncation, search,
auto titles, the default model, and bad input answered with 400 naming the field."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from account_helpers import Accounts, assert_openai_error, bearer, client_for
from fakes.ollama_server import FakeOllama
from seadragon.config import Settings
from seadragon.db.tables import Conversation, ConversationMessage, RequestLog


@pytest.fixture
def settings(make_settings: Callable[..., Settings], db_url: str) -> Settings:
    return make_settings(database_url=db_url)


async def keys_for(accounts: Accounts, *names: str) -> list[dict[str, str]]:
    return [bearer(await accounts.key(await accounts.user(name))) for name in names]


async def new_chat(client: httpx.AsyncClient, who: dict[str, str], **body: Any) -> int:
    response = await client.post("/api/conversations", json=body, headers=who)
    assert response.status_code == 201, response.text
    chat_id: int = response.json()["id"]
    return chat_id


async def say(
    client: httpx.AsyncClient, who: dict[str, str], chat_id: int, role: str, text: str, **more: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/conversations/{chat_id}/messages",
        json={"role": role, "content": text, **more},
        headers=who,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_conversation_is_kept_titled_and_listed_newest_first(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    (alice,) = await keys_for(accounts, "alice")
    first = await new_chat(client, alice, model="m1", system_prompt="Be brief.")
    await say(client, alice, first, "user", "  How do I reverse\na list in Python, quickly?  ")
    answer = await say(
        client, alice, first, "assistant", "Use `reversed()`.", model="m1", status="ok",
        band="high", entry_band="low", completion_tokens=5, duration_s=1.5,
    )  # fmt: skip
    assert answer["aged"] is True and answer["completion_tokens"] == 5
    long_text = "word " * 40
    second = await new_chat(client, alice)
    await say(client, alice, second, "user", long_text)

    listed = (await client.get("/api/conversations", headers=alice)).json()["data"]
    assert [c["id"] for c in listed] == [second, first]
    assert listed[1]["title"] == "How do I reverse a list in Python, quickly?"
    assert listed[0]["title"].endswith("…") and len(listed[0]["title"]) <= 61

    # A later message moves the older conversation back to the top.
    await say(client, alice, first, "user", "And sorted?")
    listed = (await client.get("/api/conversations", headers=alice)).json()["data"]
    assert [c["id"] for c in listed] == [first, second]

    detail = (await client.get(f"/api/conversations/{first}", headers=alice)).json()
    assert detail["system_prompt"] == "Be brief." and detail["model"] == "m1"
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "  How do I reverse\na list in Python, quickly?  "),
        ("assistant", "Use `reversed()`."),
        ("user", "And sorted?"),
    ]
    assert detail["messages"][1]["band"] == "high"


async def test_rename_settings_search_and_delete(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    (alice,) = await keys_for(accounts, "alice")
    soup = await new_chat(client, alice, title="Soup recipes")
    await new_chat(client, alice, title="Rust lifetimes")
    percent = await new_chat(client, alice, title="100% done_ok")

    renamed = await client.patch(
        f"/api/conversations/{soup}",
        json={"title": "  Tomato   soup  ", "temperature": 0.2, "max_tokens": 64},
        headers=alice,
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Tomato soup"
    assert renamed.json()["temperature"] == 0.2 and renamed.json()["max_tokens"] == 64
    cleared = await client.patch(
        f"/api/conversations/{soup}", json={"temperature": None}, headers=alice
    )
    assert cleared.json()["temperature"] is None and cleared.json()["max_tokens"] == 64

    async def search(q: str) -> list[str]:
        response = await client.get("/api/conversations", params={"q": q}, headers=alice)
        assert response.status_code == 200, response.text
        return [c["title"] for c in response.json()["data"]]

    assert await search("SOUP") == ["Tomato soup"]
    assert await search("%") == ["100% done_ok"]  # LIKE wildcards match literally
    assert await search("_") == ["100% done_ok"]
    assert await search("nothing like it") == []

    gone = await client.delete(f"/api/conversations/{percent}", headers=alice)
    assert gone.status_code == 204
    again = await client.get(f"/api/conversations/{percent}", headers=alice)
    assert_openai_error(again, 404, "not_found_error")
    assert sorted(await search("")) == ["Rust lifetimes", "Tomato soup"]


async def test_truncating_from_a_message_drops_it_and_everything_after(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    (alice,) = await keys_for(accounts, "alice")
    chat = await new_chat(client, alice)
    await say(client, alice, chat, "user", "one")
    answer = await say(client, alice, chat, "assistant", "two")
    await say(client, alice, chat, "user", "three")
    await say(client, alice, chat, "assistant", "four")

    cut = await client.delete(f"/api/conversations/{chat}/messages/{answer['id']}", headers=alice)
    assert cut.status_code == 200, cut.text
    assert cut.json() == {"deleted": 3}
    detail = (await client.get(f"/api/conversations/{chat}", headers=alice)).json()
    assert [m["content"] for m in detail["messages"]] == ["one"]
    missing = await client.delete(
        f"/api/conversations/{chat}/messages/{answer['id']}", headers=alice
    )
    assert_openai_error(missing, 404, "not_found_error")


async def test_someone_elses_conversation_is_not_found(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    alice, bob = await keys_for(accounts, "alice", "bob")
    chat = await new_chat(client, alice, title="private")
    message = await say(client, alice, chat, "user", "secret")
    for method, path, body in (
        ("GET", f"/api/conversations/{chat}", None),
        ("PATCH", f"/api/conversations/{chat}", {"title": "mine now"}),
        ("DELETE", f"/api/conversations/{chat}", None),
        ("POST", f"/api/conversations/{chat}/messages", {"role": "user", "content": "hi"}),
        ("DELETE", f"/api/conversations/{chat}/messages/{message['id']}", None),
    ):
        response = await client.request(method, path, json=body, headers=bob)
        assert_openai_error(response, 404, "not_found_error")
    assert (await client.get("/api/conversations", headers=bob)).json()["data"] == []
    detail = (await client.get(f"/api/conversations/{chat}", headers=alice)).json()
    assert detail["title"] == "private" and len(detail["messages"]) == 1
    anonymous = await client.get("/api/conversations")
    assert_openai_error(anonymous, 401, "authentication_error")


async def test_deleting_a_user_deletes_their_conversations(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    root = bearer(await accounts.key(await accounts.admin()))
    alice_user = await accounts.user("alice")
    alice = bearer(await accounts.key(alice_user))
    chat = await new_chat(client, alice)
    await say(client, alice, chat, "user", "hello")

    assert (await client.delete(f"/api/users/{alice_user.id}", headers=root)).status_code == 204
    bob_user = await accounts.user("bob")
    bob = bearer(await accounts.key(bob_user))
    assert (await client.get("/api/conversations", headers=bob)).json()["data"] == []
    async with app.state.database.session() as session:
        for table in (Conversation, ConversationMessage):
            count = await session.execute(select(func.count()).select_from(table))
            assert count.scalar_one() == 0


@pytest.mark.parametrize(
    ("path_suffix", "body", "param"),
    [
        ("", {"title": "x" * 201}, "title"),
        ("", {"title": "nul\x00here"}, "title"),
        ("", {"title": 5}, "title"),
        ("", {"temperature": 3}, "temperature"),
        ("", {"temperature": "hot"}, "temperature"),
        ("", {"max_tokens": 0}, "max_tokens"),
        ("", {"max_tokens": 2**40}, "max_tokens"),
        ("", {"system_prompt": "a\x00b"}, "system_prompt"),
        ("", {"owner": 1}, "owner"),
        ("/messages", {"role": "system", "content": "x"}, "role"),
        ("/messages", {"role": "user"}, "content"),
        ("/messages", {"role": "user", "content": "\x00"}, "content"),
        ("/messages", {"role": "user", "content": "x" * 1_000_001}, "content"),
        ("/messages", {"role": "user", "content": "x", "images": ["http://e/x.png"]}, "images[0]"),
        ("/messages", {"role": "assistant", "content": "x", "status": "great"}, "status"),
        ("/messages", {"role": "assistant", "content": "x", "prompt_tokens": -1}, "prompt_tokens"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    client: httpx.AsyncClient, accounts: Accounts, path_suffix: str, body: Any, param: str
) -> None:
    (alice,) = await keys_for(accounts, "alice")
    chat = await new_chat(client, alice, title="keep me")
    method = "POST" if path_suffix else "PATCH"
    response = await client.request(
        method, f"/api/conversations/{chat}{path_suffix}", json=body, headers=alice
    )
    assert assert_openai_error(response, 400, "invalid_request_error")["param"] == param
    if not path_suffix:
        created = await client.post("/api/conversations", json=body, headers=alice)
        assert assert_openai_error(created, 400, "invalid_request_error")["param"] == param
    detail = (await client.get(f"/api/conversations/{chat}", headers=alice)).json()
    assert detail["title"] == "keep me" and detail["messages"] == []


async def test_bad_ids_queries_and_bodies(client: httpx.AsyncClient, accounts: Accounts) -> None:
    (alice,) = await keys_for(accounts, "alice")
    chat = await new_chat(client, alice)
    for path in ("/api/conversations/0", "/api/conversations/abc", f"/api/conversations/{2**40}"):
        assert_openai_error(await client.get(path, headers=alice), 400, "invalid_request_error")
    for params in ({"q": "x" * 201}, {"q": "a\x00"}, {"limit": 0}, {"limit": "many"}):
        response = await client.get("/api/conversations", params=params, headers=alice)
        assert_openai_error(response, 400, "invalid_request_error")
    not_json = await client.post(
        f"/api/conversations/{chat}/messages",
        content=b"{not json",
        headers={**alice, "Content-Type": "application/json"},
    )
    assert_openai_error(not_json, 400, "invalid_request_error")
    empty_title = await client.patch(
        f"/api/conversations/{chat}", json={"title": "  "}, headers=alice
    )
    assert assert_openai_error(empty_title, 400, "invalid_request_error")["param"] == "title"
    huge = await client.get(f"/api/conversations/{2**31 - 1}", headers=alice)
    assert_openai_error(huge, 404, "not_found_error")


async def test_an_image_is_kept_with_its_message(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    (alice,) = await keys_for(accounts, "alice")
    chat = await new_chat(client, alice)
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNg"
        "YGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    )
    sent = await say(client, alice, chat, "user", "What is this?", images=[pixel])
    assert sent["images"] == [pixel]
    detail = (await client.get(f"/api/conversations/{chat}", headers=alice)).json()
    assert detail["messages"][0]["images"] == [pixel]


async def test_default_model_comes_from_the_setting_then_from_use(
    make_settings: Callable[..., Settings],
    db_url: str,
    make_app: Callable[[Settings], Any],
) -> None:
    """Only served models count: a configured or much-used model no backend has is skipped."""
    with FakeOllama(models=["alpha", "beta", "gamma"]) as fake:
        backends = [{"name": "o", "url": fake.url, "kind": "ollama", "slots": 1}]
        for n, (setting, logged, expected) in enumerate((
            ("gamma", ["beta"], ("gamma", "setting")),
            ("not-served", ["beta", "beta", "alpha", "retired"], ("beta", "most_used")),
            (None, ["retired", "retired"], ("alpha", "first")),
        )):  # fmt: skip
            app = await make_app(
                make_settings(database_url=db_url, default_model=setting, backends=backends)
            )
            accounts = Accounts(app)
            who = bearer(await accounts.key(await accounts.user(f"user{n}")))
            async with app.state.database.session() as session:
                await session.execute(delete(RequestLog))
                await session.commit()
            for i, model in enumerate(logged):
                app.state.request_log.log({
                    "request_id": f"r{n}-{i}", "kind": "chat", "model": model,
                    "entry_band": "low", "status": "ok", "queued_at": datetime.now(UTC),
                })  # fmt: skip
            await app.state.request_log.flush()
            async with client_for(app) as client:
                async with asyncio.timeout(20):
                    while len((await client.get("/v1/models", headers=who)).json()["data"]) < 3:
                        await asyncio.sleep(0.05)
                response = await client.get("/api/chat/defaults", headers=who)
            assert response.status_code == 200, response.text
            assert (response.json()["model"], response.json()["source"]) == expected
