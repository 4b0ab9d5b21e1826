"""A fake Ollama speaking its native API: /api/tags, /api/chat, /api/generate, /api/embed,
and model management (``tests.fakes.ollama_models``).

Chat honours the request's features as a model would (``tests.fakes.scripted``): with
``tools`` it calls a tool, with ``format`` it answers JSON, with ``think`` it thinks first.

Run as a process: ``python -m tests.fakes.ollama_server --port 11500 --models llama3:latest``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from . import (
    FakeFailure,
    FakeServer,
    Plan,
    Recorded,
    RecordingStream,
    fake_embedding,
    generate,
    json_response,
    magic,
    pause,
    plan,
)
from .command import serve_main
from .ollama_chat import ollama_script, scripted_response
from .ollama_models import ModelManagement, details, digest_of

CREATED_AT = "2025-01-01T00:00:00.000000Z"


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _final(model: str, p: Plan, prompt_tokens: int, produced: int) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": CREATED_AT,
        "done": True,
        "done_reason": p.finish,
        "total_duration": 1000,
        "load_duration": 0,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 0,
        "eval_count": produced,
        "eval_duration": 1000,
    }


class FakeOllama(ModelManagement, FakeServer):
    """In-process fake Ollama; ``with FakeOllama(models=[...]) as fake: fake.url``."""

    def routes(self) -> list[Route]:
        return [
            Route("/", self.root),
            Route("/api/version", self.version),
            Route("/api/tags", self.tags),
            Route("/api/chat", self.chat, methods=["POST"]),
            Route("/api/generate", self.generate, methods=["POST"]),
            Route("/api/embed", self.embed, methods=["POST"]),
            *self.model_routes(),
        ]

    async def root(self, request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def version(self, request: Request) -> Response:
        return json_response({"version": "0.12.6"})

    async def tags(self, request: Request) -> Response:
        self.begin(request, None, count=False)
        models = [
            {
                "name": name,
                "model": name,
                "modified_at": CREATED_AT,
                "size": 1000,
                "digest": digest_of(name)[7:],
                "details": details(),
            }
            for name in self.config.models
        ]
        return json_response({"models": models})

    def _known(self, model: str) -> bool:
        return model in self.config.models or f"{model}:latest" in self.config.models

    def _check(self, body: Any) -> Response | None:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _error(400, "model is required")
        status = magic(body["model"])[1]
        if status is not None:
            return _error(status, f"fake status {status}")
        if not self._known(body["model"]) and magic(body["model"])[0] is None:
            return _error(404, f"model '{body['model']}' not found")
        if self.config.busy_refusals > 0:
            self.config.busy_refusals -= 1
            return _error(503, "server busy, please try again.  maximum pending requests exceeded")
        return None

    async def chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"null")
        record = self.begin(request, body)
        problem = self._check(body)
        if problem is None and not isinstance(body.get("messages"), list):
            problem = _error(400, "messages must be a list")
        if problem is not None:
            self.finish(record)
            return problem
        self.load(self.resolve(body["model"]) or body["model"])
        script = ollama_script(body)
        if script is not None:
            return scripted_response(self, record, body, script)
        words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])

        def line(text: str) -> dict[str, Any]:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            return {"model": body["model"], "created_at": CREATED_AT, "message": message}

        return await self._respond(request, record, body, words, line)

    async def generate(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"null")
        record = self.begin(request, body)
        problem = self._check(body)
        if problem is not None:
            self.finish(record)
            return problem
        if not body.get("prompt") and not body.get("images"):
            self.finish(record)
            reason = self.load_or_unload(body["model"], body.get("keep_alive"))
            return json_response(
                {
                    "model": body["model"],
                    "created_at": CREATED_AT,
                    "response": "",
                    "done": True,
                    "done_reason": reason,
                }
            )
        words = len(str(body.get("prompt", "")).split())
        self.load(self.resolve(body["model"]) or body["model"])

        def line(text: str) -> dict[str, Any]:
            return {"model": body["model"], "created_at": CREATED_AT, "response": text}

        return await self._respond(request, record, body, words, line)

    async def _respond(
        self,
        request: Request,
        record: Recorded,
        body: dict[str, Any],
        prompt_tokens: int,
        line: Callable[[str], dict[str, Any]],
    ) -> Response:
        options = body.get("options") or {}
        p = plan(self.config, body["model"], options.get("num_predict"))

        async def produce(disconnected: asyncio.Event) -> AsyncIterator[bytes]:
            produced = 0
            try:
                async for text in generate(self.config, p, disconnected):
                    produced += 1
                    yield orjson.dumps(line(text)) + b"\n"
            except FakeFailure as exc:
                yield orjson.dumps({"error": str(exc)}) + b"\n"
                return
            final = line("") | _final(body["model"], p, prompt_tokens, produced)
            if "response" in final:
                final["context"] = [1, 2, 3]
            yield orjson.dumps(final) + b"\n"

        if body.get("stream", True):
            return RecordingStream(produce, "application/x-ndjson", self, record)
        pieces = [orjson.loads(raw) async for raw in produce(asyncio.Event())]
        self.finish(record)
        if "error" in pieces[-1]:
            return _error(500, pieces[-1]["error"])
        text = "".join(
            piece.get("response") or (piece.get("message") or {}).get("content", "")
            for piece in pieces[:-1]
        )
        final = pieces[-1]
        if "message" in final:
            final["message"]["content"] = text
        else:
            final["response"] = text
        return json_response(final)

    async def embed(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"null")
        record = self.begin(request, body)
        try:
            problem = self._check(body)
            if problem is not None:
                return problem
            if not self.config.embeddings:
                return _error(400, f'"{body["model"]}" does not support embeddings')
            texts = body.get("input")
            texts = [texts] if isinstance(texts, str) else texts
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                return _error(400, "invalid input type")
            await pause(self.config.service_time, asyncio.Event())
            vectors = [fake_embedding(t, self.config.embed_dim) for t in texts]
            words = sum(len(t.split()) for t in texts)
            return json_response(
                {
                    "model": body["model"],
                    "embeddings": vectors,
                    "total_duration": 1000,
                    "load_duration": 0,
                    "prompt_eval_count": words,
                }
            )
        finally:
            self.finish(record)


def main() -> None:
    serve_main(FakeOllama, "A fake Ollama server for Seadragon tests and benchmarks.")


if __name__ == "__main__":
    main()
