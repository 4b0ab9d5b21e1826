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
from fastapi.responses import JSONResponse

from seadragon.api.assembly import Assembly
from seadragon.api.request_ids import public_id
from seadragon.queue.base import Job, Position, Started

_ID_PREFIX = {"chat": "chatcmpl-", "completion": "cmpl-"}


class JsonAnswer(JSONResponse):
    """A JSON answer encoded by orjson (a few times faster than the standard library's
    encoder on the request path)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def position_comment(position: Position) -> bytes:
    """An SSE comment line, which OpenAI SDKs ignore, telling the caller where it waits
    (``state=paused`` while its band is paused by an administrator)."""
    state = " state=paused" if position.paused else ""
    return f": queue position={position.ahead} eta_s={position.eta_s:.1f}{state}\n\n".encode()


def started_comment(started: Started) -> bytes:
    """Which band the request was taken from (after aging); the web chat shows it."""
    return f": started band={started.band}\n\n".encode()


@dataclass
class Answer:
    """Names every chunk of one request's answer alike, and assembles a whole answer."""

    job: Job
    created: int = field(default_factory=lambda: int(time.time()))
    assembly: Assembly = field(default_factory=Assembly)
    #: A whole response a backend sent as is (embeddings).
    result: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return _ID_PREFIX.get(self.job.kind, "") + public_id(self.job.id)

    def rewrite(self, data: dict[str, Any]) -> dict[str, Any]:
        """A streamed chunk as the caller sees it."""
        data["id"] = self.id
        data["model"] = self.job.model
        data["created"] = self.created
        return data

    def restart(self) -> None:
        """Forget what an attempt lost midway contributed."""
        self.assembly, self.result = Assembly(), None

    def add(self, data: dict[str, Any]) -> None:
        for choice in data.get("choices") or ():
            self.assembly.add(choice)

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
        assembly = self.assembly
        finish_reason = assembly.finish_reason or "stop"
        if self.job.kind == "chat":
            choice: dict[str, Any] = {
                "index": 0,
                "message": assembly.message(),
                "finish_reason": finish_reason,
                "logprobs": assembly.choice_logprobs(),
            }
            obj = "chat.completion"
        else:
            text = "".join(assembly.text)
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
