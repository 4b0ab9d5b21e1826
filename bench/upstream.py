"""The benchmarks' fake upstream: OpenAI and Ollama-native on one port, as fast as aiohttp.

The model name picks the behaviour, so one process serves every scenario:

- ``fast``: answers at once (non-streamed, or a stream of ``max_tokens`` chunks, ≤ 64);
- ``paced``: streams 64 chunks, one every ``--gap`` seconds (20 ms), like a model;
- ``sched``: takes ``--service`` seconds per request and runs at most ``--capacity`` at
  once (the rest wait in arrival order), a backend of known capacity for the queueing
  scenarios.

Chunk *i* carries the text ``tok<i>`` (a leading space after the first), so a client can
count lost and duplicated chunks. ``GET /_stats`` reports requests and the most in flight
per model. Run: ``python -m bench.upstream --port 9000``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import orjson
from aiohttp import web

MODELS = ("fast", "paced", "sched")
MAX_TOKENS = 64
CREATED = "2025-01-01T00:00:00Z"


class Upstream:
    def __init__(self, gap: float, service: float, capacity: int) -> None:
        self.gap, self.service = gap, service
        self.capacity = asyncio.Semaphore(capacity)
        self.requests: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()

    async def pieces(self, model: str, limit: object) -> AsyncIterator[str]:
        tokens = min(limit, MAX_TOKENS) if isinstance(limit, int) and limit > 0 else MAX_TOKENS
        if model == "sched":
            async with self.capacity:
                await asyncio.sleep(self.service)
        for i in range(tokens):
            if model == "paced" and i:
                await asyncio.sleep(self.gap)
            yield f"tok{i}" if i == 0 else f" tok{i}"

    async def answer(self, request: web.Request, ollama: bool) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        model = str(body.get("model", "")).removesuffix(":latest")
        if model not in MODELS:
            error = {"error": f"model '{model}' not found"}
            if not ollama:
                error = {"error": {"message": error["error"], "type": "invalid_request_error"}}
            return web.Response(
                body=orjson.dumps(error), status=404, content_type="application/json"
            )
        options = body.get("options") or {}
        limit = options.get("num_predict") if ollama else body.get("max_tokens")
        stream = body.get("stream", ollama) is not False
        self.requests[model] += 1
        self.in_flight[model] += 1
        self.max_in_flight[model] = max(self.max_in_flight[model], self.in_flight[model])
        try:
            pieces = self.pieces(model, limit)
            if not stream:
                text = "".join([p async for p in pieces])
                return web.Response(
                    body=orjson.dumps(self.whole(model, text, ollama)),
                    content_type="application/json",
                )
            kind = "application/x-ndjson" if ollama else "text/event-stream"
            response = web.StreamResponse(headers={"Content-Type": kind})
            await response.prepare(request)
            count = 0
            async for piece in pieces:
                count += 1
                await response.write(self.chunk(model, piece, ollama))
            await response.write(self.last(model, count, ollama))
            await response.write_eof()
            return response
        finally:
            self.in_flight[model] -= 1

    def whole(self, model: str, text: str, ollama: bool) -> dict[str, object]:
        count = text.count("tok")
        if ollama:
            return {
                "model": model,
                "created_at": CREATED,
                "done": True,
                "done_reason": "stop",
                "message": {"role": "assistant", "content": text},
                "prompt_eval_count": 1,
                "eval_count": count,
            }
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": count, "total_tokens": count + 1},
        }

    def chunk(self, model: str, piece: str, ollama: bool) -> bytes:
        if ollama:
            data = {
                "model": model,
                "created_at": CREATED,
                "done": False,
                "message": {"role": "assistant", "content": piece},
            }
            return orjson.dumps(data) + b"\n"
        choice = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
        data = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [choice],
        }
        return b"data: " + orjson.dumps(data) + b"\n\n"

    def last(self, model: str, count: int, ollama: bool) -> bytes:
        if ollama:
            data = {
                "model": model,
                "created_at": CREATED,
                "done": True,
                "done_reason": "stop",
                "message": {"role": "assistant", "content": ""},
                "prompt_eval_count": 1,
                "eval_count": count,
            }
            return orjson.dumps(data) + b"\n"
        choice = {"index": 0, "delta": {}, "finish_reason": "stop"}
        data = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [choice],
        }
        return b"data: " + orjson.dumps(data) + b"\n\ndata: [DONE]\n\n"

    def app(self) -> web.Application:
        app = web.Application()

        async def openai_chat(request: web.Request) -> web.StreamResponse:
            return await self.answer(request, ollama=False)

        async def ollama_chat(request: web.Request) -> web.StreamResponse:
            return await self.answer(request, ollama=True)

        async def models(request: web.Request) -> web.Response:
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "bench"} for m in MODELS]
            return web.json_response({"object": "list", "data": data})

        async def tags(request: web.Request) -> web.Response:
            data = [
                {
                    "name": f"{m}:latest",
                    "model": f"{m}:latest",
                    "modified_at": CREATED,
                    "size": 1000,
                    "digest": m,
                    "details": {},
                }
                for m in MODELS
            ]
            return web.json_response({"models": data})

        async def loaded(request: web.Request) -> web.Response:
            data = [
                {
                    "name": f"{m}:latest",
                    "model": f"{m}:latest",
                    "size": 1000,
                    "size_vram": 1000,
                    "expires_at": "2099-01-01T00:00:00Z",
                }
                for m in MODELS
            ]
            return web.json_response({"models": data})

        async def version(request: web.Request) -> web.Response:
            return web.json_response({"version": "0.12.6"})

        async def root(request: web.Request) -> web.Response:
            return web.Response(text="Ollama is running")

        async def stats(request: web.Request) -> web.Response:
            return web.json_response(
                {"requests": self.requests, "max_in_flight": self.max_in_flight}
            )

        app.router.add_post("/v1/chat/completions", openai_chat)
        app.router.add_get("/v1/models", models)
        app.router.add_post("/api/chat", ollama_chat)
        app.router.add_get("/api/tags", tags)
        app.router.add_get("/api/ps", loaded)
        app.router.add_get("/api/version", version)
        app.router.add_get("/", root)
        app.router.add_get("/_stats", stats)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gap", type=float, default=0.02)
    parser.add_argument("--service", type=float, default=0.05)
    parser.add_argument("--capacity", type=int, default=2)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # the fake works on the default loop too, only slower
        pass

    async def build() -> web.Application:
        return Upstream(args.gap, args.service, args.capacity).app()

    web.run_app(build(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
