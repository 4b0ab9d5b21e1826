"""Native Ollama requests as the OpenAI-shaped job bodies every backend understands.

- ``/api/chat`` becomes a chat job; ``images`` become ``image_url`` parts (``data:`` URLs),
  ``tools``/``tool_calls``/``tool_name`` OpenAI's tools, ``format`` ``response_format``.
- ``/api/generate`` becomes a chat job of one user message (and its ``system``): that is
  what Ollama's template does with a prompt, and it lets an OpenAI-kind backend apply the
  model's own chat template. ``raw``, ``suffix``, ``template`` or ``context`` make it a
  completion job instead (the prompt is continued as given, or templated by Ollama).
- ``options`` map onto OpenAI's sampling fields where one exists; the rest, and
  ``keep_alive``, go in the Ollama extension (``seadragon.ollama_extension``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from seadragon.api.ollama_wire import (
    OLLAMA_ONLY_OPTIONS,
    ChatMessage,
    NativeChat,
    NativeEmbed,
    NativeEmbeddings,
    NativeGenerate,
)
from seadragon.errors import InvalidRequest
from seadragon.ollama_extension import OLLAMA_EXTENSION
from seadragon.queue.base import JobKind

#: Ollama options with a standard OpenAI field of the same meaning.
OPENAI_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}
#: Ollama's reasoning levels as OpenAI's ``reasoning_effort``.
THINK_EFFORT = {True: "medium", "low": "low", "medium": "medium", "high": "high"}
#: The first bytes of the image formats vision models take, as base64.
IMAGE_TYPES = {
    "iVBOR": "image/png",
    "/9j/": "image/jpeg",
    "R0lG": "image/gif",
    "UklG": "image/webp",
}


@dataclass
class Mapped:
    """A job body, the job's kind, and how the answer must look to the caller."""

    kind: JobKind
    body: dict[str, Any]
    answer: Literal["chat", "generate", "embed", "embeddings"]


def _sampling(
    body: dict[str, Any], options: dict[str, Any] | None, keep_alive: Any
) -> dict[str, Any]:
    extension: dict[str, Any] = {}
    ollama_options: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if value is None:
            continue
        if key in OPENAI_FIELDS:
            body[OPENAI_FIELDS[key]] = value
        elif key == "num_predict":
            if value > 0:  # -1 (no limit) and -2 (fill the context) are OpenAI's default
                body["max_tokens"] = value
        elif key == "stop":
            if value:
                body["stop"] = value
        elif key in OLLAMA_ONLY_OPTIONS:
            ollama_options[key] = value
    if ollama_options:
        extension["options"] = ollama_options
    if keep_alive is not None:
        extension["keep_alive"] = keep_alive
    return extension


def data_url(image: str) -> str:
    """A base64 image as a ``data:`` URL, its type read from its first bytes."""
    media = next((t for prefix, t in IMAGE_TYPES.items() if image.startswith(prefix)), None)
    return f"data:{media or 'image/png'};base64,{image}"


def _content(text: str, images: list[str] | None) -> str | list[dict[str, Any]]:
    if not images:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    parts += [{"type": "image_url", "image_url": {"url": data_url(i)}} for i in images]
    return parts


def _messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """OpenAI messages; tool results are matched to the call they answer by tool name."""
    out: list[dict[str, Any]] = []
    unanswered: list[tuple[str, str]] = []  # (call id, tool name), oldest first
    for index, message in enumerate(messages):
        item: dict[str, Any] = {"role": message.role, "content": _content(
            message.content, message.images
        )}  # fmt: skip
        if message.tool_calls:
            calls = []
            for number, call in enumerate(message.tool_calls):
                call_id = f"call_{index}_{number}"
                unanswered.append((call_id, call.function.name))
                arguments = orjson.dumps(call.function.arguments).decode()
                function = {"name": call.function.name, "arguments": arguments}
                calls.append({"id": call_id, "type": "function", "function": function})
            item["tool_calls"] = calls
        if message.role == "tool":
            wanted = message.tool_name
            match = next((c for c in unanswered if wanted in (None, c[1])), None)
            if match is None:
                raise InvalidRequest(
                    "a tool message must follow an assistant message that called the tool",
                    param=f"messages[{index}].tool_name",
                )
            unanswered.remove(match)
            item["tool_call_id"] = match[0]
            if wanted:
                item["name"] = wanted
        out.append(item)
    return out


def _format(body: dict[str, Any], fmt: str | dict[str, Any] | None) -> None:
    if fmt == "json":
        body["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict):
        schema = {"name": "response", "schema": fmt, "strict": True}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}


def _think(body: dict[str, Any], think: bool | str | None) -> None:
    if think is None:
        return
    body["reasoning_effort"] = THINK_EFFORT.get(think, "none")


def chat(request: NativeChat) -> Mapped:
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request.messages)}
    extension = _sampling(body, request.options, request.keep_alive)
    if request.tools:
        body["tools"] = request.tools
    _format(body, request.format)
    _think(body, request.think)
    if extension:
        body[OLLAMA_EXTENSION] = extension
    return Mapped("chat", body, "chat")


def generate(request: NativeGenerate) -> Mapped:
    body: dict[str, Any] = {"model": request.model}
    extension = _sampling(body, request.options, request.keep_alive)
    _format(body, request.format)
    _think(body, request.think)
    templated = request.template is not None or request.context is not None
    if request.raw or request.suffix is not None or templated:
        if request.images:
            raise InvalidRequest(
                "images need the model's template: they cannot go with raw, suffix, "
                "template or context",
                param="images",
            )
        body["prompt"] = request.prompt
        if request.suffix is not None:
            body["suffix"] = request.suffix
        if templated:
            extension |= {"raw": False, "template": request.template, "context": request.context}
            extension["system"] = request.system
        kind: JobKind = "completion"
    else:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": _content(request.prompt, request.images)})
        body["messages"] = messages
        kind = "chat"
    extension = {k: v for k, v in extension.items() if v is not None}
    if extension:
        body[OLLAMA_EXTENSION] = extension
    return Mapped(kind, body, "generate")


def embed(request: NativeEmbed | NativeEmbeddings) -> Mapped:
    if isinstance(request, NativeEmbeddings):
        texts, answer = [request.prompt], "embeddings"
    else:
        texts = [request.input] if isinstance(request.input, str) else request.input
        answer = "embed"
    body: dict[str, Any] = {"model": request.model, "input": texts}
    extension = _sampling({}, request.options, request.keep_alive)
    if isinstance(request, NativeEmbed):
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.truncate is not None:
            extension["truncate"] = request.truncate
    if extension:
        body[OLLAMA_EXTENSION] = extension
    return Mapped("embedding", body, answer)  # type: ignore[arg-type]
