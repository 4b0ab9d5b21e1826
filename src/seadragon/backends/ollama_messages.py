"""An OpenAI chat request's fields in Ollama's native ``/api/chat`` shapes: messages (with
images, tool calls and tool results), ``tools``, ``format`` and ``think``.

Images travel only inline (``data:`` URLs, checked at the gateway): nothing is fetched.
A part list becomes one Ollama message per image and per run of text (as Ollama's own
OpenAI layer does), so text and images keep their order.
"""

from __future__ import annotations

from typing import Any

import orjson

from seadragon.errors import InvalidRequest

#: OpenAI's ``reasoning_effort`` as Ollama's ``think`` (gpt-oss reads the levels; other
#: thinking models treat any level as "on").
THINK = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}


def _parts(role: str, content: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = str(part.get("text", ""))
            if out and "images" not in out[-1]:
                out[-1]["content"] += "\n" + text  # a run of text stays one message
            else:
                out.append({"role": role, "content": text})
        elif kind == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            if not url.startswith("data:") or "," not in url:
                raise InvalidRequest("images must be sent as data: URLs", param="messages")
            out.append({"role": role, "content": "", "images": [url.split(",", 1)[1]]})
        else:
            raise InvalidRequest(f"unsupported content part type {kind!r}", param="messages")
    return out


def ollama_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """OpenAI chat messages as Ollama's (``developer`` becomes ``system``)."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for tool results
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest("each message needs a role", param="messages")
        role = "system" if message["role"] == "developer" else message["role"]
        content = message.get("content")
        if isinstance(content, list):
            pieces = _parts(role, content) or [{"role": role, "content": ""}]
        else:
            pieces = [{"role": role, "content": content or ""}]
        last = pieces[-1]
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            last["tool_calls"] = [ollama_tool_call(call, names) for call in calls]
        if isinstance(message.get("reasoning_content"), str):
            last["thinking"] = message["reasoning_content"]
        if role == "tool" and message.get("tool_call_id") in names:
            last["tool_name"] = names[message["tool_call_id"]]
        out.extend(pieces)
    return out


def ollama_tool_call(call: Any, names: dict[str, str]) -> dict[str, Any]:
    """An OpenAI tool call as Ollama's: arguments as an object, not a JSON string."""
    function = call.get("function", {}) if isinstance(call, dict) else {}
    arguments = function.get("arguments") or "{}"
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        raise InvalidRequest("tool call arguments must be JSON", param="messages") from None
    name = str(function.get("name", ""))
    out: dict[str, Any] = {"function": {"name": name, "arguments": parsed}}
    if isinstance(call.get("id"), str):
        names[call["id"]] = name
        out["id"] = call["id"]
    return out


def ollama_tools(body: dict[str, Any]) -> list[Any] | None:
    """The tools to send, honouring ``tool_choice`` (Ollama itself has no such field)."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, list) or not tools or choice == "none":
        return None
    if choice not in (None, "auto"):
        shown = choice if isinstance(choice, str) else "a named function"
        raise InvalidRequest(
            f"tool_choice {shown!r} cannot be honoured by an Ollama backend, which has no way "
            "to force a tool call; send 'auto' or 'none'",
            param="tool_choice",
        )
    return tools


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


def chat_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Every ``/api/chat`` field an OpenAI chat body asks for, except model and options."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    fields: dict[str, Any] = {"messages": ollama_messages(messages)}
    tools = ollama_tools(body)
    if tools is not None:
        fields["tools"] = tools
    fmt = ollama_format(body.get("response_format"))
    if fmt is not None:
        fields["format"] = fmt
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in THINK:
            raise InvalidRequest(f"unknown reasoning_effort {effort!r}", param="reasoning_effort")
        fields["think"] = THINK[effort]
    if body.get("logprobs"):
        fields["logprobs"] = True
        if body.get("top_logprobs"):
            fields["top_logprobs"] = body["top_logprobs"]
    return fields
