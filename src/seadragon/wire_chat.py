"""The parts of an OpenAI chat request beyond plain text: content parts and images, tools
and tool calls, structured-output formats, and the checks that span several fields.

Pydantic checks the shapes; ``check_chat`` then checks what needs the whole request or a
setting (a tool message answers an earlier call, an image fits the size limit, a schema is
a JSON Schema) and raises ``InvalidRequest`` with ``param`` naming the exact field, e.g.
``messages[2].content[1].image_url.url``. Both run before anything is queued.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

import jsonschema
import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from seadragon.errors import InvalidRequest

if TYPE_CHECKING:
    from seadragon.wire import ChatRequest, Message

#: OpenAI's rule for function and schema names.
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_TOOLS = 128
#: ``data:image/png;base64,...``: the only way images reach a backend (remote URLs would
#: let any caller make the gateway connect anywhere).
DATA_URL = re.compile(r"^data:(image/(?:png|jpeg|jpg|gif|webp));base64,", re.IGNORECASE)
PART_TYPES = ("text", "image_url")
BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

Name = Annotated[StrictStr, Field(pattern=NAME_PATTERN)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class FunctionDef(_Shape):
    name: Name
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class Tool(_Shape):
    type: Literal["function"]
    function: FunctionDef


class FunctionName(_Shape):
    name: Name


class NamedToolChoice(_Shape):
    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class FunctionCall(_Shape):
    name: Name
    arguments: StrictStr


class ToolCall(_Shape):
    id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    type: Literal["function"] = "function"
    function: FunctionCall


class JsonSchemaFormat(_Shape):
    name: Name
    description: StrictStr | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None


class ResponseFormat(_Shape):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


@lru_cache(maxsize=1024)
def _schema_problem(encoded: bytes) -> str | None:
    """Why a JSON Schema is not one (``None`` if it is); cached: agents resend their tools."""
    validator = jsonschema.Draft202012Validator
    error = jsonschema.exceptions.best_match(
        validator(validator.META_SCHEMA).iter_errors(orjson.loads(encoded))
    )
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message} (at {where or 'the top level'})"


def check_schema(schema: dict[str, Any], param: str, *, object_only: bool) -> None:
    """A JSON Schema (draft 2020-12), describing an object where ``object_only``."""
    problem = _schema_problem(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    if problem is not None:
        raise InvalidRequest(f"{param} is not a valid JSON Schema: {problem}", param=param)
    kind = schema.get("type")
    if object_only and kind is not None and kind != "object":
        raise InvalidRequest(f"{param} must describe an object (type: object)", param=param)


def _is_base64(text: str) -> bool:
    """Standard base64 with its padding, checked without decoding (decoding a 200 kB image
    costs three times as much): what is left after deleting the alphabet is the padding."""
    if len(text) % 4 or not text.isascii():
        return False
    left = text.encode("ascii").translate(None, BASE64_ALPHABET)
    return left in (b"", b"=", b"==") and text.endswith(left.decode())


def check_image(url: Any, param: str, max_bytes: int) -> None:
    """An inline image: a ``data:`` URL with valid base64 of at most ``max_bytes``."""
    if not isinstance(url, str):
        raise InvalidRequest(f"{param} must be a string", param=param)
    if url.startswith(("http://", "https://")):
        raise InvalidRequest(
            "remote image URLs are not fetched from this host; send the image inline as a "
            "data: URL (data:image/png;base64,...)",
            param=param,
        )
    match = DATA_URL.match(url)
    if match is None:
        raise InvalidRequest(
            f"{param} must be a data: URL of a PNG, JPEG, GIF or WebP image in base64",
            param=param,
        )
    encoded = url[match.end() :]
    # The decoded size, known without decoding; a wrong length fails the base64 check below.
    size = len(encoded) * 3 // 4 - encoded[-2:].count("=")
    if size > max_bytes:
        raise InvalidRequest(
            f"{param}: the image is larger than {max_bytes} bytes",
            param=param,
            code="image_too_large",
        )
    if not _is_base64(encoded):
        raise InvalidRequest(f"{param} is not valid base64", param=param)


def check_content(content: Any, param: str, max_image_bytes: int, *, images: bool) -> None:
    """Content parts: known types only, text as text, images inline (where allowed)."""
    if not isinstance(content, list):
        return  # a string (or None) was checked by pydantic
    if not content:
        raise InvalidRequest(f"{param} must not be an empty list", param=param)
    allowed = PART_TYPES if images else ("text",)
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        kind = part.get("type")
        if kind not in allowed:
            raise InvalidRequest(
                f"{where}.type: unsupported content part type {kind!r} here "
                f"(supported: {', '.join(allowed)})",
                param=f"{where}.type",
            )
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str) or "\x00" in text:
                raise InvalidRequest(
                    f"{where}.text must be a string without NUL characters", param=f"{where}.text"
                )
        else:
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            check_image(url, f"{where}.image_url.url", max_image_bytes)


def _check_message(message: Message, i: int, calls: set[str], max_image_bytes: int) -> None:
    param = f"messages[{i}]"
    check_content(
        message.content, f"{param}.content", max_image_bytes, images=message.role == "user"
    )
    if message.tool_calls is not None and message.role != "assistant":
        raise InvalidRequest(
            "only assistant messages carry tool_calls", param=f"{param}.tool_calls"
        )
    for j, call in enumerate(message.tool_calls or ()):
        try:
            arguments = orjson.loads(call.function.arguments)
        except orjson.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            where = f"{param}.tool_calls[{j}].function.arguments"
            raise InvalidRequest(f"{where} must be a JSON object as a string", param=where)
        calls.add(call.id)
    if message.role == "tool":
        if message.tool_call_id is None:
            where = f"{param}.tool_call_id"
            raise InvalidRequest(f"missing required parameter: {where}", param=where)
        if message.tool_call_id not in calls:
            raise InvalidRequest(
                f"{param}.tool_call_id {message.tool_call_id!r} answers no tool call of an "
                "earlier assistant message",
                param=f"{param}.tool_call_id",
            )


def _check_tools(body: ChatRequest) -> None:
    names: set[str] = set()
    for i, tool in enumerate(body.tools or ()):
        function = tool.function
        if function.name in names:
            where = f"tools[{i}].function.name"
            raise InvalidRequest(f"{where}: two tools are named {function.name!r}", param=where)
        names.add(function.name)
        if function.parameters is not None:
            check_schema(function.parameters, f"tools[{i}].function.parameters", object_only=True)
    choice = body.tool_choice
    if choice in ("required", None, "auto", "none"):
        if choice == "required" and not names:
            raise InvalidRequest("tool_choice 'required' needs tools", param="tool_choice")
        return
    assert isinstance(choice, NamedToolChoice)
    if choice.function.name not in names:
        raise InvalidRequest(
            f"tool_choice names {choice.function.name!r}, which is not one of the tools",
            param="tool_choice.function.name",
        )


def check_chat(body: ChatRequest, max_image_bytes: int) -> None:
    """Everything about a chat request that pydantic alone cannot see."""
    calls: set[str] = set()
    for i, message in enumerate(body.messages):
        _check_message(message, i, calls, max_image_bytes)
    _check_tools(body)
    fmt = body.response_format
    if fmt is not None and fmt.type == "json_schema":
        if fmt.json_schema is None or fmt.json_schema.schema_ is None:
            raise InvalidRequest(
                "response_format json_schema needs json_schema.schema",
                param="response_format.json_schema.schema",
            )
        check_schema(
            fmt.json_schema.schema_, "response_format.json_schema.schema", object_only=False
        )
    if body.top_logprobs is not None and not body.logprobs:
        raise InvalidRequest("top_logprobs needs logprobs: true", param="top_logprobs")


def wire_content(content: Any) -> Any:
    """Content for backends: a string when it is all text, else parts in their order."""
    if not isinstance(content, list):
        return content if content is not None else None
    if all(part.get("type") == "text" for part in content):
        return "".join(part["text"] for part in content)
    out: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "text":
            out.append({"type": "text", "text": part["text"]})
        else:
            image = part["image_url"]
            url = image.get("url") if isinstance(image, dict) else image
            out.append({"type": "image_url", "image_url": {"url": url}})
    return out
