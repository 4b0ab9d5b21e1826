"""OpenAI-compatible backends (llama.cpp server, vLLM, LM Studio, Ollama's ``/v1``).

The plumbing every HTTP backend shares (the pooled client, transport failures translated
into Seadragon's errors, safe one-line upstream messages) is ``HTTPBackend`` in
``seadragon.backends.http``; ``OllamaBackend`` builds on it too.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import orjson

from seadragon.backends.http import (
    HTTPBackend,
    Lines,
    short_message,
    strip_url_fields,
    upstream_message,
)
from seadragon.config import BackendConfig
from seadragon.errors import InvalidRequest, SeadragonError, UpstreamError
from seadragon.ollama_extension import refuse_extension

__all__ = [
    "HTTPBackend",
    "OpenAIBackend",
    "embeddings_response",
    "float32_base64",
    "short_message",
    "strip_url_fields",
    "upstream_message",
]


def float32_base64(vector: list[float]) -> str:
    """An embedding as OpenAI's ``encoding_format: base64``: little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embeddings_response(
    vectors: list[list[float]], model: Any, prompt_tokens: int, encoding: str
) -> dict[str, Any]:
    """OpenAI's embeddings answer around plain vectors."""
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": float32_base64(v) if encoding == "base64" else v,
        }
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def _sse_data(line: str) -> str | None:
    if not line.startswith("data:"):
        return None  # blank separators, ": comments", "event:" lines
    return line[5:].strip()


def _reasoning_named(delta: dict[str, Any]) -> dict[str, Any]:
    """Servers that call the thinking ``reasoning`` (vLLM, Ollama's ``/v1``): one name."""
    if "reasoning" in delta and "reasoning_content" not in delta:
        delta["reasoning_content"] = delta.pop("reasoning")
    return delta


class ToolArguments:
    """Streamed tool-call argument fragments, checked to be JSON once the stream ends."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.parts: dict[tuple[int, int], list[str]] = {}

    def add(self, choice: int, delta: dict[str, Any]) -> None:
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                continue
            fragment = function.get("arguments")
            key = (choice, int(call.get("index") or 0))
            self.parts.setdefault(key, []).append(fragment if isinstance(fragment, str) else "")

    def check(self) -> None:
        for pieces in self.parts.values():
            try:
                orjson.loads("".join(pieces) or "{}")
            except orjson.JSONDecodeError:
                raise UpstreamError(
                    f"backend {self.backend!r} returned a malformed tool call: "
                    "its arguments are not JSON"
                ) from None


class OpenAIBackend(HTTPBackend):
    """Any server speaking the OpenAI HTTP API; chunks pass through as they come."""

    def __init__(self, config: BackendConfig, timeout_s: float) -> None:
        root = config.url.rstrip("/").removesuffix("/v1")
        headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else None
        super().__init__(config, timeout_s, base_url=root + "/v1", headers=headers)

    async def list_models(self) -> list[str]:
        """Ids from ``GET /v1/models``."""
        data = await self._request_json("GET", "/models")
        entries = data.get("data", []) if isinstance(data, dict) else []
        return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]

    def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream ``POST /v1/chat/completions``."""
        return self._stream_sse("/chat/completions", body)

    def stream_completion(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream ``POST /v1/completions``."""
        return self._stream_sse("/completions", body)

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/embeddings``; float answers are packed when base64 was asked for."""
        body = refuse_extension(body, self.name)
        payload = strip_url_fields(body)
        model = str(body.get("model", ""))
        data = await self._request_json(
            "POST", "/embeddings", payload, model=model, errors=self._embed_error
        )
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise UpstreamError(f"backend {self.name!r} answered an unexpected embeddings shape")
        if body.get("encoding_format") == "base64":
            # Some servers (llama.cpp's Python server) ignore encoding_format.
            for item in data["data"]:
                if isinstance(item, dict) and isinstance(item.get("embedding"), list):
                    item["embedding"] = float32_base64(item["embedding"])
        return data

    def _embed_error(self, status: int, message: str, model: str) -> SeadragonError:
        if status in (400, 404, 422, 500, 501) and "embedding" in message.lower():
            return InvalidRequest(
                f"model {model!r} on backend {self.name!r} does not support embeddings ({message})",
                param="model",
            )
        return self._status_error(status, message, model)

    def _prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body sent upstream; subclasses adapt it to a server's dialect."""
        payload = strip_url_fields(body)
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
        return payload

    async def _usage_fallback(
        self, path: str, body: dict[str, Any], text: str
    ) -> dict[str, int] | None:
        """Token counts for servers that stream no usage; ``None`` means unknown."""
        return None

    async def _check(self, path: str, body: dict[str, Any]) -> None:
        """Refuse, before anything is sent, what this server is known to fail on."""

    async def _stream_sse(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = refuse_extension(body, self.name)
        await self._check(path, body)
        model = str(body.get("model", ""))
        last: dict[str, Any] = {}
        text: list[str] = []
        finished = usage_seen = False
        calls = ToolArguments(self.name)
        async with self._stream(path, self._prepare(body), model) as resp:
            async for line in Lines(resp.content):
                data = _sse_data(line)
                if not data:
                    continue
                if data == "[DONE]":
                    # Read on to the end of the body: a fully read response keeps its
                    # connection alive for the next request.
                    finished = True
                    continue
                chunk = self._stream_object(data, "event")
                last = chunk
                usage_seen = usage_seen or bool(chunk.get("usage"))
                for choice in chunk.get("choices") or ():
                    finished = finished or bool(choice.get("finish_reason"))
                    delta = choice.get("delta") or {}
                    piece = choice.get("text") or delta.get("content")
                    if isinstance(piece, str):
                        text.append(piece)
                    if delta:
                        calls.add(choice.get("index", 0), _reasoning_named(delta))
                yield chunk
        if not finished:
            raise UpstreamError(f"backend {self.name!r} ended the stream before finishing")
        calls.check()
        if not usage_seen:
            usage = await self._usage_fallback(path, body, "".join(text))
            if usage is not None:
                keep = ("id", "object", "created", "model")
                yield {**{k: last[k] for k in keep if k in last}, "choices": [], "usage": usage}
