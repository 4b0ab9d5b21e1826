"""Model management through Seadragon: admins only, passed through to Ollama backends."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import ollama
import pytest

from fakes.ollama_server import FakeOllama
from tests.api.conftest import Gateway

MANAGEMENT = ("/api/pull", "/api/push", "/api/create", "/api/delete", "/api/copy", "/api/blobs")


def managed(fake: FakeOllama) -> list[str]:
    return [r.path for r in fake.requests if r.path.startswith(MANAGEMENT)]


async def two_backends(gateway_factory: Any, one: FakeOllama, two: FakeOllama) -> Gateway:
    backends = [
        {"name": "one", "url": one.url, "kind": "ollama"},
        {"name": "two", "url": two.url, "kind": "ollama"},
    ]
    gateway: Gateway = await gateway_factory(backends, models={"llama3"})
    return gateway


async def session_of(http: httpx.AsyncClient, who: str) -> dict[str, str]:
    """Sign ``who`` in; the headers a browser page would send (cookie + CSRF token)."""
    response = await http.post(
        "/api/auth/login", json={"username": who, "password": f"{who}-password-1"}
    )
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": http.cookies["seadragon_csrf"]}


async def test_only_admins_manage_models_and_refusals_reach_no_backend(
    gateway_factory: Any,
) -> None:
    digest = "sha256:" + "a" * 64
    attempts = [
        ("POST", "/api/pull", {"model": "phi3"}),
        ("POST", "/api/push", {"model": "llama3"}),
        ("POST", "/api/create", {"model": "mine", "from": "llama3"}),
        ("DELETE", "/api/delete", {"model": "llama3"}),
        ("POST", "/api/copy", {"source": "llama3", "destination": "copy"}),
        ("POST", f"/api/blobs/{digest}", None),
        ("HEAD", f"/api/blobs/{digest}", None),
        ("GET", "/api/models", None),
        ("POST", "/api/models/unload", {"model": "llama3"}),
        ("POST", "/api/generate", {"model": "llama3", "keep_alive": 0}),
    ]
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await gateway_factory(
            [{"name": "gpu", "url": fake.url, "kind": "ollama"}], models={"llama3"}
        )
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            for method, path, body in attempts:
                response = await http.request(method, path, json=body, headers=gateway.headers())
                assert response.status_code == 403, (method, path)
                if method != "HEAD":
                    assert "administrator" in str(response.json()["error"])
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            csrf = await session_of(http, "alice")
            for method, path, body in attempts:
                response = await http.request(method, path, json=body, headers=csrf)
                assert response.status_code == 403, (method, path)
        with pytest.raises(ollama.ResponseError) as refused:
            await ollama.AsyncClient(host=gateway.url, headers=gateway.headers()).pull("phi3")
        assert refused.value.status_code == 403
    assert managed(fake) == []
    assert "llama3:latest" in fake.config.models


async def test_pull_with_progress_on_every_backend(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as one, FakeOllama(models=["llama3:latest"]) as two:
        gateway = await two_backends(gateway_factory, one, two)
        admin = ollama.AsyncClient(host=gateway.url, headers=gateway.headers("root"))
        parts = [p async for p in await admin.pull("phi3:mini", stream=True)]
        layers = [p for p in parts if p.total]
        assert {p.digest for p in layers} and all(p.completed is not None for p in layers)
        assert any(p.completed == p.total for p in layers)
        assert parts[-1].status == "success"
        assert "phi3:mini" in one.config.models and "phi3:mini" in two.config.models
        names = [m.model for m in (await admin.list()).models]
        assert "phi3:mini" in names  # the workers re-read their backends at once

        # Not streamed; one backend only, named by header.
        only_one = ollama.AsyncClient(
            host=gateway.url, headers={**gateway.headers("root"), "X-Seadragon-Backend": "two"}
        )
        assert (await only_one.pull("qwen:0.5b", stream=False)).status == "success"
        assert "qwen:0.5b" in two.config.models and "qwen:0.5b" not in one.config.models


async def test_a_failed_pull_ends_with_an_error_and_registers_nothing(
    gateway_factory: Any,
) -> None:
    with FakeOllama(models=["llama3:latest"]) as one, FakeOllama(models=["llama3:latest"]) as two:
        gateway = await two_backends(gateway_factory, one, two)
        admin = ollama.AsyncClient(host=gateway.url, headers=gateway.headers("root"))
        with pytest.raises(ollama.ResponseError, match="file does not exist"):
            async for _ in await admin.pull("missing-model", stream=True):
                pass
        seen = []
        with pytest.raises(ollama.ResponseError, match="connection reset"):
            async for part in await admin.pull("halfway-model", stream=True):
                seen.append(part)
        assert any(p.completed for p in seen)  # it got somewhere before failing
        names = [m.model for m in (await admin.list()).models]
        assert not any(n.startswith(("missing", "halfway")) for n in names)
        with pytest.raises(ollama.ResponseError) as failed:
            await admin.pull("halfway-model", stream=False)
        assert failed.value.status_code == 502


async def test_delete_copy_create_show_and_unload(gateway_factory: Any) -> None:
    with (
        FakeOllama(models=["llama3:latest", "phi:latest"]) as one,
        FakeOllama(models=["llama3:latest"]) as two,
    ):
        gateway = await two_backends(gateway_factory, one, two)
        admin = ollama.AsyncClient(host=gateway.url, headers=gateway.headers("root"))
        await admin.copy("llama3", "llama3-copy")
        assert (
            "llama3-copy:latest" in one.config.models and "llama3-copy:latest" in two.config.models
        )
        await admin.delete("phi")  # only backend one has it
        assert "phi:latest" not in one.config.models
        with pytest.raises(ollama.ResponseError) as missing:
            await admin.delete("phi")
        assert missing.value.status_code == 404
        created = await admin.create(model="terse", from_="llama3", system="Be terse.")
        assert created.status == "success" and "terse:latest" in two.config.models
        assert [r.body["system"] for r in two.requests if r.path == "/api/create"] == ["Be terse."]

        await admin.generate(model="llama3", prompt="warm up", stream=False)
        assert "llama3:latest" in one.loaded | two.loaded
        unloaded = await admin.generate(model="llama3", keep_alive=0)
        assert unloaded.done_reason == "unload"
        assert not one.loaded and not two.loaded

        blob = b"adapter weights"
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        assert await admin.create_blob(path_of(blob, gateway)) == digest


def path_of(blob: bytes, gateway: Gateway) -> Any:
    path = gateway.settings.data_dir / "blob.bin"
    path.write_bytes(blob)
    return path


async def test_model_names_are_validated(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await gateway_factory(
            [{"name": "gpu", "url": fake.url, "kind": "ollama"}],
            models={"llama3"},
            model_registries=["hf.co"],
        )
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            for name in ("../../etc/passwd", "evil.example.com/x/y", "a\\b", "x:bad tag", ""):
                response = await http.post(
                    "/api/pull",
                    json={"model": name, "stream": False},
                    headers=gateway.headers("root"),
                )
                assert response.status_code == 400, name
                assert response.json()["error"].startswith("model")
            unknown = await http.post(
                "/api/pull", json={"model": "x", "backend": "nope"}, headers=gateway.headers("root")
            )
            assert unknown.status_code == 400 and "backend" in unknown.json()["error"]
            allowed = await http.post(
                "/api/pull",
                json={"model": "hf.co/org/model:Q4", "stream": False},
                headers=gateway.headers("root"),
            )
            assert allowed.status_code == 200
        assert [r.body["model"] for r in fake.requests if r.path == "/api/pull"] == [
            "hf.co/org/model:Q4"
        ]
