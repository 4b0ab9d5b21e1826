"""OpenAI chat pieces in Ollama's native shapes (messages, images, tool calls, formats),
and Ollama's tool calls back in OpenAI's.

Images travel only inline (``data:`` URLs): remote URLs are never fetched.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from seadragon.errors import InvalidRequest


def text_and_images(content: Any) -> tuple[str, list[str]]:
    """An OpenAI message content as Ollama text plus base64 images."""
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise InvalidRequest("content must be a string or a list of parts", param="messages")
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            # Remote URLs are never fetched: images must travel inline.
            if not url.startswith("data:") or "," not in url:
                raise InvalidRequest("images must be sent as data: URLs", param="messages")
            images.append(url.split(",", 1)[1])
        else:
            raise InvalidRequest(f"unsupported content part type {kind!r}", param="messages")
    return "\n".join(texts), images


def ollama_message(message: Any) -> dict[str, Any]:
    """One OpenAI chat message as Ollama's (``developer`` becomes ``system``)."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise InvalidRequest("each message needs a role", param="messages")
    text, images = text_and_images(message.get("content"))
    role = "system" if message["role"] == "developer" else message["role"]
    out: dict[str, Any] = {"role": role, "content": text}
    if images:
        out["images"] = images
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        out["tool_calls"] = [ollama_tool_call(call) for call in calls]
    return out


def ollama_tool_call(call: Any) -> dict[str, Any]:
    """An OpenAI tool call as Ollama's: arguments as an object, not a JSON string."""
    function = call.get("function", {}) if isinstance(call, dict) else {}
    arguments = function.get("arguments") or "{}"
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        raise InvalidRequest("tool call arguments must be JSON", param="messages") from None
    return {"function": {"name": function.get("name", ""), "arguments": parsed}}


def openai_tool_calls(calls: list[Any]) -> list[dict[str, Any]]:
    """Ollama's tool calls as an OpenAI delta's, with fresh call ids."""
    out = []
    for index, call in enumerate(calls):
        function = call.get("function", {})
        name, arguments = function.get("name", ""), orjson.dumps(function.get("arguments", {}))
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        function = {"name": name, "arguments": arguments.decode()}
        out.append({"index": index, "id": call_id, "type": "function", "function": function})
    return out


def ollama_format(response_format: Any) -> Any:
    """OpenAI's ``response_format`` as Ollama's ``format`` (``None``: free text)."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequest("json_schema.schema must be an object", param="response_format")
        return schema
    return None
