"""The OpenAI shape of an answer: SSE frames for a stream, one body for a whole answer.

Backends name their chunks as they like; the caller sees one ``id``, the model it asked
for and one ``created`` for every chunk of a request, and a non-streamed answer
assembled from the same chunks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from seadragon.queue.base import Job, Position

_ID_PREFIX = {"chat": "chatcmpl-", "completion": "cmpl-"}


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def position_comment(position: Position) -> bytes:
    """An SSE comment line, which OpenAI SDKs ignore, telling the caller where it waits."""
    return f": queue position={position.ahead} eta_s={position.eta_s:.1f}\n\n".encode()


@dataclass
class Answer:
    """Names every chunk of one request's answer alike, and assembles a whole answer."""

    job: Job
    created: int = field(default_factory=lambda: int(time.time()))
    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    #: A whole response a backend sent as is (embeddings).
    result: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return _ID_PREFIX.get(self.job.kind, "") + self.job.id

    def rewrite(self, data: dict[str, Any]) -> dict[str, Any]:
        """A streamed chunk as the caller sees it."""
        data["id"] = self.id
        data["model"] = self.job.model
        data["created"] = self.created
        return data

    def restart(self) -> None:
        """Forget what an attempt lost midway contributed."""
        self.parts, self.finish_reason, self.result = [], None, None

    def add(self, data: dict[str, Any]) -> None:
        for choice in data.get("choices") or ():
            self.parts.append(_piece(choice))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason

    def body(self, prompt_tokens: int | None, completion_tokens: int | None) -> dict[str, Any]:
        """The whole OpenAI response."""
        if self.result is not None:
            self.result["model"] = self.job.model
            return self.result
        prompt = prompt_tokens or 0
        completion = completion_tokens or 0
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        text, finish_reason = "".join(self.parts), self.finish_reason or "stop"
        if self.job.kind == "chat":
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
            obj = "text_completion"
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.job.model,
            "choices": [choice],
            "usage": usage,
        }


def _piece(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return str(delta.get("content") or "")
    return str(choice.get("text") or "")
