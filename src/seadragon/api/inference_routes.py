"""The inference routes (chat, completions, embeddings, responses) as plain Starlette routes.

Every request a model answers goes through one of these, so they skip FastAPI's request
handling: its dependency solving parses the query string and the cookies of every
request and builds a sub-response and an exit stack, about 0.3 ms of CPU per request on
the gateway core, a fifth of a whole proxied request (``bench/README.md``, "Hot path").
They read their caller and body themselves, as they did before: middlewares and
exception handlers apply to them as to any route, and the OpenAPI document still
describes them (``describe``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from seadragon.api.deps import get_caller
from seadragon.auth.caller import Caller
from seadragon.db.request_log import CURRENT_SCOPE

Endpoint = Callable[[Request, Caller], Awaitable[Response]]


@dataclass(frozen=True)
class _Described:
    path: str
    name: str
    summary: str
    tags: tuple[str, ...]
    body: type[BaseModel]


_DESCRIBED: list[_Described] = []


@dataclass(frozen=True)
class _Matched:
    """What the request log reads of a matched route: its path."""

    path: str


def inference(
    router: APIRouter, path: str, body: type[BaseModel], in_schema: bool = True
) -> Callable[[Endpoint], Endpoint]:
    """Serve ``POST path`` by ``endpoint(request, caller)``; ``body`` is what it parses."""

    def register(endpoint: Endpoint) -> Endpoint:
        matched = _Matched(path)

        async def serve(request: Request) -> Response:
            # The request log, metrics and log lines name the route from the scope the
            # middlewares saw, which an included router's copy does not update.
            outer = CURRENT_SCOPE.get()
            if outer is not None:
                outer["route"] = matched
            return await endpoint(request, await get_caller(request))

        router.add_route(
            path, serve, methods=["POST"], name=endpoint.__name__, include_in_schema=False
        )
        if in_schema:
            summary = (endpoint.__doc__ or "").strip().split("\n", 1)[0]
            tags = tuple(str(tag) for tag in router.tags)
            _DESCRIBED.append(_Described(path, endpoint.__name__, summary, tags, body))
        return endpoint

    return register


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (definitions inlined: none is recursive)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    content = {"application/json": {"schema": inline(schema)}}
    return {"requestBody": {"required": True, "content": content}}


def describe(app: FastAPI) -> None:
    """Make ``app.openapi()`` list the inference routes beside FastAPI's own."""
    build = app.openapi

    def document() -> dict[str, Any]:
        schema = build()  # FastAPI's, built once and cached on the app
        for route in _DESCRIBED:
            operation_id = f"{route.name}{route.path.replace('/', '_')}_post"
            schema.setdefault("paths", {}).setdefault(route.path, {})["post"] = {
                "tags": list(route.tags),
                "summary": route.summary,
                "operationId": operation_id,
                **body_schema(route.body),
                "responses": {"200": {"description": "Successful Response"}},
            }
        return schema

    app.openapi = document  # type: ignore[method-assign]
