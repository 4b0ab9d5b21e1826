"""The fake Ollama's scripted ``/api/chat`` answers: native tool calls (whole, arguments as
an object), ``format``, ``thinking``, ``logprobs``; images are only recorded (see
``scripted``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response

from . import FakeServer, Recorded, RecordingStream, json_response, pause
from .scripted import MALFORMED_ARGUMENTS, Script, script

CREATED_AT = "2025-01-01T00:00:00.000000Z"


def ollama_script(body: dict[str, Any]) -> Script | None:
    plan = script(body, body.get("format"), bool(body.get("think")), bool(body.get("tools")))
    if plan is None and body.get("logprobs"):
        return Script([], ["tok0", " tok1"], [])
    return plan


def _logprobs(piece: str, top: int) -> list[dict[str, Any]]:
    alternatives = [{"token": f"alt{i}", "logprob": -1.0 - i, "bytes": None} for i in range(top)]
    entry = {"token": piece, "logprob": -0.25, "bytes": list(piece.encode())}
    return [entry | {"top_logprobs": alternatives}]


def _lines(body: dict[str, Any], plan: Script) -> list[dict[str, Any]]:
    def line(**message: Any) -> dict[str, Any]:
        full = {"role": "assistant", "content": "", **message}
        return {"model": body["model"], "created_at": CREATED_AT, "message": full, "done": False}

    lines = [line(thinking=piece) for piece in plan.thinking]
    for piece in plan.content:
        lines.append(line(content=piece))
        if body.get("logprobs"):
            lines[-1]["logprobs"] = _logprobs(piece, int(body.get("top_logprobs") or 0))
    for index, call in enumerate(plan.calls):
        malformed = call.arguments == MALFORMED_ARGUMENTS
        arguments = call.arguments if malformed else orjson.loads(call.arguments)
        function = {"index": index, "name": call.name, "arguments": arguments}
        lines.append(line(tool_calls=[{"function": function}]))
    final = line() | {"done": True, "done_reason": "stop", "total_duration": 1000}
    final |= {"prompt_eval_count": 3, "eval_count": len(lines), "eval_duration": 1000}
    return [*lines, final]


def scripted_response(
    fake: FakeServer, record: Recorded, body: dict[str, Any], plan: Script
) -> Response:
    lines = _lines(body, plan)

    delay = record.service_time  # as configured when the request arrived

    async def produce(disconnected: asyncio.Event) -> AsyncIterator[bytes]:
        if await pause(delay, disconnected):
            return
        for line in lines:
            yield orjson.dumps(line) + b"\n"

    if body.get("stream", True):
        return RecordingStream(produce, "application/x-ndjson", fake, record)
    fake.finish(record)
    final = lines[-1]
    final["message"]["content"] = "".join(line["message"]["content"] for line in lines)
    final["message"]["thinking"] = "".join(line["message"].get("thinking", "") for line in lines)
    calls = [c for line in lines for c in line["message"].get("tool_calls", [])]
    if calls:
        final["message"]["tool_calls"] = calls
    return json_response(final)
