"""The OpenAI Responses API request (``POST /v1/responses``), stateless, as a chat request.

Nothing is stored: ``previous_response_id``, ``conversation``, item references and
background runs are refused with 400. Input items become chat messages (function calls
and their outputs become assistant ``tool_calls`` and ``tool`` messages), ``instructions``
a leading system message, ``text.format`` the ``response_format``, ``reasoning.effort``
the ``reasoning_effort``; the chat request is then validated like any other, and a
problem found there is reported under the Responses field it came from.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from seadragon.errors import InvalidRequest
from seadragon.wire import (
    MAX_TOKENS_LIMIT,
    ChatRequest,
    ModelName,
    Number,
    ReasoningEffort,
    Text,
)

PARTS = {"input_text": "text", "output_text": "text", "input_image": "image_url"}


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Reasoning(_Shape):
    effort: ReasoningEffort | None = None
    summary: StrictStr | None = None


class TextConfig(_Shape):
    format: dict[str, Any] | None = None


class ResponsesRequest(_Shape):
    model: ModelName
    input: Text | Annotated[list[dict[str, Any]], Field(min_length=1, max_length=4096)]
    instructions: Text | None = None
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    stream: StrictBool = False
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    top_p: Annotated[Number, Field(ge=0, le=1)] | None = None
    max_output_tokens: Annotated[StrictInt, Field(ge=1, le=MAX_TOKENS_LIMIT)] | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    user: Annotated[StrictStr, Field(max_length=256)] | None = None
    service_tier: Literal["auto", "default", "flex"] | None = None
    previous_response_id: StrictStr | None = None
    conversation: Any = None
    background: StrictBool | None = None

    def chat(self, max_image_bytes: int) -> ChatRequest:
        """The equivalent chat request, checked; ``InvalidRequest`` names Responses fields."""
        for name in ("previous_response_id", "conversation"):
            if getattr(self, name) is not None:
                raise InvalidRequest(
                    f"{name} is not supported: this gateway stores no responses; "
                    "send the whole conversation in input",
                    param=name,
                )
        if self.background:
            raise InvalidRequest("background responses are not supported", param="background")
        messages, origins = self._messages()
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": self.stream,
            "stream_options": {"include_usage": True} if self.stream else None,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_completion_tokens": self.max_output_tokens,
            "tools": [_tool(t, i) for i, t in enumerate(self.tools or ())] or None,
            "tool_choice": _tool_choice(self.tool_choice),
            "parallel_tool_calls": self.parallel_tool_calls,
            "reasoning_effort": self.reasoning.effort if self.reasoning else None,
            "response_format": _format(self.text.format if self.text else None),
            "user": self.user,
            "service_tier": self.service_tier,
        }
        try:
            try:
                chat = ChatRequest.model_validate({k: v for k, v in body.items() if v is not None})
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                param = _loc_param(first["loc"])
                raise InvalidRequest(f"{param}: {first['msg']}", param=param) from None
            chat.check(max_image_bytes)
        except InvalidRequest as error:
            error.param = _responses_param(error.param, origins)
            error.message = error.message.replace("messages[", "input[")
            raise
        return chat

    def _messages(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Chat messages, and for each the Responses field it came from."""
        messages: list[dict[str, Any]] = []
        origins: list[str] = []
        grouped: set[int] = set()  # input items that are function calls
        if self.instructions:
            messages.append({"role": "system", "content": self.instructions})
            origins.append("instructions")
        if isinstance(self.input, str):
            return [*messages, {"role": "user", "content": self.input}], [*origins, "input"]
        for i, item in enumerate(self.input):
            kind = item.get("type", "message")
            if kind == "message":
                messages.append(_message(item, i))
            elif kind == "function_call":
                call = {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")},
                }
                if i - 1 in grouped:  # consecutive calls are one assistant turn
                    messages[-1]["tool_calls"].append(call)
                    grouped.add(i)
                    continue
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
                grouped.add(i)
            elif kind == "function_call_output":
                output = item.get("output")
                if isinstance(output, list):
                    output = [_part(p, i, j) for j, p in enumerate(output)]
                messages.append(
                    {"role": "tool", "tool_call_id": item.get("call_id"), "content": output}
                )
            elif kind == "reasoning":
                continue  # earlier thinking: the model does not read it back
            else:
                raise InvalidRequest(
                    f"input[{i}].type {kind!r} is not supported by this gateway",
                    param=f"input[{i}].type",
                )
            origins.append(f"input[{i}]")
        return messages, origins


def _part(part: Any, i: int, j: int) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in PARTS:
        raise InvalidRequest(
            f"input[{i}].content[{j}].type {kind!r} is not supported here "
            "(supported: input_text, input_image, output_text)",
            param=f"input[{i}].content[{j}].type",
        )
    assert isinstance(part, dict)
    if PARTS[kind] == "text":
        return {"type": "text", "text": part.get("text")}
    return {"type": "image_url", "image_url": {"url": part.get("image_url")}}


def _message(item: dict[str, Any], i: int) -> dict[str, Any]:
    content = item.get("content")
    if isinstance(content, list):
        content = [_part(p, i, j) for j, p in enumerate(content)]
    return {"role": item.get("role"), "content": content}


def _tool(tool: dict[str, Any], i: int) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise InvalidRequest(
            f"tools[{i}].type {tool.get('type')!r} is not supported: only function tools are",
            param=f"tools[{i}].type",
        )
    keep = ("name", "description", "parameters", "strict")
    return {"type": "function", "function": {k: tool[k] for k in keep if k in tool}}


def _tool_choice(choice: str | dict[str, Any] | None) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if fmt is None or fmt.get("type") != "json_schema":
        return fmt
    keep = ("name", "description", "schema", "strict")
    return {"type": "json_schema", "json_schema": {k: fmt[k] for k in keep if k in fmt}}


def _loc_param(loc: tuple[int | str, ...]) -> str:
    """``("messages", 0, "role")`` → ``"messages[0].role"`` (union branch names left out)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.startswith(
            ("function-", "tagged-union", "literal[", "list[", "str", "dict[")
        ):
            out += ("." if out else "") + part
    return out


def _responses_param(param: str | None, origins: list[str]) -> str | None:
    """``messages[2].content[0].image_url.url`` → ``input[1].content[0].image_url``."""
    if param is None:
        return None
    if param.startswith("messages["):
        index, _, rest = param[len("messages[") :].partition("]")
        origin = origins[int(index)] if index.isdigit() and int(index) < len(origins) else "input"
        rest = rest.replace(".image_url.url", ".image_url").replace(".tool_call_id", ".call_id")
        rest = re.sub(r"^\.tool_calls\[\d+\]\.function", "", rest)
        return origin + rest
    if param.startswith("tools["):
        return param.replace(".function.", ".")
    if param.startswith("response_format"):
        return "text.format" + param.removeprefix("response_format").replace(".json_schema", "")
    if param == "max_completion_tokens":
        return "max_output_tokens"
    return param
