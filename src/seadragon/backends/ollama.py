"""Ollama's native API (``/api/chat``, ``/api/generate``, ``/api/embed``, ``/api/tags``),
translated to and from OpenAI shapes.

Option precedence, lowest first: the operator's per-model defaults (``model_options``),
the request's own Ollama ``options`` (sampling and ``num_ctx`` only: ``num_gpu``,
``num_thread`` and ``keep_alive`` stay the operator's), then the OpenAI fields.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from seadragon.backends.http import HTTPBackend, Lines
from seadragon.backends.ollama_messages import chat_fields
from seadragon.backends.ollama_replies import ReplyTranslator, openai_logprobs
from seadragon.backends.openai import embeddings_response
from seadragon.config import BackendConfig, ModelOptions
from seadragon.errors import InvalidRequest, UpstreamError
from seadragon.ollama_extension import merge_extension

#: Ollama ``options`` a request may set itself; hardware placement stays the operator's.
REQUEST_OPTIONS = frozenset(
    {
        "num_ctx", "num_predict", "temperature", "top_k", "top_p", "min_p", "typical_p",
        "seed", "stop", "repeat_penalty", "repeat_last_n", "presence_penalty",
        "frequency_penalty", "mirostat", "mirostat_tau", "mirostat_eta", "num_keep",
    }
)  # fmt: skip
#: OpenAI request fields that map one-to-one onto Ollama options.
SAMPLING_FIELDS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")
FINISH_REASONS = {"stop": "stop", "length": "length"}


def _only_one(body: dict[str, Any]) -> None:
    for field in ("n", "best_of"):
        if body.get(field) not in (None, 1):
            raise InvalidRequest(f"{field} > 1 is not supported by Ollama backends", param=field)


class OllamaBackend(HTTPBackend):
    """An Ollama server spoken to in its native API."""

    def __init__(
        self, config: BackendConfig, model_options: dict[str, ModelOptions], timeout_s: float
    ) -> None:
        super().__init__(config, timeout_s, base_url=config.url.rstrip("/"))
        self._model_options = model_options
        #: "llama3" -> "llama3:latest", learnt from /api/tags.
        self._aliases: dict[str, str] = {}

    async def list_models(self) -> list[str]:
        """Every tag, plus the bare name of each ``:latest`` tag."""
        data = await self._request_json("GET", "/api/tags")
        names: list[str] = []
        aliases: dict[str, str] = {}
        for entry in data.get("models", []) if isinstance(data, dict) else []:
            name = entry.get("name") or entry.get("model") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                continue
            names.append(name)
            if name.endswith(":latest"):
                aliases[name.removesuffix(":latest")] = name
        self._aliases = aliases
        return names + [alias for alias in aliases if alias not in names]

    async def loaded_models(self) -> list[str] | None:
        """``/api/ps``: every loaded tag, plus the bare name of a ``:latest`` one."""
        data = await self._request_json("GET", "/api/ps")
        names: list[str] = []
        for entry in data.get("models", []) if isinstance(data, dict) else []:
            name = entry.get("name") or entry.get("model") if isinstance(entry, dict) else None
            if isinstance(name, str):
                names.append(name)
                if name.endswith(":latest"):
                    names.append(name.removesuffix(":latest"))
        return names

    async def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream ``/api/chat`` as ``chat.completion.chunk`` dicts (see ``ollama_replies``)."""
        _only_one(body)
        payload = self._payload(body, **chat_fields(body))
        head = _head("chatcmpl", "chat.completion.chunk", body)
        reply = ReplyTranslator(
            self.name, parallel_tool_calls=body.get("parallel_tool_calls", True)
        )

        def chunk(
            delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
        ) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}
            return {**head, "choices": [choice]}

        async with self._stream("/api/chat", payload, str(body.get("model"))) as resp:
            yield chunk({"role": "assistant", "content": ""})
            async for raw in Lines(resp.content):
                if not raw.strip():
                    continue
                line = self._stream_object(raw, "line")
                logprobs = openai_logprobs(line)
                for delta in reply.deltas(line.get("message") or {}):
                    yield chunk(delta, logprobs=logprobs)
                    logprobs = None
                if logprobs is not None:
                    yield chunk({}, logprobs=logprobs)
                if line.get("done"):
                    reason = FINISH_REASONS.get(line.get("done_reason") or "", "stop")
                    yield chunk({}, "tool_calls" if reply.calls else reason)
                    yield {**head, "choices": [], "usage": _usage(line)}
                    return
        raise UpstreamError(f"backend {self.name!r} ended the stream before finishing")

    async def stream_completion(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream ``/api/generate`` as ``text_completion`` chunk dicts."""
        _only_one(body)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise InvalidRequest(
                "prompt must be one string (token ids and batches are not supported by Ollama)",
                param="prompt",
            )
        payload = self._payload(body, prompt=prompt)
        if isinstance(body.get("suffix"), str):
            payload["suffix"] = body["suffix"]
        else:
            # OpenAI completions continue the text as given; Ollama would wrap it in the
            # chat template. Fill-in-the-middle (suffix) needs that template, so not then;
            # nor when a native request chose (``raw``/``template`` in its extension).
            payload.setdefault("raw", True)
        head = _head("cmpl", "text_completion", body)

        def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
            return {**head, "choices": [choice]}

        async with self._stream("/api/generate", payload, str(body.get("model"))) as resp:
            if body.get("echo"):
                yield chunk(prompt)
            async for raw in Lines(resp.content):
                if not raw.strip():
                    continue
                line = self._stream_object(raw, "line")
                if line.get("response"):
                    yield chunk(line["response"])
                if line.get("done"):
                    yield chunk("", FINISH_REASONS.get(line.get("done_reason") or "", "stop"))
                    yield {**head, "choices": [], "usage": _usage(line)}
                    return
        raise UpstreamError(f"backend {self.name!r} ended the stream before finishing")

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        """``/api/embed`` answered in OpenAI's embeddings shape."""
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise InvalidRequest(
                "input must be a string or a non-empty list of strings "
                "(token ids are not supported by Ollama)",
                param="input",
            )
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise InvalidRequest("encoding_format must be float or base64", param="encoding_format")
        payload = self._payload(body, input=texts)
        del payload["stream"]
        if isinstance(body.get("dimensions"), int):
            payload["dimensions"] = body["dimensions"]
        model = str(body.get("model"))
        data = await self._request_json("POST", "/api/embed", payload, model=model)
        vectors = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            raise UpstreamError(f"backend {self.name!r} answered an unexpected embeddings shape")
        tokens = int(data.get("prompt_eval_count") or 0)
        return embeddings_response(vectors, body.get("model"), tokens, encoding)

    def _payload(self, body: dict[str, Any], **fields: Any) -> dict[str, Any]:
        requested = str(body.get("model") or "")
        if not requested:
            raise InvalidRequest("model is required", param="model")
        model = self._aliases.get(requested, requested)
        defaults = self._model_options.get(requested) or self._model_options.get(model)
        options: dict[str, Any] = {}
        if defaults is not None:
            hardware = defaults.model_dump(include={"num_gpu", "num_thread", "num_ctx"})
            options |= {k: v for k, v in hardware.items() if v is not None}
        own = body.get("options")
        if isinstance(own, dict):
            options |= {k: v for k, v in own.items() if k in REQUEST_OPTIONS}
        options |= {k: body[k] for k in SAMPLING_FIELDS if body.get(k) is not None}
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit is not None:
            options["num_predict"] = limit
        stop = body.get("stop")
        if stop is not None:
            options["stop"] = [stop] if isinstance(stop, str) else stop
        payload: dict[str, Any] = {"model": model, **fields, "stream": True}
        if options:
            payload["options"] = options
        if defaults is not None and defaults.keep_alive is not None:
            payload["keep_alive"] = defaults.keep_alive
        return merge_extension(payload, body)


def _head(prefix: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": body.get("model"),
    }


def _usage(line: dict[str, Any]) -> dict[str, int]:
    prompt = int(line.get("prompt_eval_count") or 0)
    completion = int(line.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
