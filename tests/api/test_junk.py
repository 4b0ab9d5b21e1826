"""Junk sent to every route the app has: never a 5xx, and an OpenAI-shaped error body
from every API route (Ollama-shaped on the native Ollama routes). Routes are read from
the app, so a new one is covered at once."""

from __future__ import annotations

import re
from typing import Any

import httpx

from fakes.ollama_server import FakeOllama
from seadragon.api.ollama_surface import is_native
from seadragon.app import ROUTERS
from tests.api.test_bad_input import fake_gateway

BODIES = [
    b"",
    b"{bad",
    b"\xff\xfe",
    b"null",
    b"[1, 2]",
    b'{"model": 1, "band": [], "name": {}, "password": null, "messages": "x"}',
    b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}",
]
#: Values for path parameters: none names anything that exists (nothing gets deleted).
PARAMS = ["abc", "-1", "0", "99999999999", "%00", "..%2F..", "x" * 300]
#: Asked of every route besides its own methods: answered 405, in the OpenAI shape.
EXTRA_METHODS = {"PUT"}


def concrete(path: str) -> list[str]:
    if "{" not in path:
        return [path]
    return [re.sub(r"\{[^}]+\}", value, path) for value in PARAMS]


async def test_no_route_answers_junk_with_a_server_error(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"]) as fake:
        gateway = await fake_gateway(gateway_factory, fake)
        routes = [route for router in ROUTERS for route in router.routes]
        assert len(routes) > 20
        problems: list[str] = []
        sent = 0
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            for route in routes:
                for path in concrete(route.path):
                    for method in sorted(getattr(route, "methods", set()) | EXTRA_METHODS):
                        if method == "HEAD":
                            continue
                        for body in BODIES:
                            for headers in ({}, gateway.headers("root")):
                                headers = {**headers, "Content-Type": "application/json"}
                                response = await http.request(
                                    method, path, content=body, headers=headers
                                )
                                sent += 1
                                status = response.status_code
                                where = f"{method} {path} {body[:30]!r} -> {status}"
                                if status >= 500 and status != 503:
                                    problems.append(f"{where}: {response.text[:200]}")
                                elif status >= 400 and is_native(path):
                                    error = response.json().get("error")
                                    if not isinstance(error, str) or not error:
                                        problems.append(f"{where}: not Ollama-shaped")
                                elif status >= 400 and path.startswith(("/v1/", "/api/")):
                                    error = response.json().get("error")
                                    if not isinstance(error, dict) or "message" not in error:
                                        problems.append(f"{where}: not OpenAI-shaped")
        print(f"\n{sent} junk requests to {len(routes)} routes")
        assert problems == []
