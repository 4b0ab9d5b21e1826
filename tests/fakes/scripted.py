"""What both fakes answer to tools, structured outputs and thinking, decided from the body.

- tools offered (and the last message is not a tool result): the model calls every tool
  whose name appears in the last user message, else the first tool, with arguments made
  from the tool's JSON Schema; model ``bad-tools`` produces arguments that are not JSON;
- the last message is a tool result: the answer is ``tool said <result>``;
- a JSON Schema (Ollama ``format``, OpenAI ``response_format``): an instance of it;
  ``"json"`` / ``json_object``: ``{"answer": "tok0"}``;
- thinking asked for (Ollama ``think``, OpenAI ``reasoning_effort``): ``thinking0
  thinking1 thinking2`` before the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MALFORMED_ARGUMENTS = '{"city": "Paris"'
THINKING = ["thinking0", " thinking1", " thinking2"]


def instance(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """A small valid value for a JSON Schema (enough of the keywords SDKs emit)."""
    if not isinstance(schema, dict):
        return None
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return instance(defs.get(schema["$ref"].rsplit("/", 1)[-1]), defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return instance(schema[key][0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {name: instance(sub, defs) for name, sub in props.items()}
    if kind == "array":
        return [instance(schema.get("items", {}), defs)]
    return {"string": "tok0", "integer": 1, "number": 1.5, "boolean": True}.get(kind)


@dataclass
class Call:
    name: str
    arguments: str  # JSON text, or not (for bad-tools)


@dataclass
class Script:
    """One scripted answer: thinking pieces, content pieces, tool calls."""

    thinking: list[str]
    content: list[str]
    calls: list[Call]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def _pieces(text: str) -> list[str]:
    size = max(1, len(text) // 3)
    return [text[i : i + size] for i in range(0, len(text), size)]


def script(body: dict[str, Any], schema: Any, thinking: bool, tools_offered: bool) -> Script | None:
    """The scripted answer, or None for the plain ``tok0 tok1 …`` one."""
    messages = body.get("messages") or [{}]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    think = list(THINKING) if thinking else []
    if last.get("role") == "tool":
        return Script(think, _pieces(f"tool said {_text(last)}"), [])
    if tools_offered:
        tools = [t.get("function", t) for t in body.get("tools") or []]
        asked = [t for t in tools if t.get("name") and t["name"] in _text(last)]
        calls = []
        for tool in asked or tools[:1]:
            arguments = orjson.dumps(instance(tool.get("parameters") or {})).decode()
            if str(body.get("model", "")).startswith("bad-tools"):
                arguments = MALFORMED_ARGUMENTS
            calls.append(Call(tool["name"], arguments))
        return Script(think, [], calls)
    if schema is not None:
        value = {"answer": "tok0"} if schema == "json" else instance(schema)
        return Script(think, _pieces(orjson.dumps(value).decode()), [])
    if thinking:
        return Script(think, ["tok0", " tok1"], [])
    return None
