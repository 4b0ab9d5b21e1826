"""Ollama's ``/api/chat`` stream lines as OpenAI chunk deltas: content, ``reasoning_content``
(Ollama's ``thinking``), tool calls and log probabilities.

Ollama returns each tool call whole, with its arguments as an object: each becomes one
OpenAI tool-call delta carrying ``index``, ``id``, ``type`` and the whole arguments as a
JSON string, which the OpenAI SDK's stream helpers and LangChain assemble like any other.
A malformed call ends the request with ``UpstreamError``: a caller must never run a tool
on arguments the model did not produce.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from seadragon.errors import UpstreamError


def _call_id(call: dict[str, Any]) -> str:
    given = call.get("id")
    if isinstance(given, str) and 0 < len(given) <= 64:
        return given
    return f"call_{uuid.uuid4().hex[:24]}"


class ReplyTranslator:
    """Stateful: tool-call indexes run on across lines, as OpenAI's do."""

    def __init__(self, backend: str, *, parallel_tool_calls: bool = True) -> None:
        self.backend = backend
        self.parallel = parallel_tool_calls
        self.calls = 0

    def deltas(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The OpenAI deltas one Ollama line's ``message`` carries, in order."""
        out: list[dict[str, Any]] = []
        if message.get("thinking"):
            out.append({"reasoning_content": str(message["thinking"])})
        if message.get("content"):
            out.append({"content": str(message["content"])})
        calls = message.get("tool_calls")
        if calls:
            translated = self.tool_calls(calls)
            if translated:
                out.append({"tool_calls": translated})
        return out

    def tool_calls(self, calls: Any) -> list[dict[str, Any]]:
        if not isinstance(calls, list):
            raise self._malformed("tool_calls is not a list")
        out: list[dict[str, Any]] = []
        for call in calls:
            if not self.parallel and self.calls >= 1:
                break  # the caller asked for one call at a time
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                raise self._malformed("a tool call has no function")
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise self._malformed("a tool call has no function name")
            arguments = function.get("arguments", {})
            if isinstance(arguments, str):
                try:
                    arguments = orjson.loads(arguments)
                except orjson.JSONDecodeError:
                    raise self._malformed(f"the arguments of {name!r} are not JSON") from None
            if not isinstance(arguments, dict):
                raise self._malformed(f"the arguments of {name!r} are not a JSON object")
            assert isinstance(call, dict)
            out.append(
                {
                    "index": self.calls,
                    "id": _call_id(call),
                    "type": "function",
                    "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
                }
            )
            self.calls += 1
        return out

    def _malformed(self, why: str) -> UpstreamError:
        return UpstreamError(f"backend {self.backend!r} returned a malformed tool call: {why}")


def openai_logprobs(line: dict[str, Any]) -> dict[str, Any] | None:
    """Ollama's per-token ``logprobs`` as an OpenAI choice's ``logprobs``."""
    entries = line.get("logprobs")
    if not isinstance(entries, list) or not entries:
        return None
    content = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        tops = entry.get("top_logprobs")
        tops = tops if isinstance(tops, list) else []
        content.append(
            {
                "token": str(entry.get("token", "")),
                "logprob": float(entry.get("logprob", 0.0)),
                "bytes": entry.get("bytes"),
                "top_logprobs": [
                    {
                        "token": str(top.get("token", "")),
                        "logprob": float(top.get("logprob", 0.0)),
                        "bytes": top.get("bytes"),
                    }
                    for top in tops
                    if isinstance(top, dict)
                ],
            }
        )
    return {"content": content}
