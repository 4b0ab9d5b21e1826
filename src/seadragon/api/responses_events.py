"""Chat answers in the Responses API's shapes: the ``response`` object, and the stream of
typed events (``response.created`` … ``response.completed``) built from chat chunks.

Output items in order of arrival: a ``reasoning`` item for the model's thinking, a
``message`` with one ``output_text`` part, one ``function_call`` per tool call. Every
event carries a ``sequence_number``; each item is announced (``output_item.added``),
filled by deltas and closed (``output_item.done``) with the same id.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from seadragon.wire_responses import ResponsesRequest


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def envelope(request: ResponsesRequest, response_id: str, created: int) -> dict[str, Any]:
    """The ``response`` object's fields that echo the request."""
    fmt = (request.text.format if request.text else None) or {"type": "text"}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "model": request.model,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "metadata": {},
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_output_tokens": request.max_output_tokens,
        "tool_choice": request.tool_choice or "auto",
        "tools": request.tools or [],
        "text": {"format": fmt},
        "reasoning": {"effort": request.reasoning.effort if request.reasoning else None},
        "store": False,
        "background": False,
        "usage": None,
    }


def usage(chat_usage: dict[str, Any] | None) -> dict[str, Any]:
    prompt = int((chat_usage or {}).get("prompt_tokens") or 0)
    completion = int((chat_usage or {}).get("completion_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _finished(response: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    if finish_reason == "length":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    else:
        response["status"] = "completed"
    return response


def response_object(
    request: ResponsesRequest, completion: dict[str, Any], response_id: str
) -> dict[str, Any]:
    """A whole ``chat.completion`` as a ``response``."""
    response = envelope(request, response_id, int(time.time()))
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        output.append(_reasoning_item(_id("rs"), message["reasoning_content"]))
    if message.get("content"):
        output.append(_message_item(_id("msg"), message["content"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        output.append(
            _call_item(
                _id("fc"),
                call.get("id", ""),
                function.get("name", ""),
                function.get("arguments", ""),
            )
        )
    response["output"] = output
    response["usage"] = usage(completion.get("usage"))
    return _finished(response, choice.get("finish_reason"))


def _reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    content = [{"type": "reasoning_text", "text": text}]
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [],
        "content": content,
        "status": "completed",
    }


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [part] if status == "completed" else [],
    }


def _call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


class EventStream:
    """Turns chat chunks into Responses events, as SSE bytes."""

    def __init__(self, request: ResponsesRequest, response_id: str) -> None:
        self.response = envelope(request, response_id, int(time.time()))
        self.sequence = 0
        self.open: dict[str, Any] | None = None  # the item being filled
        self.text = ""
        self.call_index: int | None = None
        self.finish_reason: str | None = None

    def event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return f"event: {kind}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"

    def start(self) -> list[bytes]:
        return [
            self.event("response.created", response=self.response),
            self.event("response.in_progress", response=self.response),
        ]

    def chunk(self, data: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if data.get("usage"):
            self.response["usage"] = usage(data["usage"])
        for choice in data.get("choices") or ():
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out += self._text("reasoning", str(delta["reasoning_content"]))
            if delta.get("content"):
                out += self._text("message", str(delta["content"]))
            for call in delta.get("tool_calls") or ():
                out += self._call(call)
        return out

    def _index(self) -> int:
        return len(self.response["output"])

    def _open(self, item: dict[str, Any]) -> bytes:
        self.open, self.text = item, ""
        return self.event("response.output_item.added", output_index=self._index(), item=item)

    def _text(self, kind: str, piece: str) -> list[bytes]:
        out: list[bytes] = []
        if self.open is None or self.open["type"] != kind:
            out += self.close()
            if kind == "reasoning":
                item = {"type": "reasoning", "id": _id("rs"), "summary": [], "content": []}
                out.append(self._open(item))
            else:
                out.append(self._open(_message_item(_id("msg"), "", "in_progress")))
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                out.append(self.event("response.content_part.added", **self._where(), part=part))
        self.text += piece
        name = (
            "response.reasoning_text.delta" if kind == "reasoning" else "response.output_text.delta"
        )
        extra: dict[str, Any] = {} if kind == "reasoning" else {"logprobs": []}
        out.append(self.event(name, **self._where(), delta=piece, **extra))
        return out

    def _call(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        function = call.get("function") or {}
        index = call.get("index", 0)
        if self.open is None or self.open["type"] != "function_call" or index != self.call_index:
            out += self.close()
            self.call_index = index
            item = _call_item(
                _id("fc"),
                str(call.get("id") or ""),
                str(function.get("name") or ""),
                "",
                "in_progress",
            )
            out.append(self._open(item))
        if function.get("arguments"):
            assert self.open is not None
            self.text += str(function["arguments"])
            where = {"item_id": self.open["id"], "output_index": self._index()}
            out.append(
                self.event(
                    "response.function_call_arguments.delta", **where, delta=function["arguments"]
                )
            )
        return out

    def _where(self) -> dict[str, Any]:
        assert self.open is not None
        return {"item_id": self.open["id"], "output_index": self._index(), "content_index": 0}

    def close(self) -> list[bytes]:
        """Close the open item, if any."""
        item, text = self.open, self.text
        if item is None:
            return []
        out: list[bytes] = []
        where = self._where()
        if item["type"] == "reasoning":
            out.append(self.event("response.reasoning_text.done", **where, text=text))
            done = _reasoning_item(item["id"], text)
        elif item["type"] == "message":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out.append(self.event("response.output_text.done", **where, text=text, logprobs=[]))
            out.append(self.event("response.content_part.done", **where, part=part))
            done = _message_item(item["id"], text)
        else:
            del where["content_index"]
            out.append(
                self.event(
                    "response.function_call_arguments.done",
                    **where,
                    name=item["name"],
                    arguments=text,
                )
            )
            done = _call_item(item["id"], item["call_id"], item["name"], text)
        out.append(self.event("response.output_item.done", output_index=self._index(), item=done))
        self.response["output"].append(done)
        self.open, self.text = None, ""
        return out

    def finish(self) -> list[bytes]:
        out = self.close()
        response = _finished(self.response, self.finish_reason)
        if response["usage"] is None:
            response["usage"] = usage(None)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        out.append(self.event(kind, response=response))
        return out

    def failed(self, error: dict[str, Any]) -> bytes:
        """The error event; its ``error`` member makes the SDK raise ``APIError``."""
        inner = error.get("error") or {}
        return self.event(
            "error",
            code=inner.get("code"),
            message=inner.get("message"),
            param=inner.get("param"),
            error=inner,
        )
