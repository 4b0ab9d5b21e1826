"""A fake OpenAI-compatible server: /v1/models, /v1/chat/completions, /v1/completions,
/v1/embeddings, streaming as SSE. It adds no delay of its own when the delays are 0.

Run as a process: ``python -m tests.fakes.openai_server --port 9000 --token-delay 0.01``.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import (
    FakeFailure,
    FakeServer,
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
from .openai_chat import openai_script, scripted_response

NO_EMBEDDINGS = "This server does not support embeddings. Start it with `--embeddings`"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return json_response(body, status)


def _sse(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(v) if not isinstance(v, int) else 1 for v in value)
    if isinstance(value, dict):
        return _words(value.get("content") or value.get("text") or "")
    return 0


class FakeOpenAI(FakeServer):
    """In-process fake OpenAI-compatible server; ``with FakeOpenAI() as fake: fake.url``."""

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models", self.models),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
        ]

    def _denied(self, request: Request) -> Response | None:
        key = self.config.api_key
        if key and request.headers.get("authorization") != f"Bearer {key}":
            return _error(401, "Incorrect API key provided", "authentication_error")
        return None

    def _check(self, request: Request, body: Any) -> Response | None:
        denied = self._denied(request)
        if denied is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _error(400, "'model' is a required property")
        error_after, status = magic(body["model"])
        if status is not None:
            return _error(status, f"fake status {status}", "server_error")
        if body["model"] not in self.config.models and error_after is None:
            return _error(404, f"The model `{body['model']}` does not exist.", "NotFoundError")
        return None

    async def models(self, request: Request) -> Response:
        self.begin(request, None, count=False)
        denied = self._denied(request)
        if denied is not None:
            return denied
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
            for m in self.config.models
        ]
        return json_response({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"null")
        record = self.begin(request, body)
        problem = self._check(request, body)
        if problem is None and not isinstance(body.get("messages"), list):
            problem = _error(400, "'messages' is a required property")
        if problem is not None:
            self.finish(record)
            return problem
        plan = openai_script(body)
        if plan is not None:
            return scripted_response(self, record, body, plan)

        def choice(text: str | None, finish: str | None = None) -> dict[str, Any]:
            delta = {} if text is None else {"content": text}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None}
        first["finish_reason"] = None
        return await self._respond(
            request, record, body, "chatcmpl", "chat.completion.chunk", choice, first
        )

    async def completions(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"null")
        record = self.begin(request, body)
        problem = self._check(request, body)
        if problem is not None:
            self.finish(record)
            return problem

        def choice(text: str | None, finish: str | None = None) -> dict[str, Any]:
            return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}

        return await self._respond(request, record, body, "cmpl", "text_completion", choice)

    async def _respond(
        self,
        request: Request,
        record: Recorded,
        body: dict[str, Any],
        prefix: str,
        kind: str,
        choice: Callable[..., dict[str, Any]],
        first: dict[str, Any] | None = None,
    ) -> Response:
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        p = plan(self.config, body["model"], limit)
        prompt_tokens = _words(body.get("messages") or body.get("prompt"))
        head: dict[str, Any] = {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind}
        head |= {"created": int(time.time()), "model": body["model"]}
        usage_wanted = bool((body.get("stream_options") or {}).get("include_usage"))

        async def produce(disconnected: asyncio.Event) -> AsyncIterator[bytes]:
            produced = 0
            if first is not None:
                yield _sse({**head, "choices": [first]})
            try:
                async for text in generate(self.config, p, disconnected):
                    produced += 1
                    yield _sse({**head, "choices": [choice(text)]})
            except FakeFailure as exc:
                yield _sse({"error": {"message": str(exc), "type": "server_error", "code": 500}})
                yield b"data: [DONE]\n\n"
                return
            yield _sse({**head, "choices": [choice(None, p.finish)]})
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": produced}
            usage["total_tokens"] = prompt_tokens + produced
            if usage_wanted:
                yield _sse({**head, "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"

        if body.get("stream"):
            return RecordingStream(produce, "text/event-stream", self, record)
        events = [raw async for raw in produce(asyncio.Event())]
        self.finish(record)
        chunks = [orjson.loads(raw[6:]) for raw in events if raw != b"data: [DONE]\n\n"]
        if "error" in chunks[-1]:
            return _error(500, chunks[-1]["error"]["message"], "server_error")
        return json_response(_assemble(head, chunks, prompt_tokens))

    async def embeddings(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"null")
        record = self.begin(request, body)
        try:
            problem = self._check(request, body)
            if problem is not None:
                return problem
            if not self.config.embeddings:
                return _error(501, NO_EMBEDDINGS, "not_supported_error")
            inputs = body.get("input")
            if isinstance(inputs, str) or (
                isinstance(inputs, list) and inputs and isinstance(inputs[0], int)
            ):
                inputs = [inputs]
            if not isinstance(inputs, list) or not inputs:
                return _error(400, "'input' must be a string or a list")
            await pause(self.config.service_time, asyncio.Event())
            data = []
            for i, item in enumerate(inputs):
                vector: Any = fake_embedding(str(item), self.config.embed_dim)
                if body.get("encoding_format") == "base64":
                    packed = struct.pack(f"<{len(vector)}f", *vector)
                    vector = base64.b64encode(packed).decode()
                data.append({"object": "embedding", "index": i, "embedding": vector})
            tokens = _words(inputs)
            usage = {"prompt_tokens": tokens, "total_tokens": tokens}
            return json_response(
                {"object": "list", "data": data, "model": body["model"], "usage": usage}
            )
        finally:
            self.finish(record)


def _assemble(head: dict[str, Any], chunks: list[dict[str, Any]], prompt: int) -> dict[str, Any]:
    """The non-streamed answer built from the same chunks the stream would carry."""
    chat = head["object"] == "chat.completion.chunk"
    pieces = [c["choices"][0] for c in chunks if c.get("choices")]
    text = "".join((p.get("delta") or {}).get("content", "") if chat else p["text"] for p in pieces)
    finish = pieces[-1]["finish_reason"]
    produced = sum(1 for p in pieces if (p.get("delta") or {}).get("content") or p.get("text"))
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
    else:
        choice = {"index": 0, "text": text}
    choice |= {"logprobs": None, "finish_reason": finish}
    usage = {"prompt_tokens": prompt, "completion_tokens": produced}
    usage["total_tokens"] = prompt + produced
    kind = "chat.completion" if chat else "text_completion"
    return {**head, "object": kind, "choices": [choice], "usage": usage}


def main() -> None:
    serve_main(FakeOpenAI, "A fake OpenAI-compatible server for Seadragon tests and benchmarks.")


if __name__ == "__main__":
    main()
