"""The fake OpenAI server's scripted chat answers: tool calls streamed as OpenAI's deltas
(id and name first, then the arguments in fragments), ``response_format`` and thinking
(sent as ``reasoning``, the name vLLM and Ollama's ``/v1`` use; see ``scripted``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response

from . import FakeServer, Recorded, RecordingStream, json_response, pause
from .scripted import Script, script


def openai_script(body: dict[str, Any]) -> Script | None:
    fmt = body.get("response_format") or {}
    schema: Any = None
    if fmt.get("type") == "json_object":
        schema = "json"
    elif fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
    tools = bool(body.get("tools")) and body.get("tool_choice") != "none"
    return script(body, schema, bool(body.get("reasoning_effort")), tools)


def _deltas(plan: Script) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None}]
    deltas += [{"reasoning": piece} for piece in plan.thinking]
    deltas += [{"content": piece} for piece in plan.content]
    for index, call in enumerate(plan.calls):
        head = {"index": index, "id": f"call_fake{index}", "type": "function"}
        deltas.append({"tool_calls": [head | {"function": {"name": call.name, "arguments": ""}}]})
        third = max(1, len(call.arguments) // 3)
        for i in range(0, len(call.arguments), third):
            piece = {"arguments": call.arguments[i : i + third]}
            deltas.append({"tool_calls": [{"index": index, "function": piece}]})
    return deltas


def scripted_response(
    fake: FakeServer, record: Recorded, body: dict[str, Any], plan: Script
) -> Response:
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk"}
    head |= {"created": int(time.time()), "model": body["model"]}
    finish = "tool_calls" if plan.calls else "stop"
    chunks = [
        {**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
        for d in _deltas(plan)
    ]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    produced = len(chunks) - 2
    usage = {"prompt_tokens": 3, "completion_tokens": produced, "total_tokens": 3 + produced}

    delay = record.service_time  # as configured when the request arrived

    async def produce(disconnected: asyncio.Event) -> AsyncIterator[bytes]:
        if await pause(delay, disconnected):
            return
        for chunk in chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        if (body.get("stream_options") or {}).get("include_usage"):
            yield b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n"
        yield b"data: [DONE]\n\n"

    if body.get("stream"):
        return RecordingStream(produce, "text/event-stream", fake, record)
    fake.finish(record)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(plan.content) or None}
    if plan.thinking:
        message["reasoning"] = "".join(plan.thinking)
    if plan.calls:
        message["tool_calls"] = [
            {
                "id": f"call_fake{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(plan.calls)
        ]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return json_response({**head, "object": "chat.completion", "choices": [choice], "usage": usage})
