"""The fake Ollama's model management: /api/ps, /api/show, /api/pull, /api/push,
/api/create, /api/copy, /api/delete, /api/blobs, and load/unload by empty generate.

State is the fake's ``config.models`` (what it has) and ``loaded`` (what it holds in
memory, at most ``config.max_loaded`` models, least recently used evicted first);
``loads`` counts every time a model had to be loaded. A pull streams Ollama's progress
lines layer by layer, paced by ``config.token_delay``, and adds the model only once it
succeeded. Magic names: a pull of ``missing*`` fails at the manifest (as Ollama does for
an unknown name), ``halfway*`` fails in the middle of its first layer. ``hold_pulls()``
stops every pull halfway through its first layer until ``release_pulls()``, so a test
can see a pull in progress.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import FakeServer, RecordingStream, json_response, pause

CREATED_AT = "2025-01-01T00:00:00.000000Z"
EXPIRES_AT = "2099-01-01T00:00:00.000000Z"
LAYER_SIZES = (4000, 1000)
STEPS = 4


def digest_of(name: str, layer: int = 0) -> str:
    return "sha256:" + hashlib.sha256(f"{name}/{layer}".encode()).hexdigest()


def details() -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "fake",
        "families": ["fake"],
        "parameter_size": "1M",
        "quantization_level": "Q4_0",
    }


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class ModelManagement(FakeServer):
    """Mixed into ``FakeOllama``: the routes that manage models."""

    loaded: set[str]
    blobs: set[str]
    pulls_go: threading.Event
    loads: int
    _recent: list[str]

    def model_routes(self) -> list[Route]:
        self.loaded, self.blobs = set(), set()
        self.pulls_go = threading.Event()
        self.pulls_go.set()
        self.loads, self._recent = 0, []
        return [
            Route("/api/ps", self.ps),
            Route("/api/show", self.show, methods=["POST"]),
            Route("/api/pull", self.pull, methods=["POST"]),
            Route("/api/push", self.push, methods=["POST"]),
            Route("/api/create", self.create, methods=["POST"]),
            Route("/api/copy", self.copy, methods=["POST"]),
            Route("/api/delete", self.delete, methods=["DELETE"]),
            Route("/api/blobs/{digest}", self.blob, methods=["HEAD", "POST"]),
        ]

    def hold_pulls(self) -> None:
        self.pulls_go.clear()

    def release_pulls(self) -> None:
        self.pulls_go.set()

    def load(self, name: str) -> None:
        """Hold ``name`` in memory for a request, loading it (and evicting) if need be."""
        if name in self._recent:
            self._recent.remove(name)
        self._recent.append(name)
        if name in self.loaded:
            return
        self.loads += 1
        self.loaded.add(name)
        limit = self.config.max_loaded
        while limit is not None and len(self.loaded) > limit:
            oldest = next(n for n in self._recent if n in self.loaded and n != name)
            self.loaded.discard(oldest)

    def resolve(self, model: str) -> str | None:
        for name in (model, f"{model}:latest"):
            if name in self.config.models:
                return name
        return None

    async def _body(self, request: Request, record: bool = True) -> dict[str, Any]:
        body = orjson.loads(await request.body() or b"{}")
        if record:  # streamed answers record themselves, counted while they run
            self.begin(request, body, count=False)
        return body if isinstance(body, dict) else {}

    async def ps(self, request: Request) -> Response:
        self.begin(request, None, count=False)
        models = [
            {
                "name": name,
                "model": name,
                "size": 2000,
                "digest": digest_of(name),
                "details": details(),
                "expires_at": EXPIRES_AT,
                "size_vram": 1500,
                "context_length": 4096,
            }
            for name in sorted(self.loaded)
        ]
        return json_response({"models": models})

    async def show(self, request: Request) -> Response:
        body = await self._body(request)
        name = self.resolve(str(body.get("model") or body.get("name") or ""))
        if name is None:
            return _error(404, f"model '{body.get('model')}' not found")
        return json_response(
            {
                "modelfile": f"FROM {name}\n",
                "parameters": "stop <|end|>",
                "template": "{{ .Prompt }}",
                "details": details(),
                "model_info": {"general.architecture": "fake", "fake.context_length": 4096},
                "capabilities": ["completion", "tools"],
                "modified_at": CREATED_AT,
            }
        )

    def load_or_unload(self, model: str, keep_alive: Any) -> str:
        """What an empty generate does: load the model, or with keep_alive 0 unload it."""
        name = self.resolve(model) or model
        if keep_alive in (0, "0", "0s"):
            self.loaded.discard(name)
            return "unload"
        self.load(name)
        return "load"

    async def _progress(self, name: str, fail: str | None) -> AsyncIterator[dict[str, Any]]:
        yield {"status": "pulling manifest"}
        if fail == "manifest":
            yield {"error": "pull model manifest: file does not exist"}
            return
        for layer, total in enumerate(LAYER_SIZES):
            digest = digest_of(name, layer)
            for step in range(STEPS + 1):
                if step:
                    await asyncio.sleep(self.config.token_delay)
                if fail == "halfway" and step == STEPS // 2:
                    yield {"error": "max retries exceeded: connection reset by peer"}
                    return
                completed = total * step // STEPS
                yield {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total,
                       "completed": completed}  # fmt: skip
                if layer == 0 and step == STEPS // 2 and not self.pulls_go.is_set():
                    await asyncio.to_thread(self.pulls_go.wait)
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        if name not in self.config.models:
            self.config.models.append(name)
        yield {"status": "success"}

    async def pull(self, request: Request) -> Response:
        body = await self._body(request, record=False)
        name = str(body.get("model") or body.get("name") or "")
        if ":" not in name.rsplit("/", 1)[-1]:
            name += ":latest"
        fail = "manifest" if name.startswith("missing") else None
        fail = "halfway" if name.startswith("halfway") else fail
        return await self._stream(request, body, self._progress(name, fail))

    async def _stream(
        self, request: Request, body: dict[str, Any], lines: AsyncIterator[dict[str, Any]]
    ) -> Response:
        record = self.begin(request, body)

        async def produce(disconnected: asyncio.Event) -> AsyncIterator[bytes]:
            async for line in lines:
                yield orjson.dumps(line) + b"\n"
                if await pause(0, disconnected):
                    return

        if body.get("stream", True):
            return RecordingStream(produce, "application/x-ndjson", self, record)
        last = [orjson.loads(raw) async for raw in produce(asyncio.Event())][-1]
        self.finish(record)
        return _error(500, last["error"]) if "error" in last else json_response(last)

    async def push(self, request: Request) -> Response:
        body = await self._body(request, record=False)
        name = self.resolve(str(body.get("model") or ""))
        if name is None:
            return _error(404, "model not found")

        async def lines() -> AsyncIterator[dict[str, Any]]:
            yield {"status": "retrieving manifest"}
            yield {"status": "pushing manifest"}
            yield {"status": "success"}

        return await self._stream(request, body, lines())

    async def create(self, request: Request) -> Response:
        body = await self._body(request, record=False)
        source = body.get("from")
        if source is not None and self.resolve(str(source)) is None:
            return _error(404, f"model '{source}' not found")
        name = str(body.get("model") or "")

        async def lines() -> AsyncIterator[dict[str, Any]]:
            yield {"status": "using existing layer " + digest_of(str(source))}
            yield {"status": "writing manifest"}
            self.config.models.append(name if ":" in name else f"{name}:latest")
            yield {"status": "success"}

        return await self._stream(request, body, lines())

    async def copy(self, request: Request) -> Response:
        body = await self._body(request)
        source = self.resolve(str(body.get("source") or ""))
        if source is None:
            return _error(404, f"model '{body.get('source')}' not found")
        destination = str(body.get("destination"))
        self.config.models.append(destination if ":" in destination else f"{destination}:latest")
        return Response(status_code=200)

    async def delete(self, request: Request) -> Response:
        body = await self._body(request)
        name = self.resolve(str(body.get("model") or body.get("name") or ""))
        if name is None:
            return _error(404, f"model '{body.get('model')}' not found")
        self.config.models.remove(name)
        self.loaded.discard(name)
        return Response(status_code=200)

    async def blob(self, request: Request) -> Response:
        digest = request.path_params["digest"]
        if request.method == "HEAD":
            self.begin(request, None, count=False)
            return Response(status_code=200 if digest in self.blobs else 404)
        data = await request.body()
        self.begin(request, {"size": len(data)}, count=False)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return _error(400, "digest mismatch")
        self.blobs.add(digest)
        return Response(status_code=201)
